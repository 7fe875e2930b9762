"""Matching predicted track boxes to detections (Hungarian algorithm, anonfilter.tracking.hungarian, on overlap and distance)."""

from __future__ import annotations

import numpy as np

from anonfilter.geometry import iou_matrix
from anonfilter.tracking.hungarian import linear_sum_assignment

UNMATCHABLE = 1e6


def match_cost(tracks: np.ndarray, detections: np.ndarray, min_iou: float, max_distance: float) -> np.ndarray:
    """Cost of pairing each predicted track box with each detection box (``UNMATCHABLE`` when gated out).

    Overlapping pairs cost ``1 - IoU``; pairs that do not overlap enough but whose centres are
    within ``max_distance`` face sizes (small or fast faces) cost more than any overlapping pair.
    Boxes whose sizes differ by more than 2x never match.
    """
    iou = iou_matrix(tracks, detections)
    if iou.size == 0:
        return iou
    centre_t = (tracks[:, :2] + tracks[:, 2:]) / 2
    centre_d = (detections[:, :2] + detections[:, 2:]) / 2
    size_t = np.maximum(tracks[:, 2] - tracks[:, 0], tracks[:, 3] - tracks[:, 1])
    size_d = np.maximum(detections[:, 2] - detections[:, 0], detections[:, 3] - detections[:, 1])
    mean_size = np.maximum((size_t[:, None] + size_d[None, :]) / 2, 1.0)
    distance = np.linalg.norm(centre_t[:, None, :] - centre_d[None, :, :], axis=2) / mean_size
    ratio = np.maximum(size_t[:, None], size_d[None, :]) / np.maximum(np.minimum(size_t[:, None], size_d[None, :]), 1.0)
    cost = np.where(iou >= min_iou, 1 - iou, np.where(distance <= max_distance, 1 + distance, UNMATCHABLE))
    return np.where(ratio > 2.0, UNMATCHABLE, cost)


def assign(cost: np.ndarray) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Minimum-cost pairs ``(row, column)`` plus the unmatched rows and columns."""
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return [], list(range(rows)), list(range(cols))
    row_ind, col_ind = linear_sum_assignment(np.minimum(cost, UNMATCHABLE))
    pairs = [(r, c) for r, c in zip(row_ind, col_ind) if cost[r, c] < UNMATCHABLE]
    matched_rows = {r for r, _ in pairs}
    matched_cols = {c for _, c in pairs}
    return pairs, [r for r in range(rows) if r not in matched_rows], [c for c in range(cols) if c not in matched_cols]
