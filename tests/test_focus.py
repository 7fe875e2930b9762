"""Focused detection: overview, crops around expected small faces, one patrol tile at a time."""

from __future__ import annotations

import argparse

import av
import numpy as np
import pytest

from anonfilter.assembly import build_anonymizer
from anonfilter.commands.pipeline_options import add_pipeline_arguments, config_from_args
from anonfilter.detection.centerface import CenterFace
from anonfilter.detection.focus import (
    CLOSE_UPSCALE,
    CROP_CONTEXT,
    FOCUS_FROM,
    MIN_CROP,
    OVERVIEW,
    SWEEP_TILE,
    FocusedDetection,
    SearchGeometry,
    joined,
    overview_side,
    searched_whole,
)
from anonfilter.geometry import tile_grid, union_area
from anonfilter.plugins import PluginHost
from anonfilter.types import Detections
from tests.data import shared_path


class ShapeRecorder:
    """A stand-in detector that finds nothing and records the size of every image it is given
    (the scheduling is what is tested here; the real detector is used further down)."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []

    def detect(self, frame: np.ndarray) -> Detections:
        self.shapes.append(frame.shape[:2])
        return Detections.empty()


def test_patrol_tiles_cover_a_1080p_frame_with_overlap():
    tiles = tile_grid(1920, 1080, 640, 360, 64)
    assert len(tiles) == 9
    covered = np.zeros((1080, 1920), np.int32)
    for x0, y0, x1, y1 in tiles:
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1
    # Neighbours overlap by at least 64 px, so a face of up to 64 px is whole in some tile.
    assert tiles[1][0] <= tiles[0][2] - 64 and tiles[3][1] <= tiles[0][3] - 64


@pytest.mark.parametrize("size", [(1920, 1080), (3840, 2160), (1280, 720), (2560, 1440)])
def test_sweep_and_patrol_tiles_cover_the_frame_at_its_own_resolution_overlapping_by_the_overview_reach(size):
    width, height = size
    geometry = SearchGeometry.of(width, height)
    assert geometry.native_scale == 1.0 and geometry.close_scale == CLOSE_UPSCALE
    for tiles in (geometry.sweep(width, height), geometry.tiles(width, height)):
        covered = np.zeros((height, width), np.int32)
        for x0, y0, x1, y1 in tiles:
            covered[y0:y1, x0:x1] += 1
            assert max(x1 - x0, y1 - y0) * geometry.close_scale <= SWEEP_TILE  # CenterFace never scales a tile down
        assert covered.min() >= 1
        reach = int(np.ceil(geometry.reach))  # any face up to the reach is whole in some tile
        for (x0, y0, x1, y1), (a0, b0, _a1, _b1) in zip(tiles, tiles[1:]):
            if b0 == y0:
                assert a0 <= x1 - reach


@pytest.mark.parametrize("region", [(100, 50, 3000, 1900), (0, 0, 900, 2160), (500, 500, 800, 700)])
def test_a_large_changed_area_is_searched_in_pieces_the_network_never_scales_down_overlapping_by_the_reach(region):
    geometry = SearchGeometry.of(3840, 2160)
    pieces = geometry.pieces(region)
    x0, y0, x1, y1 = region
    covered = np.zeros((2160, 3840), np.int32)
    for a0, b0, a1, b1 in pieces:
        assert x0 <= a0 < a1 <= x1 and y0 <= b0 < b1 <= y1
        assert max(a1 - a0, b1 - b0) * geometry.close_scale <= SWEEP_TILE  # bounded network input and memory
        covered[b0:b1, a0:a1] += 1
    assert covered[y0:y1, x0:x1].min() >= 1 and covered.sum() == covered[y0:y1, x0:x1].sum()
    reach = int(np.ceil(geometry.reach))
    for (a0, b0, a1, _b1), (c0, d0, _c1, _d1) in zip(pieces, pieces[1:]):
        if d0 == b0:  # neighbours in a row overlap by the reach: every face up to it is whole in one
            assert c0 <= a1 - reach
    assert len(geometry.pieces((500, 500, 800, 700))) == 1


def test_overlapping_crops_are_joined_only_when_that_is_cheaper():
    near = [((0, 0, 160, 160), 1.0), ((40, 40, 200, 200), 1.0)]
    assert joined(near) == [((0, 0, 200, 200), 1.0)]
    touching_corners = [((0, 0, 160, 160), 1.0), ((150, 150, 310, 310), 1.0)]
    assert len(joined(touching_corners)) == 2
    apart = [((0, 0, 160, 160), 1.0), ((500, 500, 660, 660), 1.0)]
    assert joined(apart) == apart


def test_the_union_of_crops_is_their_area_counted_once_and_never_more_than_the_joined_crops():
    assert union_area([]) == 0
    assert union_area([(0, 0, 10, 10), (5, 5, 15, 15)]) == 175
    rng = np.random.default_rng(3)
    crops = [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in rng.integers(1, 300, (40, 4))]
    painted = np.zeros((600, 600), bool)
    for x0, y0, x1, y1 in crops:
        painted[y0:y1, x0:x1] = True
    assert union_area(crops) == painted.sum()  # so a fallback decided on the union is the one the joined crops decide
    assert union_area(crops) <= sum((x1 - x0) * (y1 - y0) for (x0, y0, x1, y1), _scale in joined([(crop, 1.0) for crop in crops]))


class CropRecorder:
    """A stand-in detector that finds nothing and records a fingerprint of every image it is given."""

    def __init__(self) -> None:
        self.crops: list[tuple[int, int, int]] = []

    def detect(self, frame: np.ndarray) -> Detections:
        self.crops.append((*frame.shape[:2], int(frame[..., 0].astype(np.int64).sum())))
        return Detections.empty()


def test_the_patrol_tile_is_a_function_of_the_detector_run_number_not_of_the_runs_before():
    ys, xs = np.mgrid[0:1080, 0:1920]
    frame = np.stack([(xs * 7 + ys * 3) % 256] * 3, axis=-1).astype(np.uint8)  # every tile looks different
    tiles = len(SearchGeometry.of(1920, 1080).tiles(1920, 1080))
    whole, segment = CropRecorder(), CropRecorder()
    whole_focus, segment_focus = FocusedDetection(whole), FocusedDetection(segment)
    for run in range(12):  # a video from its start
        whole_focus.detect(frame, np.zeros((0, 4)), patrol_round=run)
    for run in range(7, 12):  # a segment of it, whose first run is number 7 (it sweeps: everything is new to it)
        segment_focus.detect(frame, np.zeros((0, 4)), patrol_round=run)
    assert tiles == 9
    assert whole.crops[-2 * 4 :] == segment.crops[-2 * 4 :]  # the last four runs: overview and the same tile each


def test_first_frame_is_swept_then_only_changed_areas_and_one_patrol_tile():
    recorder = ShapeRecorder()
    focus = FocusedDetection(recorder)
    frame = np.full((1080, 1920, 3), 100, np.uint8)
    focus.detect(frame, np.zeros((0, 4)))
    assert focus.passes == {"whole": 0, "overview": 1, "change": 0, "sweep": 3, "tile": 0, "crop": 0, "confirm": 0, "fallback": 0}
    assert recorder.shapes == [(360, 640)] + [(1215, 774)] * 3  # the overview, three strips at 1.125x
    assert focus.pixels == {**dict.fromkeys(focus.passes, 0), "overview": 360 * 640, "sweep": 3 * 1215 * 774}  # what the network saw
    focus.detect(frame, np.zeros((0, 4)))
    assert focus.passes["tile"] == 1 and focus.passes["change"] == 0  # nothing changed: the patrol only
    assert focus.passes["overview"] == 2 and recorder.shapes[4] == (360, 640)  # and the overview
    frame[500:516, 900:916] = 200  # a 16 px "face" appears
    recorder.shapes.clear()
    focus.detect(frame, np.zeros((0, 4)))
    assert focus.passes["change"] == 1
    side = (16 + 2 * 72) * CLOSE_UPSCALE  # at least the change grown by the overview's reach on each side, at 1.125x
    assert any(side <= h <= 220 and side <= w <= 220 for h, w in recorder.shapes)
    focus.detect(frame, np.zeros((0, 4)))
    assert focus.passes["change"] == 1  # searched once: the new picture is the reference now
    frame[:] = 200  # a scene cut: the whole frame again
    focus.detect(frame, np.zeros((0, 4)))
    assert focus.passes["sweep"] == 6


@pytest.mark.parametrize(
    "size, overview, reach",
    [((1280, 720), 640, 48), ((1920, 1080), 640, 72), ((2560, 1440), 640, 96), ((3840, 2160), 960, 96), ((1080, 1920), 640, 72)],
)
def test_the_overview_is_640_px_or_a_quarter_of_the_frame_so_its_reach_is_never_more_than_96_px(size, overview, reach):
    width, height = size
    geometry = SearchGeometry.of(width, height)
    assert overview_side(max(size)) == overview and geometry.overview_scale == overview / max(size)
    assert geometry.reach == reach  # the margin of every changed area and the overlap of tiles and pieces
    # Which frames are searched whole depends on the frame alone, as before the overview grew with it.
    assert searched_whole(width, height) == (max(size) <= FOCUS_FROM * OVERVIEW) == (max(size) <= 960)


def test_at_4k_the_overview_is_960_px_and_a_change_is_grown_by_its_96_px_reach():
    recorder = ShapeRecorder()
    focus = FocusedDetection(recorder)
    frame = np.full((2160, 3840, 3), 100, np.uint8)
    focus.detect(frame, np.zeros((0, 4)), patrol_round=0)
    assert recorder.shapes[0] == (540, 960) and focus.passes["sweep"] == 12
    frame[1000:1016, 1800:1816] = 200  # a 16 px "face" appears
    recorder.shapes.clear()
    focus.detect(frame, np.zeros((0, 4)), patrol_round=1)
    assert recorder.shapes[0] == (540, 960) and focus.passes["change"] == 1
    side = (16 + 2 * 96) * CLOSE_UPSCALE  # the change grown by the reach on each side, at 1.125x
    changed = recorder.shapes[1]
    assert side <= min(changed) and max(changed) <= (16 + 2 * 96 + 2 * 8) * CLOSE_UPSCALE  # 8: the change map's 4K pixel and blur
    assert focus.pixels["change"] == changed[0] * changed[1]


def test_small_expected_faces_get_a_crop_and_large_ones_do_not():
    recorder = ShapeRecorder()
    focus = FocusedDetection(recorder)
    frame = np.full((1080, 1920, 3), 100, np.uint8)
    focus.detect(frame, np.zeros((0, 4)))
    recorder.shapes.clear()
    expected = np.array([[1000, 500, 1020, 524], [100, 100, 300, 340]], np.float64)  # 24 px and 240 px
    focus.detect(frame, expected)
    assert focus.passes["crop"] == 1
    side = max(CROP_CONTEXT * 24, MIN_CROP)  # the small face's crop, at full resolution
    assert (side, side) in recorder.shapes


def test_a_small_frame_is_searched_whole():
    recorder = ShapeRecorder()
    focus = FocusedDetection(recorder)
    focus.detect(np.zeros((360, 640, 3), np.uint8), np.zeros((0, 4)))
    assert recorder.shapes == [(360, 640)] and focus.passes["whole"] == 1


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_tracked_small_faces_are_found_as_the_full_resolution_pass_finds_them():
    """On real 1080p frames: every face of under 72 px that CenterFace finds at score 0.3 on the
    whole full-resolution frame is found again when the tracker expects it there (its crop; one
    patrol tile per call after the first)."""
    path = shared_path("videos/facenet_pytorch_video.mp4")
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for index, frame in zip(range(31), container.decode(video=0)) if index % 15 == 0]
    reference = CenterFace(threshold=0.3, precision="fp32")
    focus = FocusedDetection(CenterFace())
    focus.detect(frames[0], np.zeros((0, 4)))  # the first call searches every tile
    missed, small = 0, 0
    for frame in frames:
        truth = reference.detect(frame)
        sizes = np.max(truth.boxes[:, 2:] - truth.boxes[:, :2], axis=1)
        expected = truth.boxes[sizes < 72]
        small += len(expected)
        found = focus.detect(frame, expected)
        missed += sum(not any(iou(box, other) > 0.3 for other in found.boxes) for box in expected)
    assert small >= 10
    assert missed == 0


@pytest.mark.parametrize(
    ("live", "method", "focused"), [(False, "blur", True), (False, "pixelate", True), (False, "synthetic", False), (True, "blur", False)]
)
def test_files_blurred_use_focused_detection_faces_aligned_or_live_the_whole_frame(live, method, focused):
    """Methods that align faces on landmarks (the synthetic ones) get the precise whole-frame search:
    on the facenet clip, synthetic faces scored faceness 0.725, de-identification 0.80 with focused
    detection, 0.95 and 0.90 with the whole frame (`anonfilter evaluate`)."""
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=live)
    anonymizer = build_anonymizer(config_from_args(parser.parse_args(["-m", method])), PluginHost(), 25.0, live=live)
    assert (anonymizer.focus is not None) == focused
    forced = build_anonymizer(config_from_args(parser.parse_args(["-m", method, "--detection", "focused"])), PluginHost(), 25.0, live=live)
    assert forced.focus is not None


@pytest.mark.parametrize(
    ("live", "method", "options", "precision"),
    [
        (False, "blur", [], "int8"),
        (True, "blur", [], "int8"),
        (False, "synthetic", [], "fp32"),
        (True, "synthetic", [], "fp32"),
        (False, "synthetic", ["-D", "precision=int8"], "int8"),
    ],
)
def test_methods_that_align_faces_get_the_full_precision_detector(live, method, options, precision):
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=live)
    anonymizer = build_anonymizer(config_from_args(parser.parse_args(["-m", method, *options])), PluginHost(), 25.0, live=live)
    assert anonymizer.detector.precision == precision


@pytest.mark.parametrize(
    ("live", "frame_size", "options", "threads"),
    [(False, (1920, 1080), [], 2), (False, (1920, 1080), ["-D", "threads=1"], 1), (False, (960, 540), [], 2), (True, (1920, 1080), [], 2)],
)
def test_the_detector_gets_two_onnxruntime_threads_unless_told_otherwise(live, frame_size, options, threads, monkeypatch):
    """Two threads also for focused detection in a thread of its own on 2 cores: it searches every
    changed area closely and is the slowest stage (docs/benchmark.md)."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=live)
    anonymizer = build_anonymizer(config_from_args(parser.parse_args(options)), PluginHost(), 25.0, live=live, frame_size=frame_size)
    assert anonymizer.detector.threads == threads


