"""The host's check of what a method did to a frame: plugins are untrusted, so their work is verified.

Before the method runs, :func:`snapshot` copies a few pixels of the frame: a grid of up to
:data:`SAMPLES_ACROSS` x :data:`SAMPLES_ACROSS` points over each face's opaque mask (where
``alpha`` is 1, so the method's result is used there unblended), and a strided grid of the whole
frame, of which the points outside every face's region are checked. After it, :func:`verify` says
what went wrong, or None:

* the method returned something (a modified copy, say) instead of changing the frame in place;
* the frame's shape or type changed;
* a face's opaque mask was left as it was: fewer than :data:`MIN_CHANGED_FRACTION` of its
  structured sample points (those that differ from their neighbours: eyes, mouth, edges) changed
  at all (a method that did nothing, worked on a copy, rebound ``frame``, skipped a face or
  painted the wrong place leaves them exactly as they were). A flat face, with fewer than
  :data:`MIN_STRUCTURED_POINTS` structured points, shows nothing to recognise and needs no change;
* a pixel outside every face's region changed, which the contract forbids (it allows changes
  only where a face's ``alpha`` is above 0, inside its region). The outside grid is every
  :data:`OUTSIDE_STEP`-th row and column, starting at an offset that moves with the frame index,
  so over ``OUTSIDE_STEP ** 2`` frames every pixel position is checked once. (Pixels inside a
  region where ``alpha`` is 0 are left to the conformance kit, which checks them all.)

It costs two small copies and comparisons per frame, a fraction of a copy and comparison of the
whole frame (figures: docs/benchmark.md, "Why the defaults are what they are").

What it guarantees: no frame is passed on on which the method accidentally left a face's
structured core as it was (or half of it), or changed the sampled picture outside the faces. It
cannot tell a strong anonymization from a weak one (a method that adds faint noise passes): that
is what ``anonfilter check`` measures. docs/plugins.md gives the share every built-in method
changes, measured on real faces of 8 to 512 px.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import cv2
import numpy as np

from anonfilter.types import Face, Frame

SAMPLES_ACROSS = 16
"""Sample points across a face's region, in each direction (up to 256 per face, fewer inside the mask)."""
OUTSIDE_STEP = 16
"""The outside grid takes every 16th row and column (1/256 of the frame)."""
MIN_CHANGED_FRACTION = 0.5
"""At least this share of a face's structured sample points must change. Every built-in method
changed at least 89% of them on every real face measured, from 8 to 512 px (docs/plugins.md); an
accidental no-op changes none. Points count as changed when they changed at all: a blur or a
pixelation of a low-contrast face moves many points by only one or two levels."""
STRUCTURE_LEVELS = 4
"""A sample point is structured (shows something) when it differs from its grid neighbours' mean by more than this."""
MIN_STRUCTURED_POINTS = 4
"""A face with fewer structured points than this is flat: it shows nothing to recognise, and a
blur or a pixelation leaves much of it as it was (figures: docs/benchmark.md, "Why the defaults are what they are")."""


@dataclass(frozen=True)
class FaceSamples:
    """Pixels at a grid of points inside one face's opaque mask, in frame coordinates."""

    ys: np.ndarray
    xs: np.ndarray
    values: np.ndarray
    """``N x 3`` int16, the structured points' values before the method ran."""
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
    """Which outside grid points lie outside every face's region (those must keep their value)."""


def face_samples(frame: Frame, face: Face) -> Optional[FaceSamples]:
    """The structured grid points of ``face`` where its alpha is 1 (or, for a tiny mask, at least 0.5).

    None when the mask has no grid point. A point is structured when one of its channels differs
    by more than :data:`STRUCTURE_LEVELS` from the mean of its four grid neighbours: an edge, an
    eye, a mouth, hair, not a smooth cheek or background, where a pixelation or a blur of a
    low-contrast patch leaves values as they were.
    """
    region, alpha = face.region, face.alpha
    if region.width <= 0 or region.height <= 0:
        return None
    step = max(1, -(-max(region.width, region.height) // SAMPLES_ACROSS))
    first = step // 2
    opaque = alpha[first::step, first::step] >= 1.0
    if not opaque.any():
        opaque = alpha[first::step, first::step] >= 0.5
    if not opaque.any():
        return None
    grid = frame[region.slices][first::step, first::step].astype(np.int16)
    # In integers, four times over (|grid - sum / 4| > levels): a handful of small array operations
    # per face, about half the time of the same test with np.pad and floats (docs/benchmark.md).
    padded = cv2.copyMakeBorder(grid, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    deviation = padded[:-2, 1:-1] + padded[2:, 1:-1]
    deviation += padded[1:-1, :-2]
    deviation += padded[1:-1, 2:]
    deviation -= 4 * grid
    structured = opaque & (np.abs(deviation).max(axis=-1) > 4 * STRUCTURE_LEVELS)
    rows, cols = np.nonzero(structured)
    return FaceSamples(
        rows * step + first + region.y0, cols * step + first + region.x0, grid[rows, cols], bool(rows.size < MIN_STRUCTURED_POINTS)
    )


def snapshot(frame: Frame, faces: Sequence[Face], index: int) -> Snapshot:
    """Copy the sample points of ``frame`` before the method runs on frame number ``index``."""
    offset = (index % OUTSIDE_STEP, (index // OUTSIDE_STEP) % OUTSIDE_STEP)
    outside = frame[offset[0] :: OUTSIDE_STEP, offset[1] :: OUTSIDE_STEP].copy()
    free = np.ones(outside.shape[:2], bool)
    for face in faces:  # grid rows and columns inside the face's region
        region = face.region
        rows = slice(-(-(region.y0 - offset[0]) // OUTSIDE_STEP), -(-(region.y1 - offset[0]) // OUTSIDE_STEP))
        cols = slice(-(-(region.x0 - offset[1]) // OUTSIDE_STEP), -(-(region.x1 - offset[1]) // OUTSIDE_STEP))
        free[rows, cols] = False
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
    moved = np.any(frame[before.offset[0] :: OUTSIDE_STEP, before.offset[1] :: OUTSIDE_STEP] != before.outside, axis=-1)
    moved &= before.free
    if moved.any():
        return "pixels outside the face masks changed, which the method contract forbids"
    return None
