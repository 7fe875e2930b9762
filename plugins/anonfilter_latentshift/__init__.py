"""The ``latentshift`` method: autoencoder latent shift toward a per-person target face.

From the seed autoencoder-face-deidentification: the aligned face is encoded to a latent code,
the code is shifted by ``strength`` toward a target code, decoded, sharpened by a deblurrer and
cleaned by a smoothener (one ONNX graph, ``latentshift.onnx``). The target is a convex mix of
two near-frontal training codes from one k-means cluster (``latentshift_targets.npy``), all
chosen by the tracker's identity key: one stable synthetic face per person, no real person's.

Weights trained by ``training/train_latentshift.py`` on UTKFace and CelebA crops; their
non-commercial licences apply to the weights.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

import anonfilter
from anonfilter.faces import COMMON_OPTIONS, LearnedFaceMethod, beside, from_output, key_rng, onnx_session, to_input

ANONFILTER_CONTRACT = "1.2"
MODEL_FILE = "latentshift.onnx"
TARGETS_FILE = "latentshift_targets.npy"
DEFAULT_STRENGTH = 0.8
MIXED_MEMBERS = 2
DISTINCTIVENESS = 1.5
"""How far a target lies from its cluster's centre, relative to the mix of members: above 1 the
faces are more distinct from each other, and artefacts show from about 2 (figures: docs/benchmark.md,
"Why the defaults are what they are")."""


class LatentShift(LearnedFaceMethod):
    """Replace each face by its autoencoder reconstruction shifted toward the person's target code."""

    def __init__(self, strength: float = DEFAULT_STRENGTH, **options: float) -> None:
        super().__init__(**options)
        if not 0.0 <= strength <= 1.0:
            raise ValueError("strength must be between 0 and 1")
        self.strength = strength
        self.session = onnx_session(beside(__file__, MODEL_FILE))
        self.targets = np.load(beside(__file__, TARGETS_FILE))
        self.centres = self.targets.mean(axis=1)

    def target(self, identity_key: int) -> np.ndarray:
        """The latent target of one identity, chosen by the key.

        A random convex mix of two members of one cluster, moved away from the cluster's centre
        by :data:`DISTINCTIVENESS`.
        """
        rng = key_rng(identity_key, "latentshift")
        clusters, members, _ = self.targets.shape
        cluster = rng.integers(clusters)
        chosen = rng.choice(members, MIXED_MEMBERS, replace=False)
        weights = rng.dirichlet(np.full(MIXED_MEMBERS, 2.0))
        mix = weights @ self.targets[cluster, chosen]
        return (self.centres[cluster] + DISTINCTIVENESS * (mix - self.centres[cluster])).astype(np.float32)

    def synthesize(self, crops: np.ndarray, faces: Sequence[anonfilter.Face]) -> np.ndarray:
        """Run the ONNX chain on the aligned crops with each face's target."""
        targets = np.stack([self.target(face.identity_key) for face in faces])
        strength = np.full((len(crops), 1), self.strength, np.float32)
        output = self.session.run(["output"], {"face": to_input(crops), "target": targets, "strength": strength})[0]
        return from_output(output)


OPTIONS = (
    anonfilter.Option("strength", float, DEFAULT_STRENGTH, "how far the latent code moves toward the target", minimum=0.0, maximum=1.0),
) + COMMON_OPTIONS


@anonfilter.hookimpl
def register_methods(register):
    """Register ``latentshift``."""
    register(
        anonfilter.MethodSpec(
            name="latentshift",
            create=LatentShift,
            description="synthetic face: autoencoder latent shifted toward a stable per-person target",
            options=OPTIONS,
        )
    )
