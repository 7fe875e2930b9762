"""Unit tests of the tracker on synthetic detections: motion model, assignment, gap filling,
extension, live coasting, lookahead, ordering and identity keys (no video, no embeddings)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from anonfilter.assembly import build_tracker
from anonfilter.commands.pipeline_options import add_pipeline_arguments, config_from_args
from anonfilter.errors import AnonfilterError
from anonfilter.identity.keys import IdentityKeys
from anonfilter.identity.registry import Identities
from anonfilter.masks import MaskStyle, face_mask
from anonfilter.testing import make_frame
from anonfilter.tracking.assignment import assign, iou_matrix, match_cost
from anonfilter.tracking.boxes import grow, limit_shrink
from anonfilter.tracking.kalman import BoxKalman
from anonfilter.tracking.perframe import PerFrameTracker
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.tracking.smoothing import smoothing_radius
from anonfilter.tracking.temporal import TemporalTracker
from anonfilter.tracking.track import COASTING, CONFIRMED, ENDED, TENTATIVE, Track
from anonfilter.types import Detections

FRAME = np.zeros((480, 640, 3), np.uint8)


def detections(*faces: tuple[float, float, float, float, float]) -> Detections:
    """Detections from ``(x0, y0, x1, y1, score)`` tuples."""
    if not faces:
        return Detections.empty()
    array = np.array(faces, np.float32)
    return Detections(array[:, :4].copy(), array[:, 4].copy())


def moving_face(index: int, score: float = 0.9, speed: float = 3.0) -> tuple[float, float, float, float, float]:
    """A 60-pixel face moving right by ``speed`` pixels per frame."""
    x = 100 + speed * index
    return (x, 200, x + 60, 260, score)


def tracker(live: bool = False, seed: int = 7, **settings) -> TemporalTracker:
    """A tracker at 25 fps without embeddings."""
    return TemporalTracker(TrackerSettings(**settings), Identities(IdentityKeys(seed)), live=live)


def run(tracker_, frames: list) -> dict[int, list]:
    """Push every frame's detections (or None), flush, and check order and completeness."""
    out = []
    for index, found in enumerate(frames):
        out += tracker_.push(index, FRAME, found)
    out += tracker_.flush()
    assert [index for index, _ in out] == list(range(len(frames)))
    return dict(out)


def covers(faces: list, box: tuple[float, ...], fraction: float = 0.9) -> bool:
    """True when some face's box covers ``fraction`` of ``box``."""
    for face in faces:
        x0, y0 = max(face.box[0], box[0]), max(face.box[1], box[1])
        x1, y1 = min(face.box[2], box[2]), min(face.box[3], box[3])
        if max(0, x1 - x0) * max(0, y1 - y0) >= fraction * (box[2] - box[0]) * (box[3] - box[1]):
            return True
    return False


def test_kalman_follows_constant_velocity():
    kalman = BoxKalman((0, 0, 50, 50))
    for step in range(1, 15):
        kalman.predict()
        kalman.update((5 * step, 0, 5 * step + 50, 50))
    predicted = kalman.predict()
    assert predicted[0] == pytest.approx(75, abs=2)
    assert kalman.velocity[0] == pytest.approx(5, abs=0.5)


def test_assignment_prefers_overlap_and_gates_far_or_differently_sized_boxes():
    tracks = np.array([[0, 0, 50, 50], [200, 200, 250, 250]], np.float64)
    found = np.array([[205, 205, 255, 255], [2, 2, 52, 52], [400, 400, 450, 450], [0, 0, 200, 200]], np.float64)
    pairs, unmatched_tracks, unmatched = assign(match_cost(tracks, found, 0.1, 1.0))
    assert sorted(pairs) == [(0, 1), (1, 0)]
    assert iou_matrix(tracks[:1], found[1:2])[0, 0] == pytest.approx(48 * 48 / (2 * 2500 - 48 * 48))
    assert unmatched_tracks == [] and unmatched == [2, 3]
    # a small face that moved out of its old box is still matched by distance
    pairs, _, _ = assign(match_cost(np.array([[0, 0, 10, 10.0]]), np.array([[11, 0, 21, 10.0]]), 0.1, 1.5))
    assert pairs == [(0, 0)]


