"""The ``decoupled`` method: a face drawn from pose and a control identity, then harmonized.

From the seed "Decoupling identity and visual quality" (Maximov, Elezi, Leal-Taixé): generation
and blending are two networks, one ONNX graph (``decoupled.onnx``).

1. AnonymizationNet draws a new face from the aligned face's *structure* only (its luminance in
   8 x 8 cells, normalised: pose and shading, not the person) and a *control identity*: a code
   drawn from a standard normal distribution seeded by the tracker's identity key, so one person
   keeps one synthetic face on every frame and after re-entry, and different people get
   different ones. The code space was learned from CelebA people's faces, but a drawn code is
   nobody in particular.
2. HarmonizationNet blends that face into the scene: it sees the drawn face, the face mask and a
   heavily blurred copy of the original (8 x 8 cells) as the appearance condition, never the
   original face itself, and predicts a smooth colour and lighting transform.

Weights trained by ``training/train_decoupled.py`` on CelebA and UTKFace crops; their
non-commercial licences apply to the weights.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

import anonfilter
from anonfilter.faces import COMMON_OPTIONS, LearnedFaceMethod, beside, from_output, key_rng, onnx_session, to_input

ANONFILTER_CONTRACT = "1.2"
MODEL_FILE = "decoupled.onnx"
DEFAULT_SPREAD = 1.0


class Decoupled(LearnedFaceMethod):
    """Replace each face by one drawn from its pose and the person's control identity, harmonized."""

    def __init__(self, spread: float = DEFAULT_SPREAD, **options: float) -> None:
        super().__init__(**options)
        if spread <= 0:
            raise ValueError("spread must be positive")
        self.spread = spread
        self.session = onnx_session(beside(__file__, MODEL_FILE))
        self.identity_dim = int(self.session.get_inputs()[1].shape[1])

    def control_identity(self, identity_key: int) -> np.ndarray:
        """The person's control identity code: standard normal numbers (times ``spread``) seeded by the key."""
        return (key_rng(identity_key, "decoupled").standard_normal(self.identity_dim) * self.spread).astype(np.float32)

    def synthesize(self, crops: np.ndarray, faces: Sequence[anonfilter.Face]) -> np.ndarray:
        """Run the two networks on the aligned crops, each with its person's control identity."""
        codes = np.stack([self.control_identity(face.identity_key) for face in faces])
        return from_output(self.session.run(["output"], {"face": to_input(crops), "identity": codes})[0])


OPTIONS = (
    anonfilter.Option(
        "spread",
        float,
        DEFAULT_SPREAD,
        "how far control identities lie from the average face (1: as far as real people)",
        above=0.0,
        maximum=10.0,
    ),
) + COMMON_OPTIONS


@anonfilter.hookimpl
def register_methods(register):
    """Register ``decoupled``."""
    register(
        anonfilter.MethodSpec(
            name="decoupled",
            create=Decoupled,
            description="synthetic face drawn from pose and a stable per-person control identity, then harmonized (decoupling seed)",
            options=OPTIONS,
        )
    )
