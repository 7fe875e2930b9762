"""The tracker on real clips from ../shared/data/videos: gaps filled, no leak where detection
misses, identity kept through an absence, keep-list honoured, crowd output complete and in order.

Each clip's per-frame CenterFace detections are computed once per test session (a few seconds of
video each); the tests then drop detections on purpose and run the tracker on what is left.
"""

from __future__ import annotations

import functools
import time

import av
import cv2
import numpy as np
import pytest

from anonfilter.assembly import photo_detector
from anonfilter.detection.centerface import CenterFace
from anonfilter.errors import AnonfilterError
from anonfilter.identity.embedder import FaceEmbedder
from anonfilter.identity.keeplist import KeepList
from anonfilter.identity.keys import IdentityKeys
from anonfilter.identity.registry import Identities
from anonfilter.identity.worker import EmbeddingWorker
from anonfilter.masks import MaskStyle
from anonfilter.pipeline import Anonymizer
from anonfilter.plugins import PluginHost
from anonfilter.tracking.boxes import grow
from anonfilter.tracking.perframe import PerFrameTracker
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.tracking.temporal import TemporalTracker
from anonfilter.types import Detections, FrameInfo
from tests.data import shared_path

MAKEUP = "videos/mmaction2_test_makeup_occlusion.avi"
FACENET = "videos/facenet_pytorch_video.mp4"
CROWD = "videos/dlib_MOT20-08-raw_shorter.remux.mp4"


FRAMES = {MAKEUP: 100, FACENET: 40, CROWD: 16}
"""How much of each clip the tests use (decoded and detected once)."""
RESOLUTION = {FACENET: 640}
"""Detection resolution per clip (default: full size)."""


@functools.lru_cache(maxsize=None)
def _clip(relative: str) -> tuple[list[np.ndarray], list[Detections]]:
    count = FRAMES[relative]
    frames = []
    with av.open(str(shared_path(relative))) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                break
    detector = CenterFace(resolution=RESOLUTION.get(relative, 0))
    return frames, [detector.detect(frame) for frame in frames]


def clip(relative: str, count: int) -> tuple[list[np.ndarray], list[Detections]]:
    """The first ``count`` RGB frames of a shared clip and their CenterFace detections (cached)."""
    shared_path(relative)  # skips when the data is absent
    frames, found = _clip(relative)
    return frames[:count], found[:count]


@functools.lru_cache(maxsize=None)
def embedder() -> FaceEmbedder:
    """One dlib embedder for the whole session."""
    return FaceEmbedder()


def track(frames, found, embed: bool = False, keep: KeepList = KeepList(), live: bool = False, tracker=None):
    """Run a tracker (temporal unless given) on frames and detections; returns ``{index: faces}``."""
    if tracker is None:
        identities = Identities(IdentityKeys(5), embedder() if embed or keep else None, keep)
        tracker = TemporalTracker(TrackerSettings(), identities, live=live)
    out = []
    for index, (frame, detections) in enumerate(zip(frames, found)):
        out += tracker.push(index, frame, detections)
    out += tracker.flush()
    assert [index for index, _ in out] == list(range(len(frames)))
    return dict(out)


