"""Focused detection: the detector runs at the resolution each part of the frame needs.

A whole 1080p frame at full resolution costs CenterFace about 0.6 CPU seconds, but only small
faces need full resolution, and a new face cannot appear without changing the picture. So each
detector run searches:

* **the overview**: the whole frame scaled to :data:`OVERVIEW` pixels on its longer side, or to
  a quarter of it on frames larger than 2560 px (:func:`overview_side`). It finds faces from
  about :attr:`SearchGeometry.reach` pixels (72 at 1080p, 96 at 1440p and 4K);
* **the changed areas** at :data:`CLOSE_UPSCALE` times the frame's own resolution (up to
  :data:`SMALL_FACE_RESOLUTION`): every area that differs from how it looked when it was last
  searched closely (:mod:`anonfilter.detection.changes`), with a margin of one overview reach, so
  every face up to that size that appeared or moved since is whole in a searched crop. When the
  changes cover much of the frame (a cut, a pan, the first frame) the whole frame is swept at that
  scale instead;
* **one patrol tile** at that scale: the frame is cut into overlapping tiles of about
  :data:`PATROL_TILE` pixels, and one tile in turn is searched each time, so a face the detector
  missed where nothing changes is looked at again within one round;
* **the tracked small faces**: for each face the tracker expects (its active tracks) that is too
  small for the overview and that no other pass found, a crop around it, scaled so the face is
  about :data:`CROP_FACE` pixels as the network sees it (never scaled up); crops that overlap
  are searched as one. A few milliseconds per face.

With the scout (:mod:`anonfilter.detection.scout`, the ``scout`` argument) the changed areas,
sweeps and patrol tiles are searched by the scout network at the same scale (and at half of it
where faces up to the reach need it), and the detector runs only on crops around the scout's
candidates that are not centred in a face the overview found.

The results are merged with non-maximum suppression. A frame no larger than :data:`FOCUS_FROM`
times the overview is simply searched whole. What this guarantees (every area a face can appear
in is searched at a scale that finds 16 px faces within one detector interval) is computed in
:mod:`anonfilter.detection.guarantee` and stated in docs/tracking.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from anonfilter.detection.changes import ChangeMap
from anonfilter.detection.regions import detect_in_region, merge, resize, scaled
from anonfilter.detection.scout import Scout, confirm_regions, scout_scales
from anonfilter.geometry import Rect, iou_matrix, spans, tile_grid, union_area
from anonfilter.hookspecs import Detector
from anonfilter.types import Detections, Frame

OVERVIEW = 640
"""Longer side, in pixels, of the whole-frame overview pass, at least (:func:`overview_side`)."""
OVERVIEW_SHARE = 4
"""... and at least this fraction (one in four) of the frame's longer side, so the overview's reach
is never more than 96 px (a 960 px overview at 4K; up to 2560 px it is :data:`OVERVIEW`). Every
changed area is grown by one reach and searched closely, so at 4K a smaller reach takes more
pixels off the close search than the larger overview adds: 1.9 against 2.3 million network
pixels a detector run on the generated 4K clip, the detector alone (docs/benchmark.md, "Issue 15 at 4K")."""
PATROL_TILE = 640
"""Longer side, in full-resolution pixels, of a patrol tile before the overlap is added (a 1080p
frame is cut into 3 x 3 tiles, 4K into 6 x 6)."""
SMALL_FACE_RESOLUTION = 3840
"""The close search works at the frame's own resolution up to this longer side (4K), so a 16 px
face is at least 16 px as the network sees it; larger frames are scaled down to it."""
CLOSE_UPSCALE = 1.125
"""... and a little larger: changed areas, sweeps and patrol tiles are scaled by this factor
over that resolution, since CenterFace finds faces of 16-19 px much more often at 18-21 px, for
about 1.3x the close search's pixels (docs/benchmark.md)."""
SWEEP = 0.5
"""When the crops around the changed areas would cover more than this fraction of the frame,
the whole frame is swept at the close scale instead (fewer, larger network runs)."""
SWEEP_TILE = 1920
"""Longest side, in the network's pixels, of any piece the close search runs the network on (a
sweep tile or a part of a large changed area), overlap included: CenterFace's own resolution, so
it never scales a piece down..."""
PIECE_PIXELS = 1_200_000
"""... and most network pixels in one piece, so that the network's working memory stays under
about 200 MB (onnxruntime keeps what the largest input needed): a 720p frame is swept in one
piece, 1080p in three, 4K in twelve. With pieces of up to 1920 px a side (six at 4K, 2 million
pixels each) it was about 360 MB, for 10% fewer pixels searched in a 4K sweep (docs/benchmark.md,
"Memory of the small-face default")."""
MAX_PIECES = 16
"""Most pieces along one side (a 4K frame needs four)."""
FOCUS_FROM = 1.5
"""Frames whose longer side is at most this many times :data:`OVERVIEW` (960 px) are searched whole instead."""
OVERVIEW_MIN_FACE = 24.0
"""A tracked face smaller than this as the overview sees it (pixels) gets a crop of its own."""
CROP_FACE = 28.0
"""A tracked face larger than this is scaled down to about this size (pixels) in its crop."""
CROP_CONTEXT = 6.0
"""Side of a face's crop, in face sizes, and at least :data:`MIN_CROP` frame pixels. CenterFace
needs the context: less context found fewer faces, and scaling small faces up found fewer, not
more (figures: docs/benchmark.md, "Why the defaults are what they are")."""
MIN_CROP = 128
"""Smallest crop side in frame pixels."""
SCOUT_FALLBACK = 0.5
"""With the scout, a close area whose confirmation crops would hold more than this fraction of its
pixels is searched by the detector whole instead: the scout then costs at most its own run (about
a sixth of the detector's on the same pixels) more than the search without it (docs/benchmark.md)."""
SEEN_IOU = 0.3
"""An expected face that a detection of the overview or the patrol tile overlaps this much gets no crop."""


