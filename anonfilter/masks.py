"""Face masks: the region a method may change and how much of its result is used there."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from anonfilter.types import Region

MASK_SHAPES = ("ellipse", "box")


@dataclass(frozen=True)
class MaskStyle:
    """How a face box becomes a mask.

    ``margin`` widens the box by that fraction of its width and height on each side, so hair,
    ears and chin are covered (0.3 makes the mask 1.6 times the box). ``feather`` is the width
    of the soft edge outside the shape, as a fraction of the face size.
    """

    shape: str = "ellipse"
    margin: float = 0.3
    feather: float = 0.08

    def __post_init__(self) -> None:
        if self.shape not in MASK_SHAPES:
            raise ValueError(f"mask shape must be one of {', '.join(MASK_SHAPES)}, not {self.shape!r}")
        if not (math.isfinite(self.margin) and math.isfinite(self.feather)) or self.margin < 0 or self.feather < 0:
            raise ValueError("mask margin and feather must be finite and not negative")


def face_mask(box: tuple[float, float, float, float], frame_width: int, frame_height: int, style: MaskStyle) -> tuple[Region, np.ndarray]:
    """The clipped region around ``box`` and its alpha mask (float32, 1 inside the shape).

    Returns an empty region (zero width or height) when the mask lies outside the frame.
    """
    x0, y0, x1, y1 = box
    center_x, center_y = (x0 + x1) / 2, (y0 + y1) / 2
    half_w = max(x1 - x0, 1.0) * (0.5 + style.margin)
    half_h = max(y1 - y0, 1.0) * (0.5 + style.margin)
    feather = max(2.0, style.feather * max(x1 - x0, y1 - y0))
    region = Region(
        max(0, int(np.floor(center_x - half_w - feather))),
        max(0, int(np.floor(center_y - half_h - feather))),
        min(frame_width, int(np.ceil(center_x + half_w + feather))),
        min(frame_height, int(np.ceil(center_y + half_h + feather))),
    )
    if region.width <= 0 or region.height <= 0:
        return Region(0, 0, 0, 0), np.zeros((0, 0), np.float32)
    # alpha = clip(1 - outside / feather, 0, 1), computed in place on one float32 array: the
    # blur method spends as long on a naive version of this as on the blur itself.
    xs = np.arange(region.width, dtype=np.float32) + np.float32(region.x0 + 0.5 - center_x)
    ys = np.arange(region.height, dtype=np.float32) + np.float32(region.y0 + 0.5 - center_y)
    if style.shape == "ellipse":
        # outside = (distance - 1) * min(half_w, half_h), distance = sqrt((x/half_w)^2 + (y/half_h)^2)
        field = np.add.outer(np.square(ys / np.float32(half_h)), np.square(xs / np.float32(half_w)))
        np.sqrt(field, out=field)
        scale = np.float32(min(half_w, half_h) / feather)
        field *= -scale
        field += np.float32(1.0) + scale
    else:
        outside_x = np.square(np.maximum(np.abs(xs) - np.float32(half_w), np.float32(0)))
        outside_y = np.square(np.maximum(np.abs(ys) - np.float32(half_h), np.float32(0)))
        field = np.add.outer(outside_y, outside_x)
        np.sqrt(field, out=field)
        field *= np.float32(-1.0 / feather)
        field += np.float32(1.0)
    alpha = np.clip(field, 0.0, 1.0, out=field)
    return region, alpha


def composite(target: np.ndarray, replacement: np.ndarray, alpha: np.ndarray) -> None:
    """Blend ``replacement`` into ``target`` (both ``h x w x 3`` uint8) in place, weighted by ``alpha``."""
    if replacement.shape != target.shape:
        raise ValueError(f"replacement shape {replacement.shape} differs from region shape {target.shape}")
    # OpenCV's blend is about 8 times faster than the same arithmetic in NumPy; alpha 0 keeps
    # the target exactly and alpha 1 gives the replacement exactly. Inside the mask's opaque
    # core the replacement is copied instead, which is faster still (docs/benchmark.md).
    core = opaque_core(alpha) if alpha.size >= MIN_CORE_PIXELS else None
    if core is None:
        target[...] = cv2.blendLinear(target, replacement, 1.0 - alpha, alpha)
        return
    (y0, y1), (x0, x1) = core
    height, width = alpha.shape
    for rows, cols in (
        (slice(0, y0), slice(0, width)),
        (slice(y1, height), slice(0, width)),
        (slice(y0, y1), slice(0, x0)),
        (slice(y0, y1), slice(x1, width)),
    ):
        weights = alpha[rows, cols]
        if weights.size:
            target[rows, cols] = cv2.blendLinear(target[rows, cols], replacement[rows, cols], 1.0 - weights, weights)
    target[y0:y1, x0:x1] = replacement[y0:y1, x0:x1]


MIN_CORE_PIXELS = 160 * 160
"""Masks smaller than this are blended whole: finding the core and blending four strips costs more
than it saves up to about 160 x 160 pixels, a face of about 90 px (figures: docs/benchmark.md)."""


def opaque_core(alpha: np.ndarray) -> Optional[tuple[tuple[int, int], tuple[int, int]]]:
    """Rows ``(y0, y1)`` and columns ``(x0, x1)`` of a rectangle where ``alpha`` is 1 throughout, or None.

    The rectangle is the largest one inside an ellipse through the opaque run of the middle row
    and of the column through that run's middle (an ellipse mask's core; inside a box mask's
    core too); it is checked, so any mask is blended exactly.
    """
    height, width = alpha.shape
    row = np.flatnonzero(alpha[height // 2] >= 1.0)
    if not row.size:
        return None
    column = np.flatnonzero(alpha[:, (row[0] + row[-1]) // 2] >= 1.0)
    if not column.size:
        return None
    center_y, half_h = (column[0] + column[-1] + 1) / 2, (column[-1] - column[0] + 1) / 2 / math.sqrt(2)
    row = np.flatnonzero(alpha[int(center_y)] >= 1.0)
    center_x, half_w = (row[0] + row[-1] + 1) / 2, (row[-1] - row[0] + 1) / 2 / math.sqrt(2)
    y0, y1 = math.ceil(center_y - half_h), math.floor(center_y + half_h)
    x0, x1 = math.ceil(center_x - half_w), math.floor(center_x + half_w)
    if y1 - y0 < 8 or x1 - x0 < 8 or not (alpha[y0:y1, x0:x1] >= 1.0).all():
        return None
    return (y0, y1), (x0, x1)
