"""One long video in segments (anonfilter.segments) against the single run of the same settings.

The clip is a shared talking-head clip looped three times (24 s, one face in every frame, a
cut at each loop's start, AAC audio), small and at half its frame rate to keep the runs short.
Segments of 5 s put every border inside the face's track. With a lossless encoder (FFV1) the
decoded frames of the joined output must equal the single run's, pixel for pixel.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable

import av
import numpy as np
import pytest

from anonfilter.api import anonymize
from anonfilter.config import Config, IdentityConfig
from anonfilter.errors import AnonfilterError, RunFailure
from anonfilter.segments import anonymize_segmented, engine, process_pool_map, serial_map
from anonfilter.segments.plan import Segment, index_packets, plan_segments, segment_frames, warmup_frames
from anonfilter.segments.stitch import stitch
from anonfilter.segments.task import SegmentStats, TrackResult
from anonfilter.tracking.base import TrackedFace
from anonfilter.types import FaceStatus
from ffmpeg_bridge.encoder import EncoderSettings
from tests.clips import cut, files_in, looped, remux
from tests.data import shared_path

CLIP = "videos/sadtalker_WDA_KatieHill_000.mp4"
SEGMENT_SECONDS = 5.0
LOSSLESS = EncoderSettings(codec="ffv1")
TWO_WORKERS = functools.partial(process_pool_map, workers=2)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The looped clip: 300 frames at 12.5 fps, 160 x 160, a keyframe every 10 frames, with audio."""
    return looped(shared_path(CLIP), tmp_path_factory.mktemp("segments") / "long.mp4", times=3, width=160, keyframe_every=10, step=2)


