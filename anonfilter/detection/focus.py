"""Focused detection: the detector runs at the resolution each part of the frame needs.

A whole 1080p frame at full resolution costs CenterFace about 0.6 CPU seconds, but only small
faces need full resolution, and they rarely appear out of nowhere. So each detector run searches:

* **the overview**: the whole frame scaled to :data:`OVERVIEW` pixels on its longer side. It
  finds faces from about 40 px (at 1080p) and costs about a ninth of the full pass;
* **one patrol tile**: the frame at full resolution is cut into overlapping tiles of about
  :data:`PATROL_TILE` pixels (3 x 3 for 1080p), and one tile in turn is searched each time, so a
  small face that appears where no track is is found within one round (9 detector runs). Every
  tile is searched on the first frame and after a scene cut;
* **the tracked small faces**: for each face the tracker expects (its active tracks) that is too
  small for the overview and that neither the overview nor the tile found, a crop around it,
  scaled so the face is about :data:`CROP_FACE` pixels as the network sees it (never scaled
  up); crops that overlap are searched as one. A few milliseconds per face.

The results are merged with non-maximum suppression. A frame no larger than
:data:`FOCUS_FROM` times the overview is simply searched whole. On the 1080p facenet clip the
detector costs about 4.7 CPU seconds this way against about 16 at full resolution
(docs/benchmark.md).
"""

from __future__ import annotations

import math

import numpy as np

from anonfilter.detection.regions import Rect, detect_in_region, merge, resize, scaled
from anonfilter.hookspecs import Detector
from anonfilter.scenes import SceneCuts
from anonfilter.tracking.assignment import iou_matrix
from anonfilter.types import Detections, Frame

OVERVIEW = 640
"""Longer side, in pixels, of the whole-frame overview pass."""
PATROL_TILE = 640
"""Longer side, in full-resolution pixels, of a patrol tile before the overlap is added (a 1080p
frame is cut into 3 x 3 tiles)."""
FULL_RESOLUTION = 1920
"""Longer side of "full resolution" for the patrol tiles: the frame's own size up to 1080p (4K is halved)."""
FOCUS_FROM = 1.5
"""Frames whose longer side is at most this many times :data:`OVERVIEW` are searched whole instead."""
OVERVIEW_MIN_FACE = 24.0
"""A tracked face smaller than this as the overview sees it (pixels) gets a crop of its own."""
CROP_FACE = 28.0
"""A tracked face larger than this is scaled down to about this size (pixels) in its crop."""
CROP_CONTEXT = 6.0
"""Side of a face's crop, in face sizes, and at least :data:`MIN_CROP` frame pixels. CenterFace
needs the context. Measured on the facenet clip's 85 faces under 72 px that it finds at score 0.3
on the whole frame (every 7th frame): crops of 6 face sizes, at least 128 px, faces at 28 px found
83 at 8.8 ms per crop (6 sizes, 160 px, 36 px: also 83, at 11.5 ms); 5 sizes and 144 px found 79,
4 sizes 80. Scaling small faces up found fewer, not more."""
MIN_CROP = 128
"""Smallest crop side in frame pixels."""
TILE_OVERLAP = 64
"""Neighbouring patrol tiles overlap by this many full-resolution pixels, so every face the
overview may miss (smaller than about 40 px) is whole in some tile."""
PICTURE_CHANGE = 30.0
"""Mean absolute grey-level change between two overviews after which every tile is searched
again: a cut, but also a fast pan that brings much of the frame newly into view."""
SEEN_IOU = 0.3
"""An expected face that a detection of the overview or the patrol tile overlaps this much gets no crop."""


def searched_whole(width: int, height: int, overview: int = OVERVIEW) -> bool:
    """True when focused detection searches a frame of this size whole (it is small enough)."""
    return max(width, height) <= FOCUS_FROM * overview


def tile_grid(width: int, height: int, tile_width: int, tile_height: int, overlap: int) -> list[Rect]:
    """Rectangles covering a frame, row by row: as many as ``tile_width`` x ``tile_height`` tiles
    would need, each grown so that neighbours overlap by ``overlap`` pixels."""

    def spans(length: int, size: int) -> list[tuple[int, int]]:
        count = max(1, math.ceil(length / size))
        size = min(length, math.ceil((length + (count - 1) * overlap) / count))
        starts = np.linspace(0, length - size, count).round().astype(int)
        return [(int(start), int(start) + size) for start in starts]

    return [(x0, y0, x1, y1) for y0, y1 in spans(height, tile_height) for x0, x1 in spans(width, tile_width)]


def _area(rect: Rect) -> int:
    return (rect[2] - rect[0]) * (rect[3] - rect[1])