def searched_whole(width: int, height: int, overview: int = OVERVIEW) -> bool:
    """True when focused detection searches a frame of this size whole (it is small enough)."""
    return max(width, height) <= FOCUS_FROM * overview


def overview_side(longer: int, overview: int = OVERVIEW) -> int:
    """The overview's longer side for frames whose longer side is ``longer``: ``overview``, or a
    :data:`OVERVIEW_SHARE`-th of the frame where that is more."""
    return max(overview, round(longer / OVERVIEW_SHARE))


@dataclass(frozen=True)
class SearchGeometry:
    """The scales of focused detection's passes on frames of one size."""

    overview_scale: float
    """The overview is the frame scaled by this."""
    native_scale: float
    """The frame's own resolution, up to :data:`SMALL_FACE_RESOLUTION` (1 up to 4K): tracked
    small faces' crops are searched at most at this scale, and patrol tiles are sized in it."""
    close_scale: float
    """Changed areas, sweeps and patrol tiles are searched at this scale (:data:`CLOSE_UPSCALE` times the native one)."""
    reach: float
    """The smallest face (frame pixels) the overview is trusted to find; faces up to this size are
    the close search's, so crops grow by it and tiles overlap by it."""

    @classmethod
    def of(cls, width: int, height: int, overview: int = OVERVIEW, small_face_resolution: int = SMALL_FACE_RESOLUTION) -> "SearchGeometry":
        """The geometry for ``width`` x ``height`` frames."""
        longer = max(width, height)
        overview_scale = overview_side(longer, overview) / longer
        native_scale = min(1.0, small_face_resolution / longer)
        return cls(overview_scale, native_scale, native_scale * CLOSE_UPSCALE, OVERVIEW_MIN_FACE / overview_scale)

    def tiles(self, width: int, height: int) -> list[Rect]:
        """The patrol tiles: :data:`PATROL_TILE` px at the native scale, overlapping by :attr:`reach`."""
        tile_scale = PATROL_TILE / max(width, height) / self.native_scale
        return tile_grid(width, height, round(width * tile_scale), round(height * tile_scale), math.ceil(self.reach))

    def sweep(self, width: int, height: int) -> list[Rect]:
        """The fewest tiles of at most :data:`SWEEP_TILE` px at the close scale, overlapping by :attr:`reach`, that cover the frame."""
        return self.pieces((0, 0, width, height))

    def pieces(self, region: Rect) -> list[Rect]:
        """The fewest rectangles, overlapping by :attr:`reach`, that cover ``region`` with at most
        :data:`SWEEP_TILE` px a side and :data:`PIECE_PIXELS` pixels at the close scale (of grids
        as few, the one with the fewest pixels): every face up to the reach in it is whole in one."""
        overlap = math.ceil(self.reach)
        x0, y0, x1, y1 = region
        width, height = x1 - x0, y1 - y0

        def side(length: int, count: int) -> int:
            return min(length, math.ceil((length + (count - 1) * overlap) / count))

        def rows_for(columns: int) -> int:  # the fewest rows that fit with this many columns (0: none)
            piece_width = side(width, columns) * self.close_scale
            tallest = min(SWEEP_TILE, PIECE_PIXELS / piece_width) / self.close_scale
            if piece_width > SWEEP_TILE or tallest <= overlap:
                return 0
            return max(1, math.ceil((height - overlap) / (tallest - overlap)))

        grids = [(columns, rows) for columns in range(1, MAX_PIECES + 1) if 0 < (rows := rows_for(columns)) <= MAX_PIECES]
        columns, rows = min(grids, key=lambda grid: (grid[0] * grid[1], side(width, grid[0]) * side(height, grid[1]) * grid[0] * grid[1]))
        return [
            (x0 + a0, y0 + b0, x0 + a1, y0 + b1)
            for b0, b1 in spans(height, rows, side(height, rows))
            for a0, a1 in spans(width, columns, side(width, columns))
        ]


