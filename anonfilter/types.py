"""The small typed values passed between the stages of the pipeline.

Data flows one way: frames in -> :class:`Detections` -> tracks -> :class:`Face` (with mask and
identity key) -> a method plugin -> frames out. Plugins see these types and nothing else.

Frames everywhere are ``numpy.ndarray`` of shape ``(height, width, 3)``, dtype ``uint8``, in RGB
order, C-contiguous.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple, Optional, Protocol

import numpy as np

Frame = np.ndarray
"""An RGB image: ``(height, width, 3)`` ``uint8``."""


@dataclass(frozen=True)
class Detections:
    """Faces found by a detector in one frame, in frame pixel coordinates.

    ``boxes`` is ``(N, 4)`` float32 ``x0, y0, x1, y1``; ``scores`` is ``(N,)`` float32 in 0..1;
    ``landmarks`` is ``(N, 5, 2)`` float32 (left eye, right eye, nose, left and right mouth
    corner, as seen in the image) or ``None`` when the detector gives none.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if self.boxes.shape != (len(self.scores), 4):
            raise ValueError(f"boxes must be (N, 4) for N={len(self.scores)} scores, got {self.boxes.shape}")
        if self.landmarks is not None and self.landmarks.shape != (len(self.scores), 5, 2):
            raise ValueError(f"landmarks must be (N, 5, 2), got {self.landmarks.shape}")

    @classmethod
    def empty(cls) -> "Detections":
        """No faces."""
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: "np.ndarray | slice") -> "Detections":
        """Select a subset with a boolean mask, index array or slice."""
        landmarks = None if self.landmarks is None else self.landmarks[index]
        return Detections(self.boxes[index], self.scores[index], landmarks)


@dataclass(frozen=True)
class Region:
    """An integer pixel rectangle ``[x0, x1) x [y0, y1)`` inside a frame."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in pixels."""
        return self.y1 - self.y0

    @property
    def slices(self) -> tuple[slice, slice]:
        """``frame[region.slices]`` is the region's pixels (a view)."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


class FaceStatus(str, Enum):
    """How the tracker knows where a face is in a frame. A string too (``FaceStatus.DETECTED ==
    "detected"``), so plugins that compare with the strings keep working."""

    DETECTED = "detected"
    """The detector saw the face in this frame."""
    FILLED = "filled"
    """The tracker filled a gap between detections or extended a track before or after them."""
    COASTING = "coasting"
    """Live: a lost track predicted forward."""

    def __str__(self) -> str:
        """``"detected"``, not ``"FaceStatus.DETECTED"``, in messages and reports."""
        return str(self.value)

    def __format__(self, spec: str) -> str:
        """As :meth:`__str__`, in f-strings."""
        return format(str(self.value), spec)


@dataclass(frozen=True)
class Face:
    """One face to anonymize in one frame, as a method plugin receives it.

    ``box`` and ``landmarks`` are in frame coordinates. ``region`` is the rectangle a method may
    change, and ``alpha`` (float32, ``region.height x region.width``, 0..1) says how much of the
    method's result is used at each of its pixels: 1 over the face and its margin (hair, ears,
    chin), falling to 0 at a feathered edge. ``identity_key`` is stable for one person across the
    whole run (through missed detections, occlusion and re-entry) and unrelated to what the face
    looks like: use it to seed anything random so a person keeps one replacement face.
    ``status`` is a :class:`FaceStatus` (a string: ``"detected"``, ``"filled"`` or ``"coasting"``).
    """

    track_id: int
    identity_key: int
    box: tuple[float, float, float, float]
    score: float
    status: FaceStatus | str
    region: Region
    alpha: np.ndarray = field(repr=False)
    landmarks: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def size(self) -> float:
        """The face's size in pixels: the longer side of its box."""
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, y1 - y0)


@dataclass(frozen=True)
class FrameInfo:
    """Where a frame sits in its stream."""

    index: int
    time: float
    width: int
    height: int
    live: bool = False


class FrameStore(Protocol):
    """Where the decoded frames come from (the transcoder): a processor that holds frames back may
    give a frame's array back meanwhile and ask for its pixels again later, so that frames wait as
    the decoder's much smaller YUV instead of RGB."""

    def release(self, index: int, frame: Frame) -> None:
        """Frame ``index``'s array ``frame`` is no longer used; it may hold another frame's pixels from now on."""

    def restore(self, index: int) -> Frame:
        """Frame ``index``'s pixels as they were decoded (a new RGB array), until it is returned finished."""


class AnonymizedFrame(NamedTuple):
    """A frame the pipeline is done with, as one value: its pixels (anonymized in place, or
    obscured whole), where it sits, and the regions that may differ from the frame pushed (the
    faces' regions, or the whole frame). Pixels outside ``changed`` are as they came in; the
    transcoder converts only these regions back to YUV."""

    frame: Frame
    info: FrameInfo
    changed: tuple[Region, ...]