def joined(crops: list[tuple[Rect, float]]) -> list[tuple[Rect, float]]:
    """Overlapping crops replaced by their bounding rectangle (at the larger scale) while that
    costs no more pixels than the two apart."""
    crops = list(crops)
    merged = True
    while merged:
        merged = False
        for i in range(len(crops)):
            for j in range(i + 1, len(crops)):
                (a, scale_a), (b, scale_b) = crops[i], crops[j]
                if a[0] >= b[2] or b[0] >= a[2] or a[1] >= b[3] or b[1] >= a[3]:
                    continue
                both = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                scale = max(scale_a, scale_b)
                if _area(both) * scale**2 <= _area(a) * scale_a**2 + _area(b) * scale_b**2:
                    crops[i] = (both, scale)
                    del crops[j]
                    merged = True
                    break
            if merged:
                break
    return crops


class FocusedDetection:
    """Runs a detector on the overview, around the expected small faces and on one patrol tile per frame."""

    def __init__(self, detector: Detector, overview: int = OVERVIEW, full_resolution: int = FULL_RESOLUTION) -> None:
        self.detector = detector
        self.overview = overview
        self.full_resolution = full_resolution
        self._tiles: list[Rect] = []
        self._next_tile = 0
        self._cuts = SceneCuts(min_change=PICTURE_CHANGE, max_correlation=2.0)
        """After a large change of picture (and on the first frame) every patrol tile is searched."""
        self.passes = {"whole": 0, "overview": 0, "crop": 0, "tile": 0}
        """How many detector runs of each kind were made (for reports and tests)."""

    def detect(self, frame: Frame, expected: np.ndarray) -> Detections:
        """Faces in ``frame``; ``expected`` is ``(N, 4)`` boxes where faces are expected (the tracks)."""
        height, width = frame.shape[:2]
        if searched_whole(width, height, self.overview):
            self.passes["whole"] += 1
            return self.detector.detect(frame)
        overview_scale = self.overview / max(width, height)
        full_scale = min(1.0, self.full_resolution / max(width, height))
        small = resize(frame, overview_scale)
        parts = [scaled(self.detector.detect(small), 1 / overview_scale)]
        self.passes["overview"] += 1
        for region in self._patrol(small, width, height, overview_scale, full_scale):
            parts.append(detect_in_region(self.detector.detect, frame, region, full_scale))
            self.passes["tile"] += 1
        found = merge(parts)
        if len(found) and len(expected):  # a face the overview or a tile found needs no crop
            expected = np.asarray(expected)[iou_matrix(np.asarray(expected, np.float64), found.boxes).max(axis=1) < SEEN_IOU]
        crops = [detect_in_region(self.detector.detect, frame, region, scale) for region, scale in
                 self._crops(expected, overview_scale, full_scale, width, height)]
        self.passes["crop"] += len(crops)
        return merge([found, *crops])

    def _crops(
        self, expected: np.ndarray, overview_scale: float, full_scale: float, width: int, height: int
    ) -> list[tuple[Rect, float]]:
        """Crops and their scales around the expected faces too small for the overview (overlapping ones joined)."""
        crops: list[tuple[Rect, float]] = []
        for x0, y0, x1, y1 in np.asarray(expected, np.float64).reshape(-1, 4):
            size = max(x1 - x0, y1 - y0, 1.0)
            if size * overview_scale >= OVERVIEW_MIN_FACE:
                continue
            side = max(CROP_CONTEXT * size, MIN_CROP / full_scale)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            region = (
                max(0, int(cx - side / 2)), max(0, int(cy - side / 2)),
                min(width, int(math.ceil(cx + side / 2))), min(height, int(math.ceil(cy + side / 2))),
            )
            if region[2] - region[0] >= 8 and region[3] - region[1] >= 8:
                crops.append((region, min(full_scale, CROP_FACE / size)))
        return joined(crops)

    def _patrol(self, small: Frame, width: int, height: int, overview_scale: float, full_scale: float) -> list[Rect]:
        """The tiles to search at full resolution this time: all of them at the start and after a cut, else the next one."""
        cut = self._cuts.is_cut(small)
        if not self._tiles:  # tiles of PATROL_TILE px (longer side) at full resolution
            tile_scale = PATROL_TILE / max(width, height) / full_scale
            tile_width, tile_height = round(width * tile_scale), round(height * tile_scale)
            self._tiles = tile_grid(width, height, tile_width, tile_height, round(TILE_OVERLAP / full_scale))
        if cut:
            self._next_tile = 0
            return list(self._tiles)
        tile = self._tiles[self._next_tile]
        self._next_tile = (self._next_tile + 1) % len(self._tiles)
        return [tile]
