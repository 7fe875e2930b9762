"""The ``blur`` method: a Gaussian blur whose strength grows with the face's size."""

import anonfilter
from anonfilter.methods import face_strength_blur

ANONFILTER_CONTRACT = "1.2"
MIN_STRENGTH = 0.05
"""The weakest blur accepted: sigma 1/20 of the face size, 2.5 times weaker than the default whose
strength was measured (``MIN_BLUR_SIGMA`` still applies to small faces)."""


class Blur(anonfilter.PerFaceMethod):
    """Blur each face with sigma = ``strength`` x face size (0.125 leaves no face recognisable)."""

    def __init__(self, strength: float) -> None:
        if not MIN_STRENGTH <= strength <= 1.0:
            raise ValueError(f"strength must be between {MIN_STRENGTH} and 1")
        self.strength = strength

    def replace(self, crop: anonfilter.Frame, face: anonfilter.Face) -> anonfilter.Frame:
        """A blurred copy of the crop."""
        return face_strength_blur(crop, face.size, self.strength)


@anonfilter.hookimpl
def register_methods(register):
    """Register ``blur``."""
    register(
        anonfilter.MethodSpec(
            name="blur",
            uses_identity=False,
            uses_landmarks=False,
            create=Blur,
            description="Gaussian blur, stronger for larger faces (the default)",
            options=[
                anonfilter.Option("strength", float, 0.125, "blur sigma as a fraction of the face size", minimum=MIN_STRENGTH, maximum=1.0)
            ],
        )
    )