def test_box_helpers():
    assert list(grow(np.array([0, 0, 10, 10.0]), 2.0)) == [-5, -5, 15, 15]
    limited = limit_shrink(np.array([0, 0, 100, 100.0]), np.array([40, 40, 60, 60.0]), 5)
    assert list(limited) == [5, 5, 95, 95]
    assert list(limit_shrink(np.array([0, 0, 10, 10.0]), np.array([-5, 0, 20, 10.0]), 1)) == [-5, 0, 20, 10]


def test_track_states():
    track = Track(0, 0, np.array([0, 0, 50, 50.0]), 0.9, None, True)
    assert track.state(0) == TENTATIVE
    track.add_hit(1, np.array([1, 0, 51, 50.0]), 0.9, None, True)
    track.confirm_if(2, 4)
    assert track.state(1) == CONFIRMED and track.state(2) == COASTING
    track.ended = True
    assert track.state(3) == ENDED


def test_low_score_track_needs_more_detections_to_be_confirmed():
    track = Track(0, 0, np.array([0, 0, 50, 50.0]), 0.3, None, False)
    for index in range(1, 4):
        track.confirm_if(2, 4)
        assert not track.confirmed
        track.add_hit(index, np.array([0, 0, 50, 50.0]), 0.3, None, False)
    track.confirm_if(2, 4)
    assert track.confirmed


def test_offline_fills_gaps_and_frames_without_detection():
    frames = [detections(moving_face(i)) for i in range(40)]
    for i in (10, 11, 12, 13):
        frames[i] = Detections.empty()  # detector ran and missed
    for i in range(21, 40, 2):
        frames[i] = None  # detector did not run
    out = run(tracker(), frames)
    for index in range(40):
        assert len(out[index]) == 1, index
        assert covers(out[index], moving_face(index)), index
    assert {out[i][0].status for i in (10, 13, 21, 23)} == {"filled"}
    assert len({face.track_id for faces in out.values() for face in faces}) == 1


def test_low_score_detections_extend_a_confirmed_track():
    frames = [detections(moving_face(i, score=0.9 if i < 10 else 0.3)) for i in range(20)]
    out = run(tracker(), frames)
    assert len({face.track_id for faces in out.values() for face in faces}) == 1
    assert all(out[i][0].status == "detected" for i in range(20))


def test_every_detection_is_anonymized_even_a_lone_low_score_one():
    frames = [Detections.empty()] * 30
    frames[15] = detections((300, 300, 340, 340, 0.25))
    out = run(tracker(), frames)
    assert covers(out[15], (300, 300, 340, 340))


def test_a_new_face_stays_covered_until_the_next_detector_run():
    for live in (True, False):
        frames = [None] * 30
        frames[10] = detections((300, 300, 340, 340, 0.9))  # seen once, then the detector rests
        out = run(tracker(live=live, detect_every=6), frames)
        assert all(covers(out[i], (300, 300, 340, 340)) for i in range(10, 17)), live


def test_offline_extends_confirmed_tracks_before_and_after():
    settings = TrackerSettings()
    before, after = settings.frames(settings.extend_before), settings.frames(settings.extend_after)
    frames = [detections(moving_face(i)) if 30 <= i < 50 else Detections.empty() for i in range(90)]
    out = run(tracker(), frames)
    covered = [i for i in range(90) if out[i]]
    assert covered == list(range(30 - before, 50 + after))
    assert all(face.status == "filled" for i in covered if not 30 <= i < 50 for face in out[i])
    # the box moves on with the face after its last detection, and grows
    last, later = out[49][0].box, out[49 + after][0].box
    assert later[2] - later[0] > last[2] - last[0] and (later[0] + later[2]) > (last[0] + last[2])


