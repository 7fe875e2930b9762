"""Face-recognition embeddings with dlib's ResNet (128-D; same person when the distance is below 0.6).

The two model files ship in the ``face_recognition_models`` package (CC0). That package is found
with :func:`importlib.util.find_spec` and its files are read by path: importing it needs an old
setuptools. An embedding is costly (docs/benchmark.md has the figure), so callers budget them.
"""

from __future__ import annotations

import os
import time
from importlib.util import find_spec
from typing import Callable, Optional, Sequence

import numpy as np

from anonfilter.errors import AnonfilterError
from anonfilter.types import Frame

SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
SAME_PERSON_DISTANCE = 0.6
"""dlib's convention: two embeddings closer than this are the same person."""


def model_dir() -> str:
    """The ``models`` folder inside the installed ``face_recognition_models`` package (not imported)."""
    spec = find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise AnonfilterError("the 'face_recognition_models' package (dlib face-recognition weights) is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "models")


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between embeddings ``a`` (``(128,)`` or ``(N, 128)``) and ``b`` (``(M, 128)``)."""
    a = np.atleast_2d(a)
    b = np.atleast_2d(b)
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


class FaceEmbedder:
    """Computes a 128-D identity embedding of the face in a box of an RGB frame.

    The box is aligned with dlib's 5-point landmark model and the face chip is fed to the ResNet.
    ``calls`` and ``seconds`` count the work done, for reports.
    """

    def __init__(self) -> None:
        try:
            import dlib  # imported here so the rest of anonfilter works without dlib
        except ImportError:
            raise AnonfilterError("dlib is not installed (pip install dlib-bin); or run with --no-reid and no --keep") from None

        folder = model_dir()
        self._dlib = dlib
        self._shape = dlib.shape_predictor(os.path.join(folder, SHAPE_MODEL))
        self._net = dlib.face_recognition_model_v1(os.path.join(folder, RECOGNITION_MODEL))
        self._frontal: Optional[Callable[[np.ndarray, int], Sequence[object]]] = None
        self.calls = 0
        self.seconds = 0.0

    def embed(self, frame: Frame, box: tuple[float, float, float, float]) -> Optional[np.ndarray]:
        """The embedding (float32 ``(128,)``) of the face in ``box``, or None when the box is outside the frame."""
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width - 1, x1), min(height - 1, y1)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        start = time.perf_counter()
        image = np.ascontiguousarray(frame)
        shape = self._shape(image, self._dlib.rectangle(x0, y0, x1, y1))
        vector = np.array(self._net.compute_face_descriptor(image, shape), dtype=np.float32)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return vector

    def frontal_faces(self, frame: Frame) -> np.ndarray:
        """Boxes ``(N, 4)`` of the faces dlib's own HOG frontal-face detector finds in ``frame`` (no upsampling).

        A second opinion on whether something is a face, independent of the pipeline's detector:
        it finds frontal and slightly turned faces of about 80 pixels and more.
        """
        if self._frontal is None:
            self._frontal = self._dlib.get_frontal_face_detector()
        rects = self._frontal(np.ascontiguousarray(frame), 0)
        return np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float64).reshape(-1, 4)