@pytest.mark.parametrize(("method", "embeds"), [("blur", False), ("synthetic", True)])
def test_methods_that_ignore_identity_keys_skip_reidentification(method, embeds):
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=False)
    anonymizer = build_anonymizer(config_from_args(parser.parse_args(["-m", method])), PluginHost(), 25.0, live=False)
    assert anonymizer.tracker.identities.embeds == embeds


@pytest.mark.parametrize(
    ("size", "focused", "every"),
    [
        ((1920, 1080), True, 4),
        ((1280, 720), True, 4),
        ((1920, 1080), False, 4),
        ((960, 540), True, 1),
        ((960, 366), False, 1),
        ((640, 360), True, 1),
        ((512, 512), True, 1),
    ],
)
def test_small_frames_are_searched_on_every_frame_by_default(size, focused, every):
    parser = argparse.ArgumentParser()
    add_pipeline_arguments(parser, live=False)
    options = [] if focused else ["--detection", "whole"]
    anonymizer = build_anonymizer(config_from_args(parser.parse_args(options)), PluginHost(), 25.0, live=False, frame_size=size)
    assert anonymizer.detect_every == every
    assert anonymizer.tracker.settings.detect_every == every
    explicit = build_anonymizer(
        config_from_args(parser.parse_args([*options, "--detect-every", "3"])), PluginHost(), 25.0, live=False, frame_size=size
    )
    assert explicit.detect_every == 3