def decoded(path: Path) -> tuple[list[int], list[np.ndarray]]:
    """The video's frame timestamps and planes (YUV, as decoded)."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [frame.pts for frame in frames], [frame.to_ndarray() for frame in frames]


def other_packets(path: Path) -> list[tuple[str, int, int, bytes]]:
    """Every packet of the streams that are not the video: type, pts, duration, bytes."""
    with av.open(str(path)) as container:
        return [(p.stream.type, p.pts, p.duration, bytes(p)) for p in container.demux() if p.size and p.stream.type != "video"]


def assert_same_frames(segmented: Path, single: Path) -> None:
    """Same frame count, timestamps and pixels, same audio."""
    stamps, images = decoded(segmented)
    single_stamps, single_images = decoded(single)
    assert stamps == single_stamps
    different = [index for index, (a, b) in enumerate(zip(images, single_images)) if not np.array_equal(a, b)]
    assert different == [], f"frames {different[:10]} differ from the single run"
    assert other_packets(segmented) == other_packets(single)


def test_the_plan_starts_segments_at_keyframes_and_warms_up_before_them(clip):
    index = index_packets(clip)
    assert index is not None and index.frames == 300
    assert index.keyframes == tuple(range(0, 300, 10))
    segments = plan_segments(index, segment_frames(SEGMENT_SECONDS, index.frames, 12.5), warmup=30, lookahead=14, detect_every=4)
    assert [segment.start for segment in segments] == [0, 70, 130, 190, 250]
    assert [segment.end for segment in segments] == [70, 130, 190, 250, 300]
    assert [segment.warm_from for segment in segments] == [0, 40, 100, 160, 220]
    assert all(segment.warm_from % 4 == 0 for segment in segments)
    assert [segment.until for segment in segments] == [84, 144, 204, 264, 300]
    assert [index.keyframe_at_or_before(segment.warm_from) for segment in segments] == [0, 40, 100, 160, 220]


def test_the_warm_up_is_the_look_ahead_and_2_s_or_40_detector_runs():
    assert warmup_frames(25.0, lookahead=26, detect_every=1) == 26 + 50
    assert warmup_frames(25.0, lookahead=26, detect_every=4) == 26 + 160


def test_segment_length_auto_and_bad_lengths():
    assert segment_frames("auto", 25 * 3600, 25.0, workers=4) == 25 * 450  # an hour: 8 segments of 7.5 minutes
    assert segment_frames("auto", 25 * 60, 25.0, workers=4) == 25 * 30  # never shorter than 30 s
    for bad in (0, -1.0, "fast", float("nan"), True):
        with pytest.raises(AnonfilterError, match="segment length"):
            segment_frames(bad, 100, 25.0)


def first_one_twice(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """Run the tasks in two worker processes, the first one twice at the same time (a retry of a task thought lost)."""
    return TWO_WORKERS(fn, [items[0], *items])[1:]


def test_blur_in_segments_equals_the_single_run_frame_by_frame(clip, tmp_path):
    config = Config(identity=IdentityConfig(seed=1), encoder=LOSSLESS)
    single = anonymize(clip, tmp_path / "single.mkv", config, audit_report=tmp_path / "single.json")
    report = anonymize_segmented(
        config, clip, tmp_path / "segments.mkv", SEGMENT_SECONDS, first_one_twice, audit_report=tmp_path / "segments.json"
    )
    assert_same_frames(tmp_path / "segments.mkv", tmp_path / "single.mkv")
    assert (report.frames, report.frames_with_faces) == (single.frames, single.frames_with_faces) == (300, 300)
    assert report.config == single.config
    assert report.search == single.search
    assert report.input_damage == single.input_damage
    audit, single_audit = (json.loads((tmp_path / name).read_text()) for name in ("segments.json", "single.json"))
    assert audit["summary"]["frames_with_faces"] == single_audit["summary"]["frames_with_faces"] == 300
    assert audit["run"]["settings"] == single_audit["run"]["settings"]
    covered = sorted(frame for track in audit["tracks"] for first, last, _ in track["segments"] for frame in range(first, last + 1))
    assert covered == list(range(300))  # one face, tracked in every frame, borders included
    assert files_in(tmp_path) == ["segments.html", "segments.json", "segments.mkv", "single.html", "single.json", "single.mkv"]


def test_a_synthetic_face_keeps_one_identity_through_every_border(clip, tmp_path, monkeypatch):
    stitched: list[dict[Any, int]] = []

    def spy(*args: Any) -> dict[Any, int]:
        stitched.append(stitch(*args))
        return stitched[-1]

    monkeypatch.setattr(engine, "stitch", spy)
    config = Config(method="synthetic", identity=IdentityConfig(seed=3), encoder=LOSSLESS)
    anonymize(clip, tmp_path / "single.mkv", config)
    anonymize_segmented(config, clip, tmp_path / "segments.mkv", 7.0, serial_map)  # borders at frames 90, 180, 270
    keys = stitched[0]
    assert {segment for segment, _ in keys} == {0, 1, 2, 3}
    assert len(set(keys.values())) == 1, f"one person got {len(set(keys.values()))} keys"
    assert_same_frames(tmp_path / "segments.mkv", tmp_path / "single.mkv")


def test_the_default_encoder_keeps_the_inputs_timestamps_streams_and_metadata(clip, tmp_path):
    output = tmp_path / "out.mp4"
    anonymize_segmented(Config(), clip, output, SEGMENT_SECONDS, serial_map)
    stamps, _ = decoded(output)
    input_stamps, _ = decoded(clip)
    assert stamps == input_stamps
    assert other_packets(output) == other_packets(clip)
    with av.open(str(output)) as joined, av.open(str(clip)) as source:
        assert [(s.type, s.codec_context.name) for s in joined.streams] == [("video", "h264"), ("audio", "aac")]
        assert (joined.streams.video[0].width, joined.streams.video[0].height) == (160, 160)
        keyframes = [i for i, packet in enumerate(p for p in joined.demux(video=0) if p.size) if packet.is_keyframe]
        assert joined.streams.video[0].time_base == source.streams.video[0].time_base
    assert keyframes[:5] == [0, 70, 130, 190, 250]  # each segment starts with one


def failing_after_first(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """Run the first task, then fail as a lost worker would."""
    fn(items[0])
    raise RunFailure("worker lost")


def test_a_failing_task_leaves_no_output_and_no_temporary_files(clip, tmp_path):
    with pytest.raises(RunFailure, match="worker lost"):
        anonymize_segmented(Config(), clip, tmp_path / "out.mp4", SEGMENT_SECONDS, failing_after_first)
    assert files_in(tmp_path) == []


def test_bad_requests_are_refused_before_any_work(clip, tmp_path):
    (tmp_path / "taken.mp4").write_bytes(b"")
    with pytest.raises(AnonfilterError, match="output exists"):
        anonymize_segmented(Config(), clip, tmp_path / "taken.mp4", SEGMENT_SECONDS)
    with pytest.raises(AnonfilterError, match="segments need a local"):
        anonymize_segmented(Config(), clip, "-", SEGMENT_SECONDS)
    with pytest.raises(AnonfilterError, match="segment length"):
        anonymize_segmented(Config(), clip, tmp_path / "out.mp4", "often")
    assert files_in(tmp_path) == ["taken.mp4"]


def test_a_file_that_makes_one_segment_is_run_in_one_piece(clip, tmp_path):
    notes: list[str] = []
    report = anonymize_segmented(Config(), clip, tmp_path / "out.mkv", 1000, notify=notes.append)
    assert report.frames == 300
    assert any("run in one piece (one segment)" in note for note in notes)
    assert files_in(tmp_path) == ["out.mkv"]


def test_a_cut_off_file_is_reported_as_the_single_run_reports_it_and_strict_writes_nothing(clip, tmp_path):
    damaged = cut(remux(clip, tmp_path / "whole.mkv"), tmp_path / "cut.mkv", 0.6)
    single_notes: list[str] = []
    single = anonymize(damaged, tmp_path / "single.mkv", Config(), notify=single_notes.append)
    notes: list[str] = []
    report = anonymize_segmented(Config(), damaged, tmp_path / "segments.mkv", SEGMENT_SECONDS, notify=notes.append)
    assert report.frames == single.frames < 300
    summary = report.input_damage["summary"]
    assert summary is not None and "the video ends at" in summary
    assert summary == single.input_damage["summary"]
    assert summary in notes and summary in single_notes
    strict = Config(strict=True)
    with pytest.raises(RunFailure, match="the video ends at .*--strict"):
        anonymize_segmented(strict, damaged, tmp_path / "strict.mkv", SEGMENT_SECONDS)
    assert files_in(tmp_path) == ["cut.mkv", "segments.mkv", "single.mkv", "whole.mkv"]


def face(key: int, box: tuple[float, float, float, float]) -> TrackedFace:
    return TrackedFace(0, key, box, 0.9, FaceStatus.DETECTED)


def test_stitching_joins_overlapping_keys_and_returning_people_but_not_people_seen_together():
    first, second = Segment(0, 0, 10, 0, 14), Segment(1, 10, 20, 6, 20)
    left, right, elsewhere = (0.0, 0.0, 10.0, 10.0), (50.0, 0.0, 60.0, 10.0), (100.0, 0.0, 110.0, 10.0)
    person_a, person_b = [np.full(128, 0.1, np.float32)], [np.full(128, -0.1, np.float32)]
    earlier = TrackResult(SegmentStats(0), {i: [face(7, left), face(8, right)] for i in range(0, 14)}, {7: person_a, 8: person_b})
    # in the later segment: 1 continues 7 (same place); 2 is new, at another place, but looks like 8 (who left)
    later_faces = {i: [face(1, left)] for i in range(6, 20)} | {i: [face(1, left), face(2, elsewhere)] for i in range(16, 20)}
    later = TrackResult(SegmentStats(1), later_faces, {1: person_a, 2: person_b})
    keys = stitch([first, second], [earlier, later], 5, 0.55)
    assert keys[0, 7] == keys[1, 1]
    assert keys[0, 8] == keys[1, 2]
    assert keys[0, 7] != keys[0, 8]