def covered(faces, box, fraction: float = 0.9) -> bool:
    """True when the mask of one of ``faces`` (its box with the default mask margin) covers ``fraction`` of ``box``."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    for face in faces:
        mask = grow(np.array(face.box), 1 + 2 * MaskStyle().margin)
        width = min(mask[2], box[2]) - max(mask[0], box[0])
        height = min(mask[3], box[3]) - max(mask[1], box[1])
        if max(width, 0) * max(height, 0) >= fraction * area:
            return True
    return False


def leaks(out, reference, min_score: float = 0.5) -> list[tuple[int, int]]:
    """``(frame, face)`` pairs of reference faces (at ``min_score``) that no output face covers."""
    return [
        (index, i)
        for index, detections in enumerate(reference)
        for i in np.flatnonzero(detections.scores >= min_score)
        if not covered(out[index], detections.boxes[i])
    ]


def test_gap_in_detections_is_filled_on_makeup_occlusion():
    frames, found = clip(MAKEUP, 75)
    damaged = list(found)
    for index in range(30, 38):
        damaged[index] = Detections.empty()  # the detector missed the face
    for index in range(45, 75, 3):
        damaged[index] = None  # the detector did not run
    out = track(frames, damaged)
    assert leaks(out, found) == []
    assert {face.status for index in range(30, 38) for face in out[index]} == {"filled"}
    assert len({face.track_id for faces in out.values() for face in faces}) == 1


def test_no_leak_where_per_frame_detection_misses_on_facenet():
    frames, found = clip(FACENET, 40)
    rng = np.random.default_rng(0)
    damaged = [d[rng.random(len(d)) > 0.25] for d in found]  # a quarter of the faces missed
    damaged = [None if index % 2 else d for index, d in enumerate(damaged)]  # detector on every other frame
    baseline = leaks(track(frames, damaged, tracker=PerFrameTracker()), found)
    assert len(baseline) > 20, "the damage should make a per-frame tool leak"
    assert leaks(track(frames, damaged), found) == []


def test_identity_comes_back_after_a_long_absence():
    frames, found = clip(MAKEUP, 100)
    damaged = list(found)
    for index in range(20, 80):  # gone for longer than max_gap: the track ends
        damaged[index] = Detections.empty()
    for embed in (True, False):
        out = track(frames, damaged, embed=embed)
        (before,) = out[10]
        (after,) = out[95]
        assert before.track_id != after.track_id
        assert (before.identity_key == after.identity_key) is embed


def test_nobody_is_embedded_while_nobody_could_be_reidentified():
    frames, found = clip(MAKEUP, 60)
    calls = embedder().calls
    out = track(frames, found, embed=True)
    assert len({face.identity_key for faces in out.values() for face in faces}) == 1
    assert embedder().calls == calls


def test_identity_comes_back_in_live_mode():
    frames, found = clip(MAKEUP, 100)
    damaged = [d if not 20 <= index < 80 else Detections.empty() for index, d in enumerate(found)]
    out = track(frames, damaged, embed=True, live=True)
    (before,) = out[10]
    (after,) = out[95]
    assert before.track_id != after.track_id and before.identity_key == after.identity_key


def test_live_embeds_in_the_background_and_still_reidentifies():
    frames, found = clip(MAKEUP, 100)
    damaged = [d if not 20 <= index < 80 else Detections.empty() for index, d in enumerate(found)]
    tracker = TemporalTracker(TrackerSettings(), Identities(IdentityKeys(5), embedder()), live=True, worker=EmbeddingWorker())
    out = {}
    for index, (frame, detections) in enumerate(zip(frames, damaged)):
        started = time.perf_counter()
        ((done, faces),) = tracker.push(index, frame, detections)
        assert time.perf_counter() - started < 0.08, "a live frame waited for an embedding (0.1-0.3 s)"
        out[done] = faces
        time.sleep(0.04)  # frames arrive in real time (25 fps)
    tracker.flush()
    (before,) = out[10]
    (after,) = out[99]
    assert before.track_id != after.track_id and before.identity_key == after.identity_key


def test_live_coasts_over_missed_frames_on_a_real_face():
    frames, found = clip(MAKEUP, 60)
    damaged = [d if not 30 <= index < 40 else Detections.empty() for index, d in enumerate(found)]
    out = track(frames, damaged, live=True)
    assert leaks(out, found) == []
    assert {face.status for index in range(30, 40) for face in out[index]} == {"coasting"}


def keep_photo(tmp_path, frame: np.ndarray, box: np.ndarray) -> str:
    """A photo of one person: the face in ``box`` cropped from ``frame`` with some margin."""
    x0, y0, x1, y1 = box.astype(int)
    margin = (x1 - x0) // 2
    crop = frame[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin]
    path = tmp_path / "keep.png"
    cv2.imwrite(str(path), np.ascontiguousarray(crop[:, :, ::-1]))
    return str(path)


def test_keep_list_keeps_only_that_person(tmp_path):
    frames, found = clip(FACENET, 40)
    first = found[0]
    person = int(np.argmax((first.boxes[:, 2] - first.boxes[:, 0]) * (first.scores >= 0.5)))
    photo = keep_photo(tmp_path, frames[0], first.boxes[person])
    keep = KeepList.from_photos([photo], embedder(), photo_detector(PluginHost()))
    out = track(frames, found, keep=keep)
    kept_tracks = {face.track_id for faces in out.values() for face in faces if face.keep}
    assert len(kept_tracks) == 1
    (kept_track,) = kept_tracks
    start = [face for face in out[0] if covered([face], first.boxes[person])]
    assert start and start[0].track_id == kept_track
    kept_frames = [index for index, faces in out.items() for face in faces if face.keep]
    assert len(kept_frames) >= 10


def test_keep_photo_must_show_exactly_one_face(tmp_path):
    frames, _ = clip(FACENET, 1)
    crowd = tmp_path / "group.png"
    cv2.imwrite(str(crowd), np.ascontiguousarray(frames[0][:, :, ::-1]))
    with pytest.raises(AnonfilterError, match="faces found in keep photo"):
        KeepList.from_photos([str(crowd)], embedder(), photo_detector(PluginHost()))
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    with pytest.raises(AnonfilterError, match="no face found"):
        KeepList.from_photos([str(blank)], embedder(), photo_detector(PluginHost()))
    with pytest.raises(AnonfilterError, match="not found"):
        KeepList.from_photos([str(tmp_path / "missing.jpg")], embedder(), photo_detector(PluginHost()))


def test_crowd_every_frame_returned_in_order_and_covered():
    frames, found = clip(CROWD, 16)
    damaged = [None if index % 2 else d for index, d in enumerate(found)]
    out = track(frames, damaged)
    assert sorted(out) == list(range(16))
    assert leaks(out, found, min_score=0.35) == []
    assert sum(len(faces) for faces in out.values()) >= sum(len(d) for d in found) * 0.8


class CachedDetector:
    """Hands the pipeline the session's cached detections of a clip, frame by frame."""

    def __init__(self, found: list[Detections]) -> None:
        self.found = iter(found)
        self.calls = 0

    def detect(self, frame: np.ndarray) -> Detections:
        self.calls += 1
        return next(self.found)


def test_pipeline_with_the_tracker_blurs_every_frame_of_a_real_clip():
    frames, found = clip(MAKEUP, 40)
    detector = CachedDetector(found[::2] + [found[-1]])  # the pipeline detects on every other frame and the last
    method = PluginHost().create_method("blur")
    anonymizer = Anonymizer(detector, TemporalTracker(TrackerSettings(), Identities(IdentityKeys(1))), method, "blur", detect_every=2)
    height, width = frames[0].shape[:2]
    out = []
    for index, frame in enumerate(frames):
        out += anonymizer.push(frame.copy(), FrameInfo(index, index / 25, width, height))
    out += anonymizer.flush()
    assert [done.info.index for done in out] == list(range(40)) and detector.calls == 21
    for (result, info, _), original, detections in zip(out, frames, found):
        x0, y0, x1, y1 = detections.boxes[0].astype(int)
        assert not np.array_equal(result[y0:y1, x0:x1], original[y0:y1, x0:x1]), info.index
