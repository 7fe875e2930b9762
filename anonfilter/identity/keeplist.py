"""The keep-list: people (from photos) whose faces stay visible, e.g. the streamer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from anonfilter.errors import AnonfilterError
from anonfilter.hookspecs import Detector
from anonfilter.identity.embedder import FaceEmbedder, distance
from anonfilter.types import Frame

PHOTO_FACE_SCORE = 0.5
PHOTO_RESOLUTION = 640
"""Keep photos are detected with their longer side scaled down to this (a phone photo is large)."""
PHOTO_BORDER = 0.25
"""Border added around a keep photo before detection, as a fraction of its longer side."""
BACKGROUND_FACE_RATIO = 0.25
"""Faces smaller than this fraction of the largest face in a photo are ignored (background)."""

PhotoDetector = Callable[[int], Detector]
"""Makes the detector for one keep photo, given the resolution to detect it at; whoever builds the
keep list gets it from the plugin host with :func:`photo_detector_options`."""


def photo_detector_options(resolution: int) -> list[str]:
    """The detector options for a keep photo detected at ``resolution``: full precision, :data:`PHOTO_FACE_SCORE`."""
    return [f"threshold={PHOTO_FACE_SCORE!r}", f"resolution={resolution}", "precision=fp32"]


def load_photo(path: str) -> Frame:
    """An RGB image from ``path``; one-line :class:`AnonfilterError` when missing or unreadable."""
    if not os.path.isfile(path):
        raise AnonfilterError(f"keep photo not found: {path}")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise AnonfilterError(f"keep photo is not a readable image: {path}")
    return np.ascontiguousarray(image[:, :, ::-1])


def photo_face_box(photo: Frame, path: str, detector_for: PhotoDetector) -> tuple[float, float, float, float]:
    """The box of the one face in a keep photo; error when there is none or more than one.

    The photo gets a grey border (CenterFace misses faces that fill the whole image) and is
    detected at most at :data:`PHOTO_RESOLUTION`, never enlarged (a small crop blown up scores low).
    A few photos need no speed: the full-precision model finds their faces.
    ``detector_for`` makes the detector for the resolution (:data:`PhotoDetector`).
    """
    border = int(PHOTO_BORDER * max(photo.shape[:2]))
    padded = cv2.copyMakeBorder(photo, border, border, border, border, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    detector = detector_for(min(PHOTO_RESOLUTION, max(padded.shape[:2])))
    detections = detector.detect(padded)
    if len(detections) == 0:
        raise AnonfilterError(f"no face found in keep photo {path}")
    sizes = np.maximum(detections.boxes[:, 2] - detections.boxes[:, 0], detections.boxes[:, 3] - detections.boxes[:, 1])
    faces = np.flatnonzero(sizes >= BACKGROUND_FACE_RATIO * sizes.max())
    if len(faces) > 1:
        raise AnonfilterError(f"{len(faces)} faces found in keep photo {path}; use a photo of only the person to keep")
    return tuple(float(v) - border for v in detections.boxes[faces[0]])


class KeepList:
    """Embeddings of the people to leave visible; empty when no photos are given."""

    def __init__(self, embeddings: Sequence[np.ndarray] = ()) -> None:
        self.embeddings = np.array(list(embeddings), np.float32).reshape(-1, 128)

    @classmethod
    def from_photos(cls, paths: Sequence[str], embedder: FaceEmbedder, detector_for: PhotoDetector) -> "KeepList":
        """One embedding per photo (each must show exactly one face, found by a ``detector_for`` detector)."""
        embeddings = []
        for path in paths:
            photo = load_photo(path)
            embedding = embedder.embed(photo, photo_face_box(photo, path, detector_for))
            if embedding is None:
                raise AnonfilterError(f"no usable face in keep photo {path}")
            embeddings.append(embedding)
        return cls(embeddings)

    def __bool__(self) -> bool:
        return len(self.embeddings) > 0

    def distance(self, embedding: np.ndarray) -> float:
        """Distance from ``embedding`` to the nearest keep-list person (infinity when the list is empty)."""
        if not self:
            return float("inf")
        return float(distance(embedding, self.embeddings).min())


@dataclass
class CheckRun:
    """Consecutive keep-list checks of one track with the same outcome."""

    passed: bool
    first: int
    last: int
    count: int = 1


class KeepChecks:
    """The keep-list checks of one track, as runs of equal outcomes, and the rule for keeping a frame.

    A frame is kept only inside a run of at least ``matches`` passing checks (offline, where the
    whole run is known) or shortly after the latest check when it closes such a run (live and at
    the end of a track). A failed check ends the run: any doubt anonymizes. Old runs are dropped
    with :meth:`forget`, so memory stays constant.
    """

    def __init__(self) -> None:
        self.runs: list[CheckRun] = []

    def add(self, index: int, passed: bool) -> None:
        """Record a check at frame ``index``."""
        last = self.runs[-1] if self.runs else None
        if last is not None and last.passed == passed:
            last.last = index
            last.count += 1
        else:
            self.runs.append(CheckRun(passed, index, index))

    @property
    def last_index(self) -> Optional[int]:
        """Frame of the latest check (None before the first)."""
        return self.runs[-1].last if self.runs else None

    @property
    def promising(self) -> bool:
        """True until the track has failed: no check yet, or the latest one passed."""
        return not self.runs or self.runs[-1].passed

    def kept(self, index: int, matches: int, hold: int, whole_runs: bool) -> bool:
        """Whether frame ``index`` is kept visible.

        ``hold``: frames a face stays kept after the latest passing check; ``whole_runs``: frames
        between the first and last check of a passing run count too (offline: the run is known).
        """
        for position, run in enumerate(self.runs):
            if not run.passed or run.count < matches:
                continue
            if whole_runs and run.first <= index <= run.last:
                return True
            if position == len(self.runs) - 1 and run.last <= index <= run.last + hold:
                return True
        return False

    def forget(self, index: int) -> None:
        """Drop runs that ended before frame ``index`` and can no longer decide a frame."""
        while len(self.runs) > 1 and self.runs[0].last < index:
            self.runs.pop(0)
