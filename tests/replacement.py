"""Shared helpers of the learned-method tests: a real portrait with its detection, and one replacement."""

from __future__ import annotations

import cv2
import numpy as np

from anonfilter.detection.centerface import CenterFace
from anonfilter.testing import make_face
from anonfilter.types import FrameInfo
from tests.data import shared_path

Portrait = tuple[np.ndarray, tuple[float, float, float, float], np.ndarray]


def load_portrait(relative: str) -> Portrait:
    """A photo from the shared data (skips when absent) with its best CenterFace box and landmarks."""
    image = cv2.cvtColor(cv2.imread(str(shared_path(relative))), cv2.COLOR_BGR2RGB)
    detections = CenterFace(threads=1).detect(image)
    best = int(np.argmax(detections.scores))
    return image, tuple(float(v) for v in detections.boxes[best]), detections.landmarks[best]


def anonymized(method, image, box, landmarks, key: int) -> np.ndarray:
    """``image`` with the face at ``box`` replaced for identity ``key``."""
    face = make_face(box, image.shape, identity_key=key, landmarks=landmarks)
    out = image.copy()
    method.anonymize(out, [face], FrameInfo(0, 0.0, image.shape[1], image.shape[0]))
    return out
