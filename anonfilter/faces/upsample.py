"""The shared face upsampler: a method's synthetic face, drawn small, brought to the paste size.

The learned methods draw faces at 64x64; pasted onto a close-up by plain interpolation they look
soft. The base class pastes every synthetic face at no less than :data:`OUTPUT_SIZE` pixels and
brings smaller ones there with :func:`upsample`: a small convolutional network (``upsampler.onnx``,
trained by ``training/train_upsampler.py``) that adds edges and texture on top of a bilinear
upscale. It sees only the synthetic face, never the original, so the detail it adds cannot
bring the person back (measured in docs/methods.md). Faces of other sizes are resized with
bicubic interpolation.

Weights trained on UTKFace and CelebA crops: their non-commercial research licences apply.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import onnxruntime

from anonfilter.faces.blend import canonical_mask
from anonfilter.faces.models import beside, from_output, onnx_session, to_input

OUTPUT_SIZE = 128
"""The side of the square crop a synthetic face is pasted from, at least (the training crops' size)."""

MODEL_FILE = "upsampler.onnx"


@lru_cache(maxsize=1)
def _session() -> onnxruntime.InferenceSession:
    return onnx_session(beside(__file__, MODEL_FILE))


def upsample(faces: np.ndarray, size: int = OUTPUT_SIZE) -> np.ndarray:
    """``(N, s, s, 3)`` uint8 synthetic faces -> ``(N, size, size, 3)``: the learned 2x upsampler
    where ``size`` is twice ``s``, bicubic interpolation otherwise (unchanged when ``s == size``)."""
    side = faces.shape[1]
    if side == size:
        return faces
    if 2 * side == size:
        return from_output(_session().run(["output"], {"face": to_input(faces)})[0])
    return np.stack([cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC) for face in faces])


def sharpness(face: np.ndarray) -> float:
    """The detail in a canonical face crop (``s x s x 3`` uint8 RGB): the variance of the Laplacian
    of its grey levels inside :func:`~anonfilter.faces.blend.canonical_mask` (the figure
    docs/methods.md compares upsamplers by; a real 128-px face has several times a smeared one's)."""
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(cv2.Laplacian(grey, cv2.CV_64F)[canonical_mask(face.shape[0]) > 0.5].var())
