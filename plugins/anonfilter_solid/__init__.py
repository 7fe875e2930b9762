"""The ``solid`` method: fill each face with one colour."""

import numpy as np

import anonfilter

ANONFILTER_CONTRACT = "1.2"


def parse_color(text: str) -> tuple[int, int, int]:
    """``"R,G,B"`` (0-255 each) or ``#rrggbb`` to an RGB tuple."""
    text = text.strip()
    try:
        if text.startswith("#") and len(text) == 7:
            return tuple(int(text[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
        parts = [int(part) for part in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or not all(0 <= part <= 255 for part in parts):
        raise ValueError("colour must be R,G,B with values 0-255, or #rrggbb")
    return tuple(parts)  # type: ignore[return-value]


class Solid(anonfilter.PerFaceMethod):
    """Paint each face's mask in ``color``."""

    def __init__(self, color: tuple[int, int, int]) -> None:
        self.color = np.array(color, np.uint8)

    def replace(self, crop: anonfilter.Frame, face: anonfilter.Face) -> anonfilter.Frame:
        """A crop-sized block of the colour."""
        return np.broadcast_to(self.color, crop.shape)


@anonfilter.hookimpl
def register_methods(register):
    """Register ``solid``."""
    register(
        anonfilter.MethodSpec(
            name="solid",
            uses_identity=False,
            uses_landmarks=False,
            create=Solid,
            description="fill the face with one colour",
            options=[anonfilter.Option("color", parse_color, (0, 0, 0), "R,G,B or #rrggbb")],
        )
    )
