"""What lies under a synthetic face: the face region filled in from the ring around it.

The region a method may change (the host's mask: the face box and a margin for hair, ears and
chin) is wider than the synthetic face. Whatever covers the rest must not carry the person's
identity (hair, ears, the outline of the head), and must not look like a smudge laid over the
picture. :func:`fill_from_ring` paints it from what surrounds it: the pixels just outside the
mask (which stay as they are anyway), interpolated inwards by a push-pull pyramid (a smooth
membrane, like a Laplace fill, in about a millisecond). No pixel of the original inside the
mask is used, and the fill meets the unchanged picture without a seam. (Seeding the fill from
the new face's edge as well was tried: it lays a skin-coloured egg around the face.)
"""

from __future__ import annotations

import cv2
import numpy as np

KNOWN_ALPHA = 0.01
"""Pixels whose mask weight is at most this are outside the mask: the ring the fill starts from."""

FILL_SIDE = 64
"""The fill is computed at most this many pixels wide and scaled up (it is smooth)."""

_EPSILON = 1e-6


def ring_weight(alpha: np.ndarray) -> np.ndarray:
    """1 where ``alpha`` (the face's mask over its region) leaves the picture as it is, else 0.

    Where the mask covers the whole region (a face cut by every edge of the frame), the least
    covered pixels serve as the ring instead, so there is always something to fill from.
    """
    threshold = max(KNOWN_ALPHA, float(alpha.min()) if alpha.size else 0.0)
    return (alpha <= threshold).astype(np.float32)


def fill_from_ring(image: np.ndarray, known: np.ndarray, work_side: int = FILL_SIDE) -> np.ndarray:
    """``image`` (h x w x 3 uint8) with every pixel outside ``known`` interpolated from the known ones.

    ``known`` (h x w float32, 0..1) weighs how much each pixel of ``image`` is to be kept. The
    unknown pixels get a smooth blend of the known colours around them (push-pull: averaged
    down a Gaussian pyramid weighted by ``known``, then filled back up), computed at most
    ``work_side`` pixels wide (the fill is smooth) and scaled up; the known ones keep their
    colour. At least one pixel must be known.
    """
    height, width = known.shape
    weight = known.astype(np.float32)
    colour = image.astype(np.float32) * weight[..., None]
    factor = work_side / max(height, width)
    if factor < 1.0:
        small = (max(1, round(width * factor)), max(1, round(height * factor)))
        smooth = _push_pull(
            cv2.resize(colour, small, interpolation=cv2.INTER_AREA), cv2.resize(weight, small, interpolation=cv2.INTER_AREA)
        )
        smooth = cv2.resize(smooth, (width, height), interpolation=cv2.INTER_LINEAR)
        filled = colour + smooth * (1.0 - weight[..., None])
    else:
        filled = _push_pull(colour, weight)
    return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


def _push_pull(colour: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The push-pull fill of premultiplied ``colour`` (float32 h x w x 3) with ``weight`` (h x w)."""
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    while min(weight.shape[:2]) > 2:
        levels.append((colour, weight))
        colour, weight = cv2.pyrDown(colour), cv2.pyrDown(weight)
    filled = colour.reshape(-1, 3).sum(0) / max(float(weight.sum()), _EPSILON) * np.ones_like(colour)
    for colour, weight in reversed(levels):
        height, width = weight.shape
        coarse = cv2.pyrUp(filled, dstsize=(width, height))
        confidence = np.clip(weight * 2.0, 0.0, 1.0)[..., None]
        filled = colour / np.maximum(weight, _EPSILON)[..., None] * confidence + coarse * (1.0 - confidence)
    return filled
