"""Scene cuts: a frame whose picture is not the previous frame's moved or changed a little.

Two frames are compared on small grey thumbnails by how much they changed (mean absolute
difference, grey levels 0-255) and how alike their structure still is (correlation of the
thumbnails with their means removed). A camera pan or fast motion changes many grey levels but
keeps the structure (correlation 0.58 and more on the shared clips); a cut to another shot keeps
neither (hamilton's three cuts: 0.03-0.21, also where both shots are dark and only 27-30 grey
levels apart on average).

Used by the offline tracker (no track runs across a cut, so two people who happen to stand at
the same place before and after it do not share a track and its replacement face) and by
focused detection (after a large change of picture every patrol tile is searched again).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from anonfilter.types import Frame

CUT_CHANGE = 10.0
"""A cut changes the picture by more than this many grey levels on average..."""
CUT_CORRELATION = 0.4
"""... and leaves less than this correlation between the two thumbnails."""
SAMPLES = 64
"""The frames are compared on about this many pixels along their longer side (a strided view:
no resizing, a fraction of a millisecond for a 1080p frame)."""


def thumbnail(frame: Frame) -> np.ndarray:
    """A small grey version of ``frame`` (every n-th pixel, mean of the channels), as float32."""
    step = max(1, max(frame.shape[:2]) // SAMPLES)
    return frame[::step, ::step].mean(axis=2, dtype=np.float32)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two same-shape arrays (0 when either is flat)."""
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / norm if norm > 0 else 0.0


class SceneCuts:
    """Tells, frame after frame, whether each one starts a new scene.

    A frame is a cut when it changed by more than ``min_change`` grey levels on average since
    the previous one *and* its thumbnail correlates less than ``max_correlation`` with the
    previous one's. ``max_correlation`` above 1 makes any change larger than ``min_change`` a cut.
    """

    def __init__(self, min_change: float = CUT_CHANGE, max_correlation: float = CUT_CORRELATION) -> None:
        self.min_change = min_change
        self.max_correlation = max_correlation
        self._last: Optional[np.ndarray] = None
        self._size: tuple[int, ...] = ()

    def is_cut(self, frame: Frame) -> bool:
        """True for the first frame, after a change of frame size, and on a cut (see the class)."""
        small = thumbnail(frame)
        last, self._last = self._last, small
        size, self._size = self._size, frame.shape
        if last is None or size != frame.shape:
            return True
        if float(np.abs(small - last).mean()) <= self.min_change:
            return False
        return self.max_correlation > 1 or correlation(small, last) < self.max_correlation
