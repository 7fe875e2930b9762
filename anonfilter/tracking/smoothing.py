"""Centred smoothing of a track's detections, so masks and alignments do not jitter (offline).

A detector places a face's box and landmarks a pixel or two differently on every frame, even on
a still head. A method that aligns a synthetic face on the landmarks and blends it in with the
face's mask then moves its seam with that noise: the seam flickers. The offline tracker holds a
look-ahead of frames, so each detection can be replaced by a local line fitted through the
track's detections on both sides of it (Gaussian weights over time): noise is averaged out,
steady motion is followed without lag.

Fail closed: a smoothed box is the union of the fitted box (moved outwards by the detections'
scatter about the fit, so that it seldom needs the union) and the detected one, so the mask
never covers less than without smoothing; only the landmarks (which place the synthetic face,
not the mask) are used as fitted.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

MAX_OUTWARDS = 0.02
"""A fitted box's side moves outwards by the scatter of the detections, at most this fraction of
the face size (a face the detector places erratically is covered by the union instead of
getting a much larger box, which would misplace a synthetic face aligned on it)."""

_MIN_SPREAD = 1e-6
_OUTWARDS = np.array([-1.0, -1.0, 1.0, 1.0])


def smoothing_radius(sigma_frames: float) -> int:
    """How many frames on each side of a detection the fit looks at (two sigmas; 0 turns smoothing off)."""
    return int(math.ceil(2.0 * sigma_frames)) if sigma_frames > 0 else 0


def local_line(frames: Sequence[int], values: np.ndarray, at: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The value at frame ``at`` of a line fitted by weighted least squares through ``values``,
    and how far the values scatter about that line (weighted root mean square, per column).

    ``values`` is ``(len(frames), k)``; the weights are a Gaussian of ``sigma`` frames around
    ``at``. With the frames on one side only, or a single frame, the weighted mean is used
    instead of a line (a line would extrapolate the noise).
    """
    offsets = np.asarray(frames, np.float64) - at
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    total = weights.sum()
    mean_offset = float((weights * offsets).sum() / total)
    mean = (weights[:, None] * values).sum(0) / total
    spread = float((weights * (offsets - mean_offset) ** 2).sum() / total)
    slope = np.zeros_like(mean)
    if spread >= _MIN_SPREAD and offsets.min() < 0 < offsets.max():
        slope = (weights[:, None] * (offsets - mean_offset)[:, None] * (values - mean)).sum(0) / total / spread
    residuals = values - mean - slope * (offsets - mean_offset)[:, None]
    scatter = np.sqrt((weights[:, None] * residuals**2).sum(0) / total)
    return mean - slope * mean_offset, scatter


def smoothed_box(frames: Sequence[int], boxes: np.ndarray, at: int, sigma: float, detected: np.ndarray) -> np.ndarray:
    """The box at ``at`` fitted through ``boxes`` (one per frame of ``frames``), each side moved
    outwards by the detections' scatter about the fit (at most :data:`MAX_OUTWARDS`), then grown to contain ``detected`` (the
    box the detector found there): never smaller than it on any side.

    The outward move makes the fitted box hold most detections already, so the union with the
    detected box seldom moves an edge: the mask stays still where the detector's box jitters.
    """
    fitted, scatter = local_line(frames, boxes, at, sigma)
    limit = MAX_OUTWARDS * float(max(fitted[2] - fitted[0], fitted[3] - fitted[1], 1.0))
    fitted = fitted + np.minimum(scatter, limit) * _OUTWARDS
    return np.concatenate([np.minimum(fitted[:2], detected[:2]), np.maximum(fitted[2:], detected[2:])])


def smoothed_landmarks(frames: Sequence[int], landmarks: Sequence[Optional[np.ndarray]], at: int, sigma: float) -> Optional[np.ndarray]:
    """The landmarks at ``at`` fitted through those of ``frames`` that have landmarks; None when
    the detection at ``at`` has none."""
    own = dict(zip(frames, landmarks)).get(at)
    if own is None:
        return None
    known = [(frame, points) for frame, points in zip(frames, landmarks) if points is not None and points.shape == own.shape]
    values = np.stack([points.reshape(-1) for _, points in known])
    return local_line([frame for frame, _ in known], values, at, sigma)[0].reshape(own.shape)
