"""What lies under a synthetic face: the face region filled in from the ring around it.

The region a method may change (the host's mask: the face box and a margin for hair, ears and
chin) is wider than the synthetic face. Whatever covers the rest must not carry the person's
identity (hair, ears, the outline of the head), and must not look like a smudge laid over the
picture. :func:`fill_from_ring` paints it from what surrounds it: the pixels just outside the
mask (which stay as they are anyway), interpolated inwards by a push-pull pyramid (a smooth
membrane, like a Laplace fill, in about a millisecond). On a textured background a smooth
membrane shows as an egg-shaped patch, so by default (``texture``) the picture around the mask
is continued into it instead: each pixel takes the colour of its mirror image across the
mask's edge (:func:`mirrored_ring`), folded back and forth within a band of the ring where the
hole is deeper, and the mirror fades into the membrane deep inside (mostly under the new face).
A wall, a shelf or a shoulder goes on into the mask instead of stopping at an egg's rim. Both
are computed from the ring alone, deterministically: no pixel of the original inside the mask
is used, the fill meets the unchanged picture without a seam, and a still background under a
still mask gives the same fill on every frame. (Seeding the fill from the new face's edge as
well was tried: it lays a skin-coloured egg around the face.)
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

KNOWN_ALPHA = 0.01
"""Pixels whose mask weight is at most this are outside the mask: the ring the fill starts from."""

FILL_SIDE = 64
"""The fill is computed at most this many pixels wide and scaled up (it is smooth)."""

MIRROR_BAND = 0.12
"""The mirror reaches this far outside the mask (a fraction of the longer side of the image filled:
the face's region, widened by ``FILL_MARGIN`` in :mod:`anonfilter.faces.replace` where the picture
is continued, so 1.3 times the region's side there); deeper
inside the mask it folds back and forth within that band..."""
MIRROR_FADE = (2.0, 4.0)
"""... and fades from the mirrored picture to the smooth membrane between these many bands deep."""
MIRROR_SMOOTHING = 1.0
"""The mirror map is blurred by this many bands, so the places where the nearest ring pixel
jumps (the mask's medial axis) show as soft streaks, not as hard seams."""
MIRROR_SIDE = 96
"""The mirror map (smooth) is computed at most this many pixels wide and scaled up."""

_EPSILON = 1e-6


def ring_weight(alpha: np.ndarray, blocked: Optional[np.ndarray] = None) -> np.ndarray:
    """1 where ``alpha`` (the face's mask over the image to fill: its region, or a window around it) leaves the picture as it is, else 0.

    Where the mask covers the whole region (a face cut by every edge of the frame), the least
    covered pixels serve as the ring instead, so there is always something to fill from.
    ``blocked`` (the same shape) marks pixels not to fill from either (other faces' masks,
    whose originals are still there), unless that would leave nothing.
    """
    threshold = max(KNOWN_ALPHA, float(alpha.min()) if alpha.size else 0.0)
    ring = alpha <= threshold
    if blocked is not None:
        free = ring & (blocked <= 0.0)
        if free.any():
            ring = free
    return ring.astype(np.float32)


def fill_from_ring(image: np.ndarray, known: np.ndarray, work_side: int = FILL_SIDE, texture: bool = True) -> np.ndarray:
    """``image`` (h x w x 3 uint8) with every pixel outside ``known`` interpolated from the known ones.

    ``known`` (h x w float32, 0..1) weighs how much each pixel of ``image`` is to be kept. The
    unknown pixels get a smooth blend of the known colours around them (push-pull: averaged
    down a Gaussian pyramid weighted by ``known``, then filled back up), computed at most
    ``work_side`` pixels wide (the fill is smooth) and scaled up; the known ones keep their
    colour. With ``texture``, the picture around the hole is mirrored into it over that smooth
    fill (:func:`mirrored_ring`). At least one pixel must be known.
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
    result = np.clip(filled + 0.5, 0, 255).astype(np.uint8)
    return mirrored_ring(result, weight) if texture else result


def mirrored_ring(filled: np.ndarray, known: np.ndarray, work_side: int = MIRROR_SIDE) -> np.ndarray:
    """``filled`` (uint8 h x w x 3, the hole already filled smoothly) with the known picture
    continued into the hole (``known`` < 0.5) by mirroring it across the hole's edge.

    Each pixel of the hole takes the colour at its mirror image across its nearest known pixel;
    deeper than :data:`MIRROR_BAND` it folds back and forth within that band, and it fades into
    ``filled`` (the smooth fill) between the :data:`MIRROR_FADE` depths. The mirror map is
    blurred by :data:`MIRROR_SMOOTHING` bands and, being smooth, computed at most ``work_side``
    pixels wide; the colours are then taken at full resolution. Known pixels are returned as they are.
    """
    height, width = known.shape
    hole = known < 0.5
    if not hole.any() or hole.all():
        return filled
    factor = min(1.0, work_side / max(height, width))
    small = (max(1, round(width * factor)), max(1, round(height * factor)))
    small_hole = cv2.resize(hole.astype(np.float32), small, interpolation=cv2.INTER_AREA) >= 0.5
    if not small_hole.any() or small_hole.all():
        return filled
    distance, labels = cv2.distanceTransformWithLabels(small_hole.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(~small_hole)
    nearest = np.zeros((int(labels.max()) + 1, 2), np.float32)
    nearest[labels[ys, xs]] = np.stack([xs, ys], 1)
    near = nearest[labels]
    grid_y, grid_x = np.mgrid[0 : small[1], 0 : small[0]].astype(np.float32)
    band = max(1.0, MIRROR_BAND * max(small))
    folded = np.mod(distance, 2.0 * band)
    folded = np.where(folded > band, 2.0 * band - folded, folded)
    reach = folded / np.maximum(distance, _EPSILON)
    maps = []
    for coordinate, grid, scale in ((near[..., 0], grid_x, width / small[0]), (near[..., 1], grid_y, height / small[1])):
        mirror = cv2.GaussianBlur(coordinate + (coordinate - grid) * reach, (0, 0), MIRROR_SMOOTHING * band)
        maps.append(cv2.resize((mirror + 0.5) * scale - 0.5, (width, height), interpolation=cv2.INTER_LINEAR))
    mirrored = cv2.remap(filled, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    start, end = MIRROR_FADE
    share = np.clip((end * band - distance) / ((end - start) * band), 0.0, 1.0).astype(np.float32)
    share = cv2.resize(share, (width, height), interpolation=cv2.INTER_LINEAR)
    share[~hole] = 0.0
    return cv2.blendLinear(mirrored, filled, share, 1.0 - share)


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
