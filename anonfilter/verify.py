"""The host's check of what a method did to a frame: plugins are untrusted, so their work is verified.

Before the method runs, :func:`snapshot` copies a few pixels of the frame: a grid of up to
:data:`SAMPLES_ACROSS` x :data:`SAMPLES_ACROSS` points over each face's opaque mask (where
``alpha`` is 1, so the method's result is used there unblended), and a strided grid of the whole
frame at points where no face's mask reaches (``alpha`` 0 for every face). After it, :func:`verify`
says what went wrong, or None:

* the method returned something (a modified copy, say) instead of changing the frame in place;
* the frame's shape or type changed;
* a face's opaque mask was left as it was: fewer than :data:`MIN_CHANGED_FRACTION` of its sample
  points changed at all (a method that did nothing, worked on a copy, rebound ``frame``, skipped
  a face or painted the wrong place leaves them exactly as they were). A face whose samples are
  flat (mean absolute deviation under :data:`FLAT_TEXTURE` levels: a uniform patch, which shows
  no identity, and which a blur leaves as it is) needs no change;
* a pixel outside every mask changed, which the contract forbids. The outside grid is every
  :data:`OUTSIDE_STEP`-th row and column, starting at an offset that moves with the frame index,
  so over ``OUTSIDE_STEP ** 2`` frames every pixel position is checked once.

It costs two small copies and comparisons per frame (about 0.2 ms on 1080p), against one
whole-frame copy and comparison (several ms). What it guarantees: no frame is passed on where the
method accidentally left a whole face's core unchanged or changed the sampled background; it
cannot tell a strong anonymization from a weak one (a method that adds faint noise passes), which
is what ``anonfilter check`` measures. docs/plugins.md gives the change every built-in method
makes, measured on real faces of 8 to 512 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from anonfilter.types import Face, Frame

SAMPLES_ACROSS = 16
"""Sample points across a face's region, in each direction (up to 256 per face, fewer inside the mask)."""
OUTSIDE_STEP = 8
"""The outside grid takes every 8th row and column (1/64 of the frame)."""
MIN_CHANGED_FRACTION = 0.5
"""At least this share of a face's sample points must change. Every built-in method changed at
least 82% on every real face measured, from 8 to 512 px (docs/plugins.md); an accidental no-op
changes none. Points are counted as changed when they changed at all: a blur or a pixelation of
a smooth, low-contrast face moves many points by only one or two levels."""
FLAT_TEXTURE = 3.0
"""Samples whose mean absolute deviation from their median is below this many levels are a flat
patch: it shows no face to recognise, and a blur leaves much of it as it was. A filled track's mask
over an almost uniform corner of the hamilton clip (1.8 levels) had only 50% of its points changed
by the blur; the real faces measured (docs/plugins.md) deviate by 3.8 levels and more."""


@dataclass(frozen=True)
class FaceSamples:
    """Pixels at a grid of points inside one face's opaque mask, in frame coordinates."""

    ys: np.ndarray
    xs: np.ndarray
    values: np.ndarray
    flat: bool


@dataclass(frozen=True)
class Snapshot:
    """What :func:`verify` compares the frame with after the method ran."""

    shape: tuple[int, ...]
    faces: list[FaceSamples]
    offset: tuple[int, int]
    outside: np.ndarray
    """The outside grid's pixels (every :data:`OUTSIDE_STEP`-th row and column from ``offset``)."""
    free: np.ndarray
    """Which outside grid points no mask reaches (only those must keep their value)."""


def face_samples(frame: Frame, face: Face) -> Optional[FaceSamples]:
    """The grid points of ``face`` where its alpha is 1 (or, for a tiny mask, at least 0.5); None when it has none."""
    region, alpha = face.region, face.alpha
    if region.width <= 0 or region.height <= 0:
        return None
    step = max(1, -(-max(region.width, region.height) // SAMPLES_ACROSS))
    grid = alpha[step // 2 :: step, step // 2 :: step]
    rows, cols = np.nonzero(grid >= 1.0)
    if rows.size == 0:
        rows, cols = np.nonzero(grid >= 0.5)
    if rows.size == 0:
        return None
    ys = rows * step + step // 2 + region.y0
    xs = cols * step + step // 2 + region.x0
    values = frame[ys, xs].astype(np.int16)
    deviation = np.abs(values - np.median(values, axis=0)).mean()
    return FaceSamples(ys, xs, values, bool(deviation < FLAT_TEXTURE))


def snapshot(frame: Frame, faces: Sequence[Face], index: int) -> Snapshot:
    """Copy the sample points of ``frame`` before the method runs on frame number ``index``."""
    offset = (index % OUTSIDE_STEP, (index // OUTSIDE_STEP) % OUTSIDE_STEP)
    grid = (slice(offset[0], None, OUTSIDE_STEP), slice(offset[1], None, OUTSIDE_STEP))
    outside = frame[grid].copy()
    free = np.ones(outside.shape[:2], bool)
    for face in faces:
        region = face.region
        if region.width <= 0 or region.height <= 0:
            continue
        # grid rows and columns inside the region, and where they fall in the face's alpha
        first_y = -(-(region.y0 - offset[0]) // OUTSIDE_STEP)
        first_x = -(-(region.x0 - offset[1]) // OUTSIDE_STEP)
        rows = np.arange(first_y, -(-(region.y1 - offset[0]) // OUTSIDE_STEP))
        cols = np.arange(first_x, -(-(region.x1 - offset[1]) // OUTSIDE_STEP))
        if rows.size and cols.size:
            reached = face.alpha[np.ix_(rows * OUTSIDE_STEP + offset[0] - region.y0, cols * OUTSIDE_STEP + offset[1] - region.x0)] > 0
            free[np.ix_(rows, cols)] &= ~reached
    samples = [sample for sample in (face_samples(frame, face) for face in faces) if sample is not None]
    return Snapshot(frame.shape, samples, offset, outside, free)


def changed_fraction(before: np.ndarray, after: np.ndarray) -> float:
    """The share of sample points (rows of ``N x 3`` values) where any channel changed."""
    moved = np.any(after != before, axis=-1)
    return float(moved.mean()) if moved.size else 1.0


def verify(frame: Frame, before: Snapshot, returned: Any) -> Optional[str]:
    """What is wrong with ``frame`` after the method ran (``returned``: what ``anonymize`` returned), or None.

    The answer names the kind of failure only (no counts), so equal failures read the same on every frame.
    """
    if returned is not None:
        return f"anonymize() returned {type(returned).__name__} instead of changing the frame in place and returning None"
    if frame.shape != before.shape or frame.dtype != np.uint8:
        return f"the frame became {frame.shape} {frame.dtype}, not {before.shape} uint8"
    for sample in before.faces:
        if not sample.flat and changed_fraction(sample.values, frame[sample.ys, sample.xs]) < MIN_CHANGED_FRACTION:
            return f"a face was left unchanged (less than {MIN_CHANGED_FRACTION:.0%} of its sampled pixels changed)"
    grid = (slice(before.offset[0], None, OUTSIDE_STEP), slice(before.offset[1], None, OUTSIDE_STEP))
    moved = np.any(frame[grid] != before.outside, axis=-1) & before.free
    if moved.any():
        return "pixels outside the face masks changed, which the method contract forbids"
    return None
