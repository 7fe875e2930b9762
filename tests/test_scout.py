"""The scout: its own recall by face size on real faces pasted at known boxes, and how focused detection uses it."""

from __future__ import annotations

import av
import numpy as np

from anonfilter.detection.focus import FocusedDetection, SearchGeometry
from anonfilter.detection.scout import LARGEST, SMALLEST, Scout, confirm_regions, scout_scales
from anonfilter.types import Detections
from bench.small_faces import GUARANTEED_SIZE, make_clip
from tests.data import shared_path


class ShapeRecorder:
    """A stand-in detector that finds nothing and records the size of every image it is given."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []

    def detect(self, frame: np.ndarray) -> Detections:
        self.shapes.append(frame.shape[:2])
        return Detections.empty()


def holds(crops: list[tuple[int, int, int, int]], box: tuple[int, int, int, int]) -> bool:
    """True when one of ``crops`` holds the whole ``box``."""
    return any(a0 <= box[0] and b0 <= box[1] and a1 >= box[2] and b1 >= box[3] for a0, b0, a1, b1 in crops)


def test_the_scout_runs_at_as_many_scales_as_the_close_search_needs_for_faces_up_to_the_overview_reach():
    for width, height, count in ((1920, 1080, 1), (2560, 1440, 2), (3840, 2160, 2)):
        geometry = SearchGeometry.of(width, height)
        scales = scout_scales(geometry.close_scale, geometry.reach)
        assert len(scales) == count and scales[0] == geometry.close_scale
        assert geometry.reach * scales[-1] <= LARGEST  # the largest face the close search is for
        for larger, smaller in zip(scales, scales[1:]):  # consecutive scales' ranges overlap
            assert SMALLEST / smaller <= LARGEST / larger


def test_a_confirmation_crop_holds_its_candidate_with_context_inside_the_frame():
    candidates = np.array([[100, 100, 120, 120, 0.5], [1900, 1060, 1916, 1076, 0.2]], np.float32)
    crops = confirm_regions(candidates, 1.125, 1920, 1080)
    assert holds(crops[:1], (100, 100, 120, 120)) and holds(crops[1:], (1900, 1060, 1916, 1076))
    for x0, y0, x1, y1 in crops:
        assert 0 <= x0 < x1 <= 1920 and 0 <= y0 < y1 <= 1080
    assert crops[0][2] - crops[0][0] >= 160 / 1.125 - 1


def test_with_the_scout_the_detector_sees_the_overview_and_small_crops_only(tmp_path):
    videos = shared_path("videos/liveportrait_d0.mp4").parent
    clip = make_clip(tmp_path / "clip.mp4", 1920, 1080, 1, 6, seed=5, videos=videos)
    with av.open(str(clip.path)) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="rgb24")
    frame = np.full_like(picture, 128)  # the faces on a plain ground: few false candidates
    for _number, (x0, y0, x1, y1) in clip.truth(0):
        side = x1 - x0
        frame[y0 - side : y1 + side, x0 - side : x1 + side] = picture[y0 - side : y1 + side, x0 - side : x1 + side]
    recorder = ShapeRecorder()
    focus = FocusedDetection(recorder, scout=Scout())
    focus.detect(frame, np.zeros((0, 4)))
    assert focus.passes["sweep"] == 3 and focus.passes["confirm"] >= len(clip.truth(0))  # the first frame is swept
    overview, *crops = recorder.shapes
    assert max(overview) == 640
    assert sum(h * w for h, w in crops) < 0.2 * 1920 * 1080 * 1.125**2  # a fifth of the sweep's pixels at most


def test_the_scout_flags_every_face_of_16_px_and_more_on_a_generated_clip(tmp_path):
    """Recall of the scout alone, by size (bench/scout_recall.py has the full clip and the cost)."""
    videos = shared_path("videos/liveportrait_d0.mp4").parent
    clip = make_clip(tmp_path / "clip.mp4", 1920, 1080, 9, 16, seed=11, videos=videos)
    geometry = SearchGeometry.of(1920, 1080)
    scout = Scout()
    flagged = total = 0
    with av.open(str(clip.path)) as container:
        for index, image in enumerate(container.decode(video=0)):
            if index % 4:
                continue
            frame = image.to_ndarray(format="rgb24")
            candidates = np.concatenate(
                [
                    scout.candidates(frame[y0:y1, x0:x1], geometry.close_scale) + np.float32([x0, y0, x0, y0, 0])
                    for x0, y0, x1, y1 in geometry.sweep(1920, 1080)
                ]
            )
            crops = confirm_regions(candidates, geometry.close_scale, 1920, 1080)
            for _number, box in clip.truth(index):
                if box[2] - box[0] >= GUARANTEED_SIZE:
                    total += 1
                    flagged += holds(crops, box)
    assert total >= 20
    assert flagged == total


def test_the_scout_and_the_search_with_it_are_deterministic(tmp_path):
    """The same frame gives the same candidates and the same faces, run after run and in a new session."""
    videos = shared_path("videos/liveportrait_d0.mp4").parent
    clip = make_clip(tmp_path / "clip.mp4", 1920, 1080, 1, 8, seed=7, videos=videos)
    with av.open(str(clip.path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    first, again = Scout().candidates(frame, 1.125), Scout().candidates(frame, 1.125)
    assert len(first) and np.array_equal(first, again)
    recorders = [ShapeRecorder(), ShapeRecorder()]
    searches = [FocusedDetection(recorder, scout=Scout()) for recorder in recorders]
    for focus in searches:
        focus.detect(frame, np.zeros((0, 4)))
    assert recorders[0].shapes == recorders[1].shapes and searches[0].passes == searches[1].passes
