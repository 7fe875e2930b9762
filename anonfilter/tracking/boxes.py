"""Box arithmetic the tracker needs: interpolation, growth and a limit on how fast a mask shrinks.

Boxes are ``numpy`` arrays ``x0, y0, x1, y1`` (float64) in frame pixels.
"""

from __future__ import annotations

import numpy as np


def box_size(box: np.ndarray) -> float:
    """The longer side of ``box`` (at least 1 pixel)."""
    return max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)


def box_center(box: np.ndarray) -> np.ndarray:
    """``cx, cy`` of ``box``."""
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def interpolate(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The box (or landmark array) a fraction ``t`` (0..1) of the way from ``a`` to ``b``."""
    return a + (b - a) * t


def grow(box: np.ndarray, factor: float) -> np.ndarray:
    """``box`` scaled by ``factor`` about its centre."""
    center = box_center(box)
    half = (box[2:] - box[:2]) * factor / 2
    return np.concatenate([center - half, center + half])


def growth(frames_from_detection: int, fps: float, per_second: float, limit: float) -> float:
    """How much a box not seen by the detector for ``frames_from_detection`` frames is grown."""
    return min(1.0 + per_second * frames_from_detection / fps, limit)


def limit_shrink(previous: np.ndarray, target: np.ndarray, step: float) -> np.ndarray:
    """``target``, except that no edge moves inwards from ``previous`` by more than ``step`` pixels.

    Growing is never limited: a mask may jump outwards, never inwards, so a face that the
    detector boxes too small for a frame stays covered by the mask of the frame before.
    """
    return np.array(
        [
            min(target[0], previous[0] + step),
            min(target[1], previous[1] + step),
            max(target[2], previous[2] - step),
            max(target[3], previous[3] - step),
        ]
    )
