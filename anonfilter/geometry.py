"""Geometry shared by detection, tracking and evaluation: overlap (IoU), non-maximum suppression
and the grids of overlapping tiles that cover a frame.

Boxes are ``x0, y0, x1, y1`` in frame pixels, one per row of an ``(N, 4)`` array.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Rect = tuple[int, int, int, int]
"""An integer rectangle ``x0, y0, x1, y1`` (end exclusive) in frame pixels."""


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` ``(N, 4)`` with every box in ``b`` ``(M, 4)``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


def iou(box: Sequence[float], boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box with each of ``boxes`` ``(N, 4)``."""
    return iou_matrix(np.asarray(box, dtype=np.float64)[None], np.asarray(boxes).reshape(-1, 4))[0]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        order = rest[iou_matrix(boxes[best][None], boxes[rest])[0] < iou_threshold]
    return np.array(keep, dtype=np.int64)


def spans(length: int, count: int, size: int) -> list[tuple[int, int]]:
    """``count`` spans of ``size`` pixels spread evenly over ``length`` (first at 0, last at the end)."""
    starts = np.linspace(0, length - size, count).round().astype(int)
    return [(int(start), int(start) + size) for start in starts]


def tile_grid(width: int, height: int, tile_width: int, tile_height: int, overlap: int) -> list[Rect]:
    """Rectangles covering a frame, row by row: as many as ``tile_width`` x ``tile_height`` tiles
    would need, each grown so that neighbours overlap by ``overlap`` pixels."""

    def along(length: int, size: int) -> list[tuple[int, int]]:
        count = max(1, math.ceil(length / size))
        return spans(length, count, min(length, math.ceil((length + (count - 1) * overlap) / count)))

    return [(x0, y0, x1, y1) for y0, y1 in along(height, tile_height) for x0, x1 in along(width, tile_width)]


def tiles_across(width: int, height: int, tiles: int, overlap: float) -> list[Rect]:
    """``tiles`` x ``tiles`` rectangles covering a frame, row by row, neighbours overlapping by
    ``overlap`` (a fraction of the tile size)."""

    def along(length: int) -> list[tuple[int, int]]:
        return spans(length, tiles, int(np.ceil(length / (tiles - (tiles - 1) * overlap))))

    return [(x0, y0, x1, y1) for y0, y1 in along(height) for x0, x1 in along(width)]


def union_area(rects: Sequence[Rect]) -> int:
    """The area (pixels) of the union of ``rects`` (integer corners), exactly: one pass over the
    rectangles on the grid of their own edges (at most (2n)^2 cells), with none of the pairwise
    joining and rejoining of :func:`~anonfilter.detection.focus.joined`."""
    if not len(rects):
        return 0
    boxes = np.asarray(rects, np.int64).reshape(-1, 4)
    xs, ys = np.unique(boxes[:, [0, 2]]), np.unique(boxes[:, [1, 3]])
    covered = np.zeros((len(ys) - 1, len(xs) - 1), bool)
    for x0, y0, x1, y1 in boxes:
        covered[np.searchsorted(ys, y0) : np.searchsorted(ys, y1), np.searchsorted(xs, x0) : np.searchsorted(xs, x1)] = True
    return int((np.diff(ys)[:, None] * np.diff(xs)[None, :] * covered).sum())
