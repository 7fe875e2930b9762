"""The ``blur`` method: a Gaussian blur whose strength grows with the face's size."""

import anonfilter
from anonfilter.methods import face_strength_blur

ANONFILTER_CONTRACT = "1.1"


class Blur(anonfilter.PerFaceMethod):
    """Blur each face with sigma = ``strength`` x face size (0.125 leaves no face recognisable)."""

    def __init__(self, strength: float) -> None:
        if strength <= 0:
            raise ValueError("strength must be positive")
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
            options=[anonfilter.Option("strength", float, 0.125, "blur sigma as a fraction of the face size")],
        )
    )
