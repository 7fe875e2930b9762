"""Where the picture changed since it was last searched closely: the areas a new face may be in.

A face cannot appear in a part of the frame without changing its pixels. So focused detection
keeps, for every pixel, a small grey copy of how it looked when it was last searched at the
small-face scale (:class:`ChangeMap`'s reference), and each detector run searches closely every
area that now differs from that copy by more than :data:`CHANGE` grey levels. Comparing with the
last *searched* picture rather than the previous frame means slow changes (a fade, a face
creeping in a pixel at a time) add up until they are searched too.

The map is computed on a grey copy of about :data:`CHANGE_SIDE` pixels on its longer side (a
1080p frame at half size, 4K at a quarter), so a 16 px face is still 4 pixels there.

A moving camera moves the whole picture without anything new appearing in most of it. So the
reference moves with the picture: the camera's shift since the previous call is measured by
phase correlation of the two grey copies, and the reference is shifted by it, the strip that
comes into view counting as never searched (only when more than :data:`SHIFT_FROM` of the frame
would be searched otherwise: where less changed there is little for a shift to save). This never
hides a change: where the shift is wrong (parallax, zoom, rotation, a moving object taken for the
camera), the picture differs from the shifted reference and is searched; only a picture that
matches the searched one moved is skipped.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from anonfilter.geometry import Rect
from anonfilter.types import Frame

CHANGE_SIDE = 960
"""Longer side, in pixels, of the grey copy the change is measured on (never more than the frame)."""
MIN_SHIFT_RESPONSE = 0.05
"""Phase correlation peaks weaker than this (a flat or chaotic picture) are no camera shift: the
reference stays where it is (which can only make more of the frame count as changed)."""
SPARSE = 0.5
"""A group of changes that fills less of its bounding box than this is covered by smaller boxes."""
SPLIT_DEPTH = 6
"""At most this many halvings when covering a sparse group (up to 64 boxes)."""
SHIFT_GAIN = 0.8
"""A measured shift is taken only when it leaves at most this fraction of the difference that no
shift leaves (a picture with one changed patch on a flat ground has spurious peaks)."""
NEVER_SEARCHED = -1000
"""Reference value of a pixel never searched: it differs from any grey level."""
SHIFT_FROM = 0.1
"""The camera's shift is measured only when the changed areas, grown by the margin, cover more than
this fraction of the frame. Without it the reference stays where it is, which can only make more
of the frame count as changed, never less; so a fixed camera (or one that moved so little that at
most a tenth of the frame is to be searched) is spared the phase correlation, the change map's
costliest step (about 8 of its 30 ms a detector run at 4K)."""
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


def covering_rects(mask: np.ndarray, x: int, y: int, depth: int = SPLIT_DEPTH) -> list[Rect]:
    """Rectangles (offset by ``x``, ``y``) that together hold every set pixel of ``mask``: its
    bounding box, or, when that is mostly empty, the two halves of it covered in turn."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return []
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1
    tight = mask[top:bottom, left:right]
    height, width = tight.shape
    if depth == 0 or tight.sum() >= SPARSE * width * height:
        return [(x + left, y + top, x + right, y + bottom)]
    if width >= height:
        half = width // 2
        parts = [(tight[:, :half], left, top), (tight[:, half:], left + half, top)]
    else:
        half = height // 2
        parts = [(tight[:half], left, top), (tight[half:], left, top + half)]
    return aligned_merged([rect for part, dx, dy in parts for rect in covering_rects(part, x + dx, y + dy, depth - 1)])


