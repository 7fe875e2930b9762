"""The interface between the pipeline and a tracker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol

import numpy as np

from anonfilter.types import Detections, FaceStatus, Frame

FinishedFrames = list[tuple[int, list["TrackedFace"]]]
"""``(frame_index, faces)`` pairs, in frame order, whose faces will not change any more."""


@dataclass(frozen=True)
class TrackedFace:
    """A face of one track in one frame.

    ``status`` says how the tracker knows where it is (:class:`~anonfilter.types.FaceStatus`).
    ``keep`` is True when the face belongs to a person on the keep-list, so it is left visible.
    """

    track_id: int
    identity_key: int
    box: tuple[float, float, float, float]
    score: float
    status: FaceStatus
    landmarks: Optional[np.ndarray] = field(default=None, repr=False)
    keep: bool = False


class Tracker(Protocol):
    """Feeds frames in order and gets faces back once they are final.

    A live tracker returns each frame's faces at once; an offline tracker may hold frames back
    (a bounded number) to look ahead, and returns them later, always in frame order.
    """

    def push(self, index: int, frame: Frame, detections: Optional[Detections]) -> FinishedFrames:
        """Add frame ``index`` (frames come in order) with its detections.

        ``detections`` is None when the detector did not run on this frame (the pipeline may
        detect on every n-th frame only): the tracker must still return faces for it, predicted
        or interpolated from the frames around it. An empty :class:`Detections` means the
        detector ran and found nothing.
        """

    def flush(self) -> FinishedFrames:
        """No more frames: return all frames still held back."""

    def expected_boxes(self) -> np.ndarray:
        """``(N, 4)`` boxes ``x0, y0, x1, y1`` where faces are expected in the next frame (the
        active tracks'), so the detector can look there closely; ``(0, 4)`` when none."""
