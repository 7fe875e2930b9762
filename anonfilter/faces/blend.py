"""Putting a synthetic face back: colour matching and a feathered seam in the canonical crop."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from anonfilter.faces.align import CROP_SIZE, warp_from_crop

MASK_CENTER = (32.0, 32.0)
MASK_AXES = (23.0, 28.0)
MASK_FEATHER = 4.0


@lru_cache(maxsize=4)
def canonical_mask(size: int = CROP_SIZE) -> np.ndarray:
    """The face's elliptical mask in the canonical crop (float32, 1 inside, feathered to 0 at the edge).

    It covers forehead to chin and cheek to cheek of a face aligned by :mod:`anonfilter.faces.align`.
    """
    scale = size / CROP_SIZE
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx = (xs - MASK_CENTER[0] * scale) / (MASK_AXES[0] * scale)
    dy = (ys - MASK_CENTER[1] * scale) / (MASK_AXES[1] * scale)
    outside = (np.sqrt(dx**2 + dy**2) - 1.0) * min(MASK_AXES) * scale
    mask = np.clip(1.0 - outside / (MASK_FEATHER * scale), 0.0, 1.0).astype(np.float32)
    mask.setflags(write=False)
    return mask


def match_colours(source: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` with each channel's mean and spread, weighted by ``mask``, moved to those of ``reference``.

    Both are ``h x w x 3`` uint8 of the same shape; the spread is changed by at most a factor of two
    so a flat reference (a dark or blown-out face) does not flatten the face.
    """
    weight = mask[..., None].astype(np.float32)
    total = max(float(weight.sum()), 1e-6)
    src = source.astype(np.float32)
    ref = reference.astype(np.float32)
    src_mean = (src * weight).sum((0, 1)) / total
    ref_mean = (ref * weight).sum((0, 1)) / total
    src_std = np.sqrt(((src - src_mean) ** 2 * weight).sum((0, 1)) / total) + 1e-3
    ref_std = np.sqrt(((ref - ref_mean) ** 2 * weight).sum((0, 1)) / total) + 1e-3
    gain = np.clip(ref_std / src_std, 0.5, 2.0)
    return np.clip((src - src_mean) * gain + ref_mean + 0.5, 0, 255).astype(np.uint8)


def paste_face(background: np.ndarray, synthetic: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``synthetic`` (canonical crop) warped back by the inverse of ``matrix`` onto ``background``.

    The seam is the feathered :func:`canonical_mask`; outside it ``background`` is kept. Returns a
    new ``uint8`` image the size of ``background``.
    """
    height, width = background.shape[:2]
    face = warp_from_crop(synthetic, matrix, width, height).astype(np.float32)
    weight = warp_from_crop(canonical_mask(synthetic.shape[0]), matrix, width, height)[..., None]
    blended = background.astype(np.float32) * (1.0 - weight) + face * weight
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