def _area(rect: Rect) -> int:
    return (rect[2] - rect[0]) * (rect[3] - rect[1])


def inset(rect: Rect, margin: float, width: int, height: int) -> Rect:
    """The part of ``rect`` at least ``margin`` pixels from each of its edges that is not the frame's
    (where a face of up to ``margin`` pixels may have been cut off); empty when nothing is left."""
    x0 = rect[0] if rect[0] <= 0 else math.ceil(rect[0] + margin)
    y0 = rect[1] if rect[1] <= 0 else math.ceil(rect[1] + margin)
    x1 = rect[2] if rect[2] >= width else math.floor(rect[2] - margin)
    y1 = rect[3] if rect[3] >= height else math.floor(rect[3] - margin)
    return (x0, y0, max(x0, x1), max(y0, y1))


def within(boxes: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """For each of ``boxes`` (``(N, 4)``), True when its centre lies inside one of ``faces`` (``(M, 4)``)."""
    if not len(boxes) or not len(faces):
        return np.zeros(len(boxes), bool)
    cx, cy = (boxes[:, None, 0] + boxes[:, None, 2]) / 2, (boxes[:, None, 1] + boxes[:, None, 3]) / 2
    inside = (cx >= faces[None, :, 0]) & (cy >= faces[None, :, 1]) & (cx <= faces[None, :, 2]) & (cy <= faces[None, :, 3])
    return inside.any(axis=1)


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
    """Runs a detector on the overview, the changed areas, one patrol tile and around the expected small faces."""

    def __init__(
        self,
        detector: Detector,
        overview: int = OVERVIEW,
        small_face_resolution: int = SMALL_FACE_RESOLUTION,
        scout: Optional[Scout] = None,
    ) -> None:
        self.detector = detector
        self.scout = scout
        """When set, the close search runs the scout on the changed areas, sweeps and patrol
        tiles, and the detector only on crops around its candidates (:mod:`anonfilter.detection.scout`)."""
        self.overview = overview
        self.small_face_resolution = small_face_resolution
        self._tiles: list[Rect] = []
        self._next_tile = 0
        self._changes = ChangeMap()
        self.passes = {"whole": 0, "overview": 0, "change": 0, "sweep": 0, "tile": 0, "crop": 0, "confirm": 0, "fallback": 0}
        """How many detector runs of each kind were made (for reports and tests)."""
        self.pixels = dict.fromkeys(self.passes, 0)
        """How many pixels the detector network saw in the runs of each kind (for the benchmarks)."""

    def detect(self, frame: Frame, expected: np.ndarray, patrol_round: Optional[int] = None) -> Detections:
        """Faces in ``frame``; ``expected`` is ``(N, 4)`` boxes where faces are expected (the tracks).

        ``patrol_round``: the number of this detector run in the stream (the frame's index over
        the detection interval): the patrol searches tile ``patrol_round`` modulo the tile count,
        so which tile a frame gets depends on its place in the video, not on the runs before it
        (a segment of a video patrols as the whole video does). None: the tile after the last one.
        """
        height, width = frame.shape[:2]
        if searched_whole(width, height, self.overview):
            self.passes["whole"] += 1
            return self._network("whole")(frame)
        geometry = SearchGeometry.of(width, height, self.overview, self.small_face_resolution)
        regions, searched = self._close_regions(frame, geometry, patrol_round)
        parts = []
        if [region for _kind, region, _scale in regions] != [(0, 0, width, height)]:  # one piece cuts no large face
            small = resize(frame, geometry.overview_scale)
            parts.append(scaled(self._network("overview")(small), 1 / geometry.overview_scale))
            self.passes["overview"] += 1
        overview = merge(parts)
        for kind, region, scale in regions:
            self.passes[kind] += 1
            if self.scout is None:
                parts.append(detect_in_region(self._network(kind), frame, region, scale))
            else:
                parts += self._scouted(frame, region, geometry, overview)
        self._changes.searched(searched)
        found = merge(parts)
        if len(found) and len(expected):  # a face another pass found needs no crop
            expected = np.asarray(expected)[iou_matrix(np.asarray(expected, np.float64), found.boxes).max(axis=1) < SEEN_IOU]
        crops = [
            detect_in_region(self._network("crop"), frame, region, scale)
            for region, scale in self._crops(expected, geometry, width, height)
        ]
        self.passes["crop"] += len(crops)
        return merge([found, *crops])

    def _network(self, kind: str) -> Callable[[Frame], Detections]:
        """The detector, counting the pixels it is given in :attr:`pixels` under ``kind``."""

        def detect(image: Frame) -> Detections:
            self.pixels[kind] += image.shape[0] * image.shape[1]
            return self.detector.detect(image)

        return detect

    def _scouted(self, frame: Frame, region: Rect, geometry: SearchGeometry, found: Detections) -> list[Detections]:
        """The close search of ``region`` with the scout: the detector on a crop around each of its
        candidates (faces from 16 px at the close scale up to the reach) that is not centred in a
        face already ``found`` (which covers it), in pieces of bounded size; or, when those crops
        would hold more than :data:`SCOUT_FALLBACK` of the region's pixels (a textured scene the
        scout finds face-like everywhere), the detector on the region itself, as without the scout."""
        assert self.scout is not None
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = region
        piece = frame[y0:y1, x0:x1]
        scales = scout_scales(geometry.close_scale, geometry.reach)
        candidates = np.concatenate([self.scout.candidates(piece, scout_scale) for scout_scale in scales])
        candidates[:, :4] += np.float32([x0, y0, x0, y0])
        candidates = candidates[~within(candidates[:, :4], found.boxes)]
        crops = confirm_regions(candidates, geometry.close_scale, width, height)
        # The joined crops hold at least their union: a region that falls back on the union needs no joining (quadratic).
        if union_area(crops) <= SCOUT_FALLBACK * _area(region):
            crops = [crop for crop, _scale in joined([(crop, 1.0) for crop in crops])]
        if sum(_area(crop) for crop in crops) > SCOUT_FALLBACK * _area(region):
            self.passes["fallback"] += 1
            return [detect_in_region(self._network("fallback"), frame, region, geometry.close_scale)]
        pieces = [part for crop in crops for part in geometry.pieces(crop)]
        self.passes["confirm"] += len(pieces)
        return [detect_in_region(self._network("confirm"), frame, part, geometry.close_scale) for part in pieces]

    def _close_regions(
        self, frame: Frame, geometry: SearchGeometry, patrol_round: Optional[int]
    ) -> tuple[list[tuple[str, Rect, float]], list[Rect]]:
        """What to search closely, ``(kind, region, scale)``: the changed areas and the next patrol
        tile, or the whole frame; and the areas whose every face up to the reach that search finds."""
        height, width = frame.shape[:2]
        if not self._tiles:
            self._tiles = geometry.tiles(width, height)
        # Every face up to the reach that touches a change is whole in these crops (docs/benchmark.md
        # says why one scale, not a fine and a coarse crop per change).
        crops = [region for region, _scale in joined([(rect, 1.0) for rect in self._changes.changed(frame, geometry.reach)])]
        if sum(_area(region) for region in crops) > SWEEP * width * height:
            return [("sweep", tile, geometry.close_scale) for tile in geometry.sweep(width, height)], [(0, 0, width, height)]
        if patrol_round is not None:
            self._next_tile = patrol_round % len(self._tiles)
        tile = self._tiles[self._next_tile]
        self._next_tile = (self._next_tile + 1) % len(self._tiles)
        close = [("change", piece, geometry.close_scale) for region in crops for piece in geometry.pieces(region)]
        close.append(("tile", tile, geometry.close_scale))
        return close, [inset(region, geometry.reach, width, height) for region in [*crops, tile]]

    def _crops(self, expected: np.ndarray, geometry: SearchGeometry, width: int, height: int) -> list[tuple[Rect, float]]:
        """Crops and their scales around the expected faces too small for the overview (overlapping ones joined)."""
        crops: list[tuple[Rect, float]] = []
        for x0, y0, x1, y1 in np.asarray(expected, np.float64).reshape(-1, 4):
            size = max(x1 - x0, y1 - y0, 1.0)
            if size * geometry.overview_scale >= OVERVIEW_MIN_FACE:
                continue
            side = max(CROP_CONTEXT * size, MIN_CROP / geometry.native_scale)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            region = (
                max(0, int(cx - side / 2)),
                max(0, int(cy - side / 2)),
                min(width, int(math.ceil(cx + side / 2))),
                min(height, int(math.ceil(cy + side / 2))),
            )
            if region[2] - region[0] >= 8 and region[3] - region[1] >= 8:
                crops.append((region, min(geometry.native_scale, CROP_FACE / size)))
        return joined(crops)