def aligned_merged(rects: list[Rect]) -> list[Rect]:
    """``rects`` with neighbours that line up exactly (same columns or rows, touching) made one."""
    rects = list(rects)
    merged = True
    while merged:
        merged = False
        for i, a in enumerate(rects):
            for j in range(i + 1, len(rects)):
                b = rects[j]
                if (
                    (a[0], a[2]) == (b[0], b[2])
                    and (a[3] == b[1] or b[3] == a[1])
                    or (a[1], a[3]) == (b[1], b[3])
                    and (a[2] == b[0] or b[2] == a[0])
                ):
                    rects[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    return rects


def differs(current: np.ndarray, reference: np.ndarray, change: float, tolerate_one_pixel: bool) -> np.ndarray:
    """Where ``current`` differs from ``reference`` by more than ``change`` grey levels (and every
    pixel never searched). ``tolerate_one_pixel``: a pixel differs only when it lies outside the
    range of its reference's 3 x 3 neighbourhood by that much, so a picture moved by a fraction of
    a pixel more or less than measured does not count as changed at every edge."""
    if not tolerate_one_pixel:
        return np.abs(current - reference) > change
    kernel = np.ones((3, 3), np.uint8)
    lowest, highest = cv2.erode(reference, kernel), cv2.dilate(reference, kernel)
    return (lowest == NEVER_SEARCHED) | (current < lowest - change) | (current > highest + change)


def camera_shift(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """``(dx, dy)`` in pixels by which the picture moved from ``before`` to ``after`` (grey copies);
    ``(0, 0)`` when phase correlation finds no clear shift."""
    window = cv2.createHanningWindow((before.shape[1], before.shape[0]), cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(before.astype(np.float32), after.astype(np.float32), window)
    if response < MIN_SHIFT_RESPONSE or (round(dx), round(dy)) == (0, 0):
        return 0.0, 0.0
    height, width = before.shape
    x, y = round(dx), round(dy)  # the shift must explain the picture better than no shift at all
    inner = (slice(max(0, y), height + min(0, y)), slice(max(0, x), width + min(0, x)))
    source = (slice(max(0, -y), height - max(0, y)), slice(max(0, -x), width - max(0, x)))
    still = float(np.abs(after[inner] - before[inner]).mean())
    moved = float(np.abs(after[inner] - before[source]).mean())
    return (float(dx), float(dy)) if moved < SHIFT_GAIN * still else (0.0, 0.0)


def shifted(reference: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``reference`` moved by ``(dx, dy)`` pixels (bilinear); a pixel that takes anything from
    outside the picture or from a pixel never searched was never searched."""
    dx, dy = shift
    if abs(dx) < 0.05 and abs(dy) < 0.05:
        return reference
    height, width = reference.shape
    move = np.float32([[1, 0, dx], [0, 1, dy]])
    searched = (reference != NEVER_SEARCHED).astype(np.float32)
    moved = cv2.warpAffine(reference.astype(np.float32), move, (width, height), flags=cv2.INTER_LINEAR)
    whole = cv2.warpAffine(searched, move, (width, height), flags=cv2.INTER_LINEAR, borderValue=0.0) > 0.999
    return np.where(whole, np.rint(moved), NEVER_SEARCHED).astype(reference.dtype)


class ChangeMap:
    """The areas of each frame that changed since they were last searched (frame coordinates)."""

    def __init__(self, change: float = CHANGE, side: int = CHANGE_SIDE) -> None:
        self.change = change
        self.side = side
        self._reference: np.ndarray | None = None
        self._moved = False
        """The reference has been shifted since it was last searched whole (interpolated, so
        compared with a tolerance of one pixel's displacement)."""
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
        previous, self._current = self._current, grey_copy(frame, self._scale)
        if self._reference is None or self._reference.shape != self._current.shape:
            self._reference = np.full_like(self._current, NEVER_SEARCHED)  # never searched: all changed
        grow = 1 + 2 * (math.ceil(margin * self._scale) + 1)  # + 1: the blur's reach, where a change may fall under the threshold
        mask, grown = self._changes(grow)
        if previous is not None and previous.shape == self._current.shape and grown.mean() > SHIFT_FROM:
            shift = camera_shift(previous, self._current)
            if shift != (0.0, 0.0):
                self._moved = True
                self._reference = shifted(self._reference, shift)
                mask, grown = self._changes(grow)
        if not mask.any():
            return []
        count, labels, stats, _centroids = cv2.connectedComponentsWithStats(grown)
        rects = []
        for label, (x, y, w, h, area) in enumerate(stats[1:count], start=1):
            if area >= SPARSE * w * h:
                rects.append((x, y, x + w, y + h))
            else:  # an L or a frame of strips (a moving camera's new edges): split it
                rects += covering_rects(labels[y : y + h, x : x + w] == label, x, y)
        return [
            (
                max(0, math.floor(x0 / self._scale)),
                max(0, math.floor(y0 / self._scale)),
                min(width, math.ceil(x1 / self._scale)),
                min(height, math.ceil(y1 / self._scale)),
            )
            for x0, y0, x1, y1 in rects
        ]

    def _changes(self, grow: int) -> tuple[np.ndarray, np.ndarray]:
        """Where the latest frame differs from the reference (0 or 1), and that grown to ``grow`` x ``grow`` pixels around each."""
        assert self._current is not None and self._reference is not None
        mask = differs(self._current, self._reference, self.change, tolerate_one_pixel=self._moved).astype(np.uint8)
        return mask, cv2.dilate(mask, np.ones((grow, grow), np.uint8))

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
            if (a0, b0, a1, b1) == (0, 0, width, height):
                self._moved = False  # the reference is the picture as it is, nothing interpolated
