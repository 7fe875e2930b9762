"""Building blocks for method plugins: per-face processing and the fail-closed fallback."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import cv2

from anonfilter.masks import composite
from anonfilter.types import Face, Frame, FrameInfo


class PerFaceMethod(ABC):
    """Base class for methods that treat each face on its own.

    Subclasses implement :meth:`replace`, which gets a copy of the face's region and returns
    the replacement; this class blends it into the frame with the face's alpha mask, so no pixel
    outside the mask changes.
    """

    def anonymize(self, frame: Frame, faces: Sequence[Face], info: FrameInfo) -> None:
        """Replace every face's region in ``frame`` (in place)."""
        for face in faces:
            if face.region.width <= 0 or face.region.height <= 0:
                continue
            target = frame[face.region.slices]
            composite(target, self.replace(target.copy(), face), face.alpha)

    @abstractmethod
    def replace(self, crop: Frame, face: Face) -> Frame:
        """Return the anonymized version of ``crop`` (``frame[face.region.slices]``), same shape."""


def obscure_frame(frame: Frame, cells: int = 12) -> None:
    """Pixelate the whole frame so heavily (``cells`` across its shorter side) that no face survives.

    This is the fail-closed fallback when a method fails or a live frame is late.
    """
    height, width = frame.shape[:2]
    scale = cells / min(height, width)
    small = cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    frame[...] = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


MIN_BLUR_SIGMA = 4.0
"""Sigma of the blur never goes below this many pixels. With the default 1/8 of the face size, a
face of 11-19 px (a crowd seen from afar) got sigma 1.4-2.4 and 9 of the 638 face-frames of the
MOT20 crowd clip stayed structurally the same (``anonfilter check``); a floor of 3 px left none of
those, and 4 px also covers a 27 px face on the facenet clip that scored 0.85 (the audit's limit)
at 3 px."""


def face_strength_blur(crop: Frame, face_size: float, sigma_per_size: float) -> Frame:
    """Gaussian-blur ``crop`` with sigma = ``sigma_per_size`` x face size, at least :data:`MIN_BLUR_SIGMA`.

    Works on a downscaled copy so a large face costs no more than a small one.
    """
    sigma = max(MIN_BLUR_SIGMA, sigma_per_size * face_size)
    height, width = crop.shape[:2]
    factor = max(1.0, sigma / 2.0)
    small = shrink(crop, (max(1, round(width / factor)), max(1, round(height / factor))))
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma / factor, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def shrink(image: Frame, size: tuple[int, int]) -> Frame:
    """``image`` scaled down to ``size`` (width, height), averaging: halved with ``cv2.pyrDown``
    while it stays at least twice as large, then area-averaged the rest of the way.

    OpenCV's area averaging by a large factor that is not a whole number is slow: a 538 x 634
    face region shrunk 22.5 times took 790 us that way, 280 us this way.
    """
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        image = cv2.pyrDown(image)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


__all__ = ["PerFaceMethod", "obscure_frame", "face_strength_blur"]
