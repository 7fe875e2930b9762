"""Where the picture changed since it was last searched closely: the areas a new face may be in.

A face cannot appear in a part of the frame without changing its pixels. So focused detection
keeps, for every pixel, a small grey copy of how it looked when it was last searched at the
small-face scale (:class:`ChangeMap`'s reference), and each detector run searches closely every
area that now differs from that copy by more than :data:`CHANGE` grey levels. Comparing with the
last *searched* picture rather than the previous frame means slow changes (a fade, a face
creeping in a pixel at a time) add up until they are searched too.

The map is computed on a grey copy of about :data:`CHANGE_SIDE` pixels on its longer side (a
1080p frame at half size, 4K at a quarter), so a 16 px face is still 4 pixels there.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from anonfilter.detection.regions import Rect
from anonfilter.types import Frame

CHANGE_SIDE = 960
"""Longer side, in pixels, of the grey copy the change is measured on (never more than the frame)."""
CHANGE = 10.0
"""A pixel of the grey copy that differs from its reference by more than this many grey levels
(after a 3x3 box blur, which takes out most compression noise) has changed."""


def grey_copy(frame: Frame, scale: float) -> np.ndarray:
    """``frame`` (RGB) scaled by ``scale`` with area averaging, in grey, lightly blurred (int16)."""
    height, width = frame.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if scale < 1 else frame
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    return cv2.blur(grey, (3, 3)).astype(np.int16)


class ChangeMap:
    """The areas of each frame that changed since they were last searched (frame coordinates)."""

    def __init__(self, change: float = CHANGE, side: int = CHANGE_SIDE) -> None:
        self.change = change
        self.side = side
        self._reference: np.ndarray | None = None
        self._current: np.ndarray | None = None
        self._scale = 1.0
        self._size = (0, 0)

    def changed(self, frame: Frame, margin: float) -> list[Rect]:
        """Rectangles (frame coordinates) that hold every area of ``frame`` that changed since it
        was last searched, grown by ``margin`` pixels: one per group of changes that close together.

        Everything has changed on the first frame and after a change of frame size. Call
        :meth:`searched` with the areas of this frame that were then searched.
        """
        height, width = frame.shape[:2]
        self._size = (width, height)
        self._scale = min(1.0, self.side / max(width, height))
        self._current = grey_copy(frame, self._scale)
        if self._reference is None or self._reference.shape != self._current.shape:
            self._reference = np.full_like(self._current, -1000)  # never searched: all changed
        mask = (np.abs(self._current - self._reference) > self.change).astype(np.uint8)
        if not mask.any():
            return []
        grow = 1 + 2 * (math.ceil(margin * self._scale) + 1)  # + 1: the blur's reach, where a change may fall under the threshold
        count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(cv2.dilate(mask, np.ones((grow, grow), np.uint8)))
        return [
            (max(0, math.floor(x / self._scale)), max(0, math.floor(y / self._scale)),
             min(width, math.ceil((x + w) / self._scale)), min(height, math.ceil((y + h) / self._scale)))
            for x, y, w, h, _area in stats[1:count]
        ]

    def searched(self, areas: list[Rect]) -> None:
        """Every face in these areas of the latest frame (frame coordinates) was searched for: they
        are its new reference there."""
        if self._current is None or self._reference is None:
            return
        height, width = self._current.shape
        for x0, y0, x1, y1 in areas:  # the grey pixels wholly inside, and those at the frame's edges
            a0, b0 = math.ceil(x0 * self._scale), math.ceil(y0 * self._scale)
            a1 = width if x1 >= self._size[0] else math.floor(x1 * self._scale)
            b1 = height if y1 >= self._size[1] else math.floor(y1 * self._scale)
            self._reference[b0:b1, a0:a1] = self._current[b0:b1, a0:a1]