def test_scene_cuts():
    from anonfilter.scenes import SceneCuts

    cuts = SceneCuts()
    scene = make_frame(360, 640, seed=1)
    other = make_frame(360, 640, seed=1)[::-1, ::-1].copy()  # the same picture upside down: another shot
    assert cuts.is_cut(scene), "the first frame starts a scene"
    assert not cuts.is_cut(scene)
    assert not cuts.is_cut(np.roll(scene, 40, axis=1)), "a pan is not a cut"
    assert not cuts.is_cut(np.clip(scene.astype(int) + 60, 0, 255).astype(np.uint8)), "nor is a flash"
    assert cuts.is_cut(other)
    assert cuts.is_cut(other[::2, ::2].copy()), "a new frame size starts a scene"


def shots(cut: int, count: int) -> list[np.ndarray]:
    """``count`` frames: one shot, then from frame ``cut`` on another."""
    first = make_frame(480, 640, seed=2)
    second = first[::-1, ::-1].copy()
    return [first if index < cut else second for index in range(count)]


def run_shots(tracker_, frames: list, pictures: list) -> dict[int, list]:
    out = []
    for index, (found, picture) in enumerate(zip(frames, pictures)):
        out += tracker_.push(index, picture, found)
    return dict(out + tracker_.flush())


def test_no_track_runs_across_a_scene_cut():
    """Two people at the same place before and after a cut get two tracks, and neither one's box
    is filled in or extended into the other's shot."""
    box = (200, 200, 260, 260)
    frames = [detections((*box, 0.9)) if index % 2 == 0 else None for index in range(40)]
    out = run_shots(tracker(), frames, shots(20, 40))
    assert all(len(out[index]) == 1 and covers(out[index], box) for index in range(40))
    before, after = {face.track_id for i in range(20) for face in out[i]}, {face.track_id for i in range(20, 40) for face in out[i]}
    assert len(before) == len(after) == 1 and before != after
    keys = {face.identity_key for i in (0, 39) for face in out[i]}
    assert len(keys) == 2, "without re-identification, the person after the cut gets a new key"
    # turned off, one track runs through
    out = run_shots(tracker(scene_cuts=False), frames, shots(20, 40))
    assert len({face.track_id for i in range(40) for face in out[i]}) == 1


def test_a_cut_between_detector_runs_leaves_no_gap():
    """The detector runs on every 4th frame and the cut falls between two runs: the frames after
    the cut and before the next run are covered by the new track reaching back to the cut."""
    box = (200, 200, 260, 260)
    frames = [detections((*box, 0.9)) if index % 4 == 0 else None for index in range(40)]
    out = run_shots(tracker(detect_every=4), frames, shots(10, 40))
    assert all(covers(out[index], box) for index in range(40))
    assert all(len(out[index]) == 1 for index in range(40)), "no box of the first shot is carried into the second"


def test_lookahead_is_bounded():
    settings = TrackerSettings()
    tracker_ = tracker()
    held = []
    for index in range(300):
        finished = tracker_.push(index, FRAME, detections(moving_face(index % 50)))
        held.append(tracker_.held_back)
        assert all(i <= index for i, _ in finished)
    assert max(held) == settings.lookahead
    tracker_.flush()
    assert tracker_.held_back == 0


def test_memory_stays_flat_on_a_long_track():
    tracker_ = tracker()
    for index in range(2000):
        tracker_.push(index, FRAME, detections(moving_face(index % 100, speed=1.0)))
    (track,) = tracker_._tracks.active
    settings = TrackerSettings()
    assert len(track.hits) <= settings.lookahead + 2 + smoothing_radius(settings.smooth * settings.fps)
    assert set(track.smoothed) <= set(track.hits)  # the smoothed hits kept go with their hits


