"""Presentation timestamps of decoded frames: the file's own, repaired only where they are broken."""

from __future__ import annotations

import heapq
from collections import deque
from typing import Optional

import av

REORDER_WINDOW = 4
"""Frames whose timestamps are sorted together (more than any B-frame reordering seen in practice)."""


class Timestamps:
    """Hands out ``(pts, duration)`` for decoded frames, in the order the decoder returns them.

    A decoder returns frames in presentation order, and for a sound file their timestamps rise
    and are kept exactly. Some files attach them to the wrong frames (AVI with packed B-frames,
    careless remuxes: 0.04, 0.08, 0.16, 0.12, ...); the timestamps of :data:`REORDER_WINDOW`
    frames in a row are sorted, so frame k gets the k-th smallest, as players show them. A frame
    with no timestamp continues from the latest one; one that would not rise is moved one tick on.
    """

    def __init__(self, default_duration: int) -> None:
        self._pending: list[int] = []  # a heap
        self._durations: deque[int] = deque()
        self._duration = default_duration
        self._latest: Optional[int] = None
        self._last: Optional[int] = None

    def add(self, frame: av.VideoFrame) -> None:
        """Take the timestamp of the next decoded frame."""
        if frame.duration and frame.duration > 0:
            self._duration = frame.duration
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            pts = 0 if self._latest is None else self._latest + self._duration
        self._latest = pts if self._latest is None else max(self._latest, pts)
        heapq.heappush(self._pending, pts)
        self._durations.append(self._duration)

    def __len__(self) -> int:
        """Frames added whose timestamp has not been handed out yet."""
        return len(self._pending)

    def next(self) -> tuple[int, int]:
        """``(pts, duration)`` of the oldest frame not handed out yet."""
        pts = heapq.heappop(self._pending)
        if self._last is not None and pts <= self._last:
            pts = self._last + 1
        self._last = pts
        return pts, self._durations.popleft()
