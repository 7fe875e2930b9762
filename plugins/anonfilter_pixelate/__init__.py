"""The ``pixelate`` method: a mosaic of cell means, a few cells across each face."""

import cv2

import anonfilter

ANONFILTER_CONTRACT = "1.2"
MIN_CELL = 4.0
"""Cells are at least 4 pixels wide (as the blur's sigma is at least 4 pixels): with 8 cells across,
a face of 8 px had cells of 1 px and was left exactly as it was, and faces up to 15 px nearly so."""


class Pixelate(anonfilter.PerFaceMethod):
    """Replace each face by the mean colours of ``cells`` cells across the face."""

    def __init__(self, cells: int) -> None:
        if not 2 <= cells <= 10:
            raise ValueError("cells must be between 2 and 10 (more would leave faces recognisable)")
        self.cells = cells

    def replace(self, crop: anonfilter.Frame, face: anonfilter.Face) -> anonfilter.Frame:
        """A mosaic of the crop; INTER_AREA makes each cell the mean of its pixels."""
        height, width = crop.shape[:2]
        cell = max(MIN_CELL, face.size / self.cells)
        small = cv2.resize(crop, (max(1, round(width / cell)), max(1, round(height / cell))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


@anonfilter.hookimpl
def register_methods(register):
    """Register ``pixelate``."""
    register(
        anonfilter.MethodSpec(
            name="pixelate",
            uses_identity=False,
            uses_landmarks=False,
            create=Pixelate,
            description="mosaic of cell means, about 8 cells across a face",
            options=[
                anonfilter.Option("cells", int, 8, "cells across a face (more would leave faces recognisable)", minimum=2, maximum=10)
            ],
        )
    )