def test_live_returns_each_frame_at_once_and_coasts_with_a_growing_box():
    settings = TrackerSettings()
    coast = settings.frames(settings.coast)
    tracker_ = tracker(live=True)
    sizes = []
    for index in range(60):
        found = detections(moving_face(index)) if index < 20 else Detections.empty()
        (finished,) = tracker_.push(index, FRAME, found)
        assert finished[0] == index
        faces = finished[1]
        if index < 20:
            assert faces and covers(faces, moving_face(index))
        elif index <= 19 + coast:
            (face,) = faces
            assert face.status == "coasting"
            sizes.append(face.box[2] - face.box[0])
            assert covers(faces, moving_face(index), fraction=0.7), index  # predicted motion
        else:
            assert faces == []
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    assert tracker_.flush() == []


def test_mask_never_shrinks_faster_than_a_face_moves():
    settings = TrackerSettings()
    frames = [detections((100, 100, 300, 300, 0.9)) for _ in range(10)] + [detections((180, 180, 220, 220, 0.9))] * 10
    for live in (True, False):
        out = run(tracker(live=live, match_distance=2.0), frames)
        widths = [out[i][0].box[2] - out[i][0].box[0] for i in range(20) if len(out[i]) == 1]
        step = settings.max_shrink_per_second * 200 / settings.fps
        assert all(a - b <= 2 * step + 1e-6 for a, b in zip(widths, widths[1:]))


def test_identity_keys_follow_the_seed():
    frames = [detections(moving_face(i), (400, 50, 460, 110, 0.9)) for i in range(20)]

    def keys(seed):
        out = run(tracker(seed=seed), frames)
        return [face.identity_key for face in out[10]]

    assert keys(1) == keys(1)
    assert keys(1) != keys(2)
    assert len(set(keys(1))) == 2
    assert keys(None) != keys(None)


def test_options_build_the_requested_tracker():
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=False)
    args = parser.parse_args(["--no-reid", "--seed", "3", "--max-gap", "0.5", "--extend", "0.2", "0.3"])
    built = build_tracker(config_from_args(args), 30.0, live=False)
    assert isinstance(built, TemporalTracker)
    assert built.settings.fps == 30.0 and built.settings.max_gap == 0.5 and built.settings.extend_after == 0.3
    assert not built.identities.embeds
    assert isinstance(build_tracker(config_from_args(parser.parse_args(["--tracker", "none"])), 25.0, live=False), PerFrameTracker)
    with pytest.raises(AnonfilterError, match="needs the temporal tracker"):
        config_from_args(parser.parse_args(["--tracker", "none", "--keep", "me.jpg"]))
    live_parser = argparse.ArgumentParser()
    add_pipeline_arguments(live_parser, live=True)
    live = build_tracker(config_from_args(live_parser.parse_args(["--no-reid", "--coast", "1.5"])), 30.0, live=True)
    assert live.live and live.settings.coast == 1.5


def test_a_face_found_late_after_a_cut_where_one_was_before_is_covered_from_the_cut():
    """If the "cut" was a flash and the detector then misses the face for a while, the new track
    reaches back to the cut, as the old one would have been filled in; a face elsewhere does not."""
    box, elsewhere = (200, 200, 260, 260), (450, 100, 510, 160)
    frames = [detections((*box, 0.9)) if index < 10 else None for index in range(40)]
    for index in range(25, 40):
        frames[index] = detections((*box, 0.9), (*elsewhere, 0.9))
    out = run_shots(tracker(), frames, shots(10, 40))
    assert all(covers(out[index], box) for index in range(40))
    before = TrackerSettings().frames(TrackerSettings().extend_before)
    assert not any(covers(out[index], elsewhere) for index in range(10, 25 - before))


