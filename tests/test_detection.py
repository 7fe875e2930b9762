"""CenterFace: detection scale, tiles, upscaling and the merge of several passes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from anonfilter.detection.centerface import DEFAULT_RESOLUTION, TILE_OVERLAP, CenterFace
from anonfilter.detection.regions import merge
from anonfilter.errors import AnonfilterError
from anonfilter.geometry import tiles_across
from anonfilter.types import Detections

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (test extra) ships the astronaut photo")

ASTRONAUT_FACE = np.array([182, 58, 270, 178], np.float32)
"""The face box CenterFace finds in scikit-image's 512x512 astronaut photo."""


@pytest.fixture(scope="module")
def small_face_frame() -> tuple[np.ndarray, np.ndarray]:
    """A 1920x1080 frame with the astronaut scaled to 96x96 (a face of about 17x23 px) and its face box."""
    side, x, y = 96, 900, 500
    frame = np.full((1080, 1920, 3), 120, np.uint8)
    frame[y : y + side, x : x + side] = cv2.resize(skimage_data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    return frame, ASTRONAUT_FACE * side / 512 + np.array([x, y, x, y], np.float32)


def found(detections: Detections, truth: np.ndarray, min_score: float = 0.5) -> bool:
    """Whether a confident detection has its centre in the true box and about its size."""
    for box, score in zip(detections.boxes, detections.scores):
        centre = (box[:2] + box[2:]) / 2
        size, true_size = max(box[2:] - box[:2]), max(truth[2:] - truth[:2])
        inside = truth[0] <= centre[0] <= truth[2] and truth[1] <= centre[1] <= truth[3]
        if score >= min_score and inside and 0.5 * true_size <= size <= 2 * true_size:
            return True
    return False


@pytest.mark.parametrize("tiles", [2, 3, 4])
@pytest.mark.parametrize("width, height", [(1920, 1080), (641, 359)])
def test_tiles_cover_the_frame_and_overlap(tiles, width, height):
    regions = tiles_across(width, height, tiles, TILE_OVERLAP)
    assert len(regions) == tiles * tiles
    covered = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in regions:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs = sorted({(x0, x1) for x0, _, x1, _ in regions})
    for (_, left_end), (right_start, right_end) in zip(xs, xs[1:]):
        assert left_end - right_start >= 0.2 * (right_end - right_start)  # neighbours overlap by about 25%


def test_merge_keeps_the_best_of_overlapping_boxes_from_several_passes():
    box = np.array([[10, 10, 50, 60]], np.float32)
    landmarks = np.zeros((1, 5, 2), np.float32)
    parts = [
        Detections(box, np.array([0.6], np.float32), landmarks),
        Detections(box + 1, np.array([0.9], np.float32), landmarks),
        Detections(box + 200, np.array([0.4], np.float32), landmarks),
        Detections.empty(),
    ]
    merged = merge(parts)
    assert len(merged) == 2
    assert merged.scores.tolist() == pytest.approx([0.9, 0.4])
    assert len(merge([Detections.empty()])) == 0


def test_the_detection_scale_follows_resolution_and_upscale():
    assert CenterFace(resolution=0).scale_for(1080, 1920) == 1.0
    assert CenterFace(resolution=640).scale_for(1080, 1920) == pytest.approx(1 / 3)
    assert CenterFace(resolution=640, upscale=2).scale_for(1080, 1920) == pytest.approx(2 / 3)
    assert CenterFace().scale_for(2160, 3840) == pytest.approx(DEFAULT_RESOLUTION / 3840)
    assert CenterFace(resolution=640).scale_for(360, 480) == 1.0  # never scaled up without upscale
    assert CenterFace(resolution=640, upscale=2).scale_for(360, 480) == 2.0


def test_a_small_face_needs_tiles_or_upscaling(small_face_frame):
    frame, truth = small_face_frame
    assert not found(CenterFace(resolution=640).detect(frame), truth)
    assert found(CenterFace(resolution=640, tiles=3).detect(frame), truth)
    assert found(CenterFace(resolution=640, upscale=3).detect(frame), truth)


def test_tiled_detections_are_in_frame_coordinates_without_duplicates():
    photo = skimage_data.astronaut()
    whole = CenterFace(resolution=0).detect(photo)
    tiled = CenterFace(resolution=0, tiles=2).detect(photo)
    assert found(whole, ASTRONAUT_FACE) and found(tiled, ASTRONAUT_FACE)
    confident = tiled[tiled.scores >= 0.5]
    assert len(confident) == 1  # the face once, not once per tile
    assert np.abs(confident.boxes[0] - ASTRONAUT_FACE).max() < 12
    assert confident.landmarks is not None and (confident.landmarks[0, :, 0] > ASTRONAUT_FACE[0]).all()


def test_bad_options_are_refused():
    with pytest.raises(AnonfilterError):
        CenterFace(tiles=0)
    with pytest.raises(AnonfilterError):
        CenterFace(upscale=0)
