"""anonfilter-noise: each person's face becomes a coarse colour-noise pattern of their own.

The pattern is drawn from a random generator seeded with the face's identity key, so one person
keeps one pattern through the whole video (also across missed detections and re-entry, because
the tracker keeps the key) and two people get different ones.
"""

import cv2
import numpy as np

import anonfilter

ANONFILTER_CONTRACT = "1.0"


class Noise(anonfilter.PerFaceMethod):
    """Replace the face with a ``cells`` x ``cells`` pattern of random colours, one per identity."""

    def __init__(self, cells: int = 6) -> None:
        if cells < 2:
            raise ValueError("cells must be at least 2")
        self.cells = cells

    def replace(self, crop: anonfilter.Frame, face: anonfilter.Face) -> anonfilter.Frame:
        """The identity's pattern, stretched over the crop."""
        rng = np.random.default_rng(face.identity_key)
        pattern = rng.integers(0, 256, size=(self.cells, self.cells, 3), dtype=np.uint8)
        height, width = crop.shape[:2]
        return cv2.resize(pattern, (width, height), interpolation=cv2.INTER_NEAREST)


@anonfilter.hookimpl
def register_methods(register):
    """Tell anonfilter about the ``noise`` method."""
    register(
        anonfilter.MethodSpec(
            name="noise",
            create=Noise,
            description="a colour-noise pattern per person (example plugin)",
            options=[anonfilter.Option("cells", int, 6, "pattern cells across the face")],
        )
    )
