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


ColourTransform = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Per-channel ``(source mean, gain, reference mean)``: a colour ``c`` becomes ``(c - source mean) * gain + reference mean``."""


def colour_transform(source: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> ColourTransform:
    """The transform that moves each channel's mean and spread in ``source``, weighted by ``mask``,
    to those of ``reference`` (both ``h x w x 3`` uint8 of the same shape).

    The spread is changed by at most a factor of two so a flat reference (a dark or blown-out
    face) does not flatten the face.
    """
    weight = mask[..., None].astype(np.float32)
    total = max(float(weight.sum()), 1e-6)
    src = source.astype(np.float32)
    ref = reference.astype(np.float32)
    src_mean = (src * weight).sum((0, 1)) / total
    ref_mean = (ref * weight).sum((0, 1)) / total
    src_std = np.sqrt(((src - src_mean) ** 2 * weight).sum((0, 1)) / total) + 1e-3
    ref_std = np.sqrt(((ref - ref_mean) ** 2 * weight).sum((0, 1)) / total) + 1e-3
    return src_mean, np.clip(ref_std / src_std, 0.5, 2.0), ref_mean


def apply_colours(image: np.ndarray, transform: ColourTransform) -> np.ndarray:
    """``image`` (uint8) under a :func:`colour_transform` (e.g. one measured on a smaller copy)."""
    src_mean, gain, ref_mean = transform
    return np.clip((image.astype(np.float32) - src_mean) * gain + ref_mean + 0.5, 0, 255).astype(np.uint8)


def match_colours(source: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` with each channel's mean and spread, weighted by ``mask``, moved to those of ``reference``
    (:func:`colour_transform`)."""
    return apply_colours(source, colour_transform(source, reference, mask))


def warp_face(synthetic: np.ndarray, matrix: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """``synthetic`` (canonical crop) warped back by the inverse of ``matrix`` into a ``width`` x ``height``
    image, as float32 colours and the feathered :func:`canonical_mask` weight (``h x w``, 0 outside)."""
    face = warp_from_crop(synthetic, matrix, width, height).astype(np.float32)
    weight = warp_from_crop(canonical_mask(synthetic.shape[0]), matrix, width, height)
    return face, weight


def paste_face(background: np.ndarray, synthetic: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``synthetic`` (canonical crop) warped back by the inverse of ``matrix`` onto ``background``.

    The seam is the feathered :func:`canonical_mask`; outside it ``background`` is kept. Returns a
    new ``uint8`` image the size of ``background``.
    """
    height, width = background.shape[:2]
    face, weight = warp_face(synthetic, matrix, width, height)
    return blend_face(background, face, weight)


def blend_face(background: np.ndarray, face: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``face`` (float32, from :func:`warp_face`) over ``background`` (uint8) with ``weight``, as uint8."""
    blended = background.astype(np.float32) * (1.0 - weight[..., None]) + face * weight[..., None]
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