def jittery_face(index: int, rng: np.random.Generator, speed: float = 2.0) -> Detections:
    """A 100-pixel face moving right by ``speed`` pixels per frame, with its box and landmarks off
    by up to 3 pixels on each frame, as a detector places them."""
    x = 100 + speed * index
    box = np.array([[x, 150, x + 100, 250]], np.float32) + rng.uniform(-3, 3, (1, 4)).astype(np.float32)
    points = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32) + [x, 150]
    landmarks = (points + rng.uniform(-3, 3, (5, 2))).astype(np.float32)[None]
    return Detections(box, np.array([0.9], np.float32), landmarks)


def test_smoothing_steadies_landmarks_without_lag_and_never_uncovers_a_detection():
    rng = np.random.default_rng(3)
    frames = [jittery_face(index, rng) for index in range(100)]
    smoothed = run(tracker(), frames)
    raw = run(tracker(smooth=0.0), frames)
    true_points = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float32) + [100, 150]

    def jitter(out: dict[int, list]) -> float:
        points = np.stack([out[index][0].landmarks for index in range(10, 90)])
        return float(np.abs(np.diff(points, 2, axis=0)).mean())

    assert jitter(smoothed) < 0.5 * jitter(raw)
    for index in range(10, 90):  # moving steadily: no lag behind the true landmarks
        error = smoothed[index][0].landmarks - (true_points + [2.0 * index, 0])
        assert np.abs(error.mean(0)).max() < 1.5
    for index, found in enumerate(frames):
        (face,) = smoothed[index]
        (unsmoothed,) = raw[index]
        box, detected = np.array(face.box), found.boxes[0]
        assert (box[:2] <= detected[:2] + 1e-4).all() and (box[2:] >= detected[2:] - 1e-4).all()
        assert (box[:2] <= np.array(unsmoothed.box[:2]) + 1e-4).all() and (box[2:] >= np.array(unsmoothed.box[2:]) - 1e-4).all()
        region, alpha = face_mask(face.box, 640, 480, MaskStyle())
        x0, y0, x1, y1 = (int(np.floor(v)) for v in detected)
        assert (alpha[y0 - region.y0 : y1 - region.y0, x0 - region.x0 : x1 - region.x0] >= 1.0).all()


def test_smoothed_boxes_hold_every_unsmoothed_box_through_gaps_and_detector_runs_every_few_frames():
    rng = np.random.default_rng(5)
    frames = [jittery_face(index, rng, speed=4.0) if index % 3 == 0 and not 40 <= index < 55 else None for index in range(90)]
    smoothed = run(tracker(detect_every=3), frames)
    raw = run(tracker(detect_every=3, smooth=0.0), frames)
    for index in range(90):
        assert len(smoothed[index]) == len(raw[index])
        for face, unsmoothed in zip(smoothed[index], raw[index]):
            box, other = np.array(face.box), np.array(unsmoothed.box)
            assert (box[:2] <= other[:2] + 1e-4).all() and (box[2:] >= other[2:] - 1e-4).all()


class _Forgetful(dict):
    """A cache that keeps nothing."""

    def __setitem__(self, key, value) -> None:
        pass


def test_a_smoothed_hit_kept_is_the_one_fitted_afresh(monkeypatch):
    """Each hit's fit is kept while the hits around it stay the same (filled frames ask for the
    hits on both sides of their gap on every frame); what comes out is what fitting it afresh
    every time gives. A gap of 23 frames: the first filled frame is finished before the hits
    after the one that ends the gap are all in, and the next one after one more of them came."""
    rng = np.random.default_rng(5)
    frames = [jittery_face(index, rng) if index < 3 or 26 <= index < 60 else None for index in range(60)]
    kept = run(tracker(), frames)
    started = Track.__init__

    def forgetting(self, *args, **kwargs) -> None:
        started(self, *args, **kwargs)
        self.smoothed = _Forgetful()

    monkeypatch.setattr(Track, "__init__", forgetting)
    afresh = run(tracker(), frames)
    for index in range(60):
        assert [face.box for face in kept[index]] == [face.box for face in afresh[index]]
        assert all(np.array_equal(a.landmarks, b.landmarks) for a, b in zip(kept[index], afresh[index]))
