"""The base class of learned face-replacement methods: align, synthesize, colour-match, blend back.

A learned method subclasses :class:`LearnedFaceMethod` and implements one thing,
:meth:`~LearnedFaceMethod.synthesize`: aligned face crops in, synthetic face crops out. The base
class does the rest for every face of a frame:

1. Faces smaller than ``min_size`` pixels (too small for the model) get a strong blur
   (:func:`anonfilter.methods.face_strength_blur`); they are never skipped.
2. The others are aligned to the canonical ``crop_size`` crop (:mod:`anonfilter.faces.align`, from
   the detector's five landmarks, or from the box when there are none) and passed to
   :meth:`~LearnedFaceMethod.synthesize` in one batch.
3. Synthetic faces smaller than :data:`~anonfilter.faces.upsample.OUTPUT_SIZE` (128) are brought
   to that size by the shared learned upsampler (:mod:`anonfilter.faces.upsample`).
4. Each synthetic face gets the colours of the face it replaces (:func:`~anonfilter.faces.blend.match_colours`)
   and is warped back with a feathered seam over the rest of the mask (hair, ears, the outline
   of the head), which is filled in from the ring of picture around the mask
   (:mod:`anonfilter.faces.surround`; ``surround=blur`` lays the new face over a blurred
   copy of the original instead, as before). The result is blended into the frame with the
   face's alpha mask, so no pixel outside the mask changes. Faces are pasted smallest first (those the tracker filled in
   before those detected in the frame), each over the frame as the ones before left it: a small
   false "face" inside a real one disappears under the larger replacement, and a neighbour's
   original never shows through another face's surround.

Example::

    class MyMethod(LearnedFaceMethod):
        def __init__(self, **options):
            super().__init__(**options)
            self.session = onnx_session(beside(__file__, "my.onnx"))

        def synthesize(self, crops, faces):
            out = self.session.run(None, {"face": to_input(crops)})[0]
            return from_output(out)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import cv2
import numpy as np

from anonfilter.faces.align import CROP_SIZE, alignment_matrix, shift_matrix, warp_to_crop
from anonfilter.faces.blend import apply_colours, blend_face, canonical_mask, colour_transform, paste_face, warp_face
from anonfilter.faces.surround import fill_from_ring, ring_weight
from anonfilter.faces.upsample import OUTPUT_SIZE, upsample
from anonfilter.hookspecs import Option
from anonfilter.masks import composite
from anonfilter.methods import face_strength_blur
from anonfilter.types import Face, FaceStatus, Frame, FrameInfo, Region

DEFAULT_MIN_SIZE = 20.0
DEFAULT_FALLBACK_STRENGTH = 0.125
DEFAULT_SURROUND_BLUR = 0.05
SURROUNDS = ("fill", "smooth", "blur")
TEXTURE_MIN_SIZE = 96.0
"""With ``surround=fill``, faces of at least this many pixels get the picture around them continued
into the mask; smaller ones the smooth fill (their surround is a few pixels wide, and on the
shared crowd clips the continued picture cost CenterFace two of 40 dim audience faces)."""
FILL_MARGIN = 0.15
"""With the picture continued (``texture``), the surround is filled in from a window this much wider
than the face's region on every side (a fraction of the region's longer side), so there is a ring
of picture below the chin too. The window stops at the frame's edge: a face whose mask reaches the
bottom of the frame still has no ring below its chin, and is filled there from its other sides."""
DEFAULT_SURROUND = "fill"

COMMON_OPTIONS = (
    Option("min_size", float, DEFAULT_MIN_SIZE, "faces smaller than this many pixels get a strong blur instead", minimum=0, maximum=4096),
    Option(
        "fallback_strength",
        float,
        DEFAULT_FALLBACK_STRENGTH,
        "blur sigma for those small faces, as a fraction of the face size",
        minimum=0.05,
        maximum=1.0,
    ),
    Option(
        "surround",
        str,
        DEFAULT_SURROUND,
        "what covers the mask around the new face (hair, ears): fill (painted in from the picture around it, its texture"
        " continued), smooth (the same without texture) or blur (of the original)",
        choices=SURROUNDS,
    ),
    Option(
        "surround_blur",
        float,
        DEFAULT_SURROUND_BLUR,
        "with surround=blur: blur sigma of the mask around the new face, as a fraction of the face size; 0 keeps it",
        minimum=0,
        maximum=1.0,
    ),
)
"""The options every learned method accepts; add them to the method's :class:`~anonfilter.hookspecs.MethodSpec`."""


class LearnedFaceMethod(ABC):
    """Base class of a learned face-replacement method (a :class:`~anonfilter.hookspecs.Method`).

    Subclasses implement :meth:`synthesize` and may set ``crop_size`` (the side of the square
    canonical crop their model works on; the alignment template scales with it). They accept
    the :data:`COMMON_OPTIONS` as keyword arguments and pass them on to ``__init__``.

    Determinism: :meth:`synthesize` must give the same output for the same crop and identity key
    (seed anything random from :mod:`anonfilter.faces.identity`); the rest of the chain is
    deterministic.
    """

    crop_size: int = CROP_SIZE

    def __init__(
        self,
        min_size: float = DEFAULT_MIN_SIZE,
        fallback_strength: float = DEFAULT_FALLBACK_STRENGTH,
        surround_blur: float = DEFAULT_SURROUND_BLUR,
        surround: str = DEFAULT_SURROUND,
    ) -> None:
        if min_size < 0 or fallback_strength <= 0 or surround_blur < 0:
            raise ValueError("min_size and surround_blur must not be negative, fallback_strength must be positive")
        if surround not in SURROUNDS:
            raise ValueError(f"surround must be one of {', '.join(SURROUNDS)}, not {surround!r}")
        self.min_size = min_size
        self.fallback_strength = fallback_strength
        self.surround_blur = surround_blur
        self.surround = surround

    @abstractmethod
    def synthesize(self, crops: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        """Synthetic faces for aligned crops.

        ``crops`` is ``(N, crop_size, crop_size, 3)`` uint8 RGB, each the canonical crop of
        ``faces[i]`` (N >= 1); use ``faces[i].identity_key`` to pick the replacement identity.
        Returns the same shape and dtype. Colours need not match: the base class matches them.
        """

    def anonymize(self, frame: Frame, faces: Sequence[Face], info: FrameInfo) -> None:
        """Replace every face in ``frame`` (in place), changing only pixels inside their masks."""
        learned: list[Face] = []
        for face in faces:
            if face.region.width <= 0 or face.region.height <= 0:
                continue
            if face.size < self.min_size:
                target = frame[face.region.slices]
                composite(target, face_strength_blur(target.copy(), face.size, self.fallback_strength), face.alpha)
            else:
                learned.append(face)
        if not learned:
            return
        # Faces the detector saw in this frame go over those the tracker only filled in (whose
        # boxes are guesses), and within each, smallest first: where the detector also found a
        # small "face" inside a larger one (an eye, a mouth), the larger one covers it.
        learned.sort(key=lambda face: (face.status == FaceStatus.DETECTED, face.size))
        scales = [min(1.0, self.work_size / face.size) for face in learned]
        regions = [_scaled(frame[face.region.slices], scale) for face, scale in zip(learned, scales)]
        matrices = [self._region_matrix(face, scale) for face, scale in zip(learned, scales)]
        crops = np.stack([warp_to_crop(region, matrix, self.crop_size) for region, matrix in zip(regions, matrices)])
        synthetic = self.synthesize(crops, learned)
        if synthetic.shape != crops.shape or synthetic.dtype != np.uint8:
            raise ValueError(f"synthesize() returned {synthetic.shape} {synthetic.dtype}, expected {crops.shape} uint8")
        # Colours are matched on the model's crops, and the faces pasted from crops of at least
        # OUTPUT_SIZE (upsampled): the matrices scale with the crop.
        mask = canonical_mask(self.crop_size)
        transforms = [colour_transform(new, crop, mask) for new, crop in zip(synthetic, crops)]
        size = self.paste_size
        matrices = [matrix * (size / self.crop_size) for matrix in matrices]
        synthetic = upsample(synthetic, size)
        for position, (face, scale, matrix, transform, new) in enumerate(zip(learned, scales, matrices, transforms, synthetic)):
            # The surround comes from the frame as the faces before left it (the synthetic face
            # and its colours from the original): a neighbour's face inside this mask is pasted
            # over with its replacement, never with its original.
            target = frame[face.region.slices]
            background = _scaled(target, scale)
            coloured = apply_colours(new, transform)
            if self.surround in ("fill", "smooth"):
                texture = self.surround == "fill" and face.size >= TEXTURE_MIN_SIZE
                filled = _filled_surround(frame, face, learned[position + 1 :], scale, background.shape[:2], texture)
                colours, weight = warp_face(coloured, matrix, background.shape[1], background.shape[0])
                replacement = blend_face(filled, colours, weight)
            else:
                if self.surround_blur > 0:
                    background = face_strength_blur(background, face.size * scale, self.surround_blur)
                replacement = paste_face(background, coloured, matrix)
            if scale < 1.0:
                replacement = cv2.resize(replacement, (target.shape[1], target.shape[0]), interpolation=cv2.INTER_LINEAR)
            composite(target, replacement, face.alpha)

    @property
    def paste_size(self) -> int:
        """The side of the canonical crop synthetic faces are pasted from: ``crop_size``, at least
        :data:`~anonfilter.faces.upsample.OUTPUT_SIZE` (smaller faces are upsampled first)."""
        return max(self.crop_size, OUTPUT_SIZE)

    @property
    def work_size(self) -> float:
        """Faces larger than this many pixels are replaced at this size and scaled up.

        The synthetic face has no more detail than its :attr:`paste_size` crop and the rest of the
        mask is a smooth fill, so working at twice that size loses nothing and keeps large faces cheap.
        """
        return 2.0 * self.paste_size

    def _region_matrix(self, face: Face, scale: float) -> np.ndarray:
        """The alignment matrix from the face's region, scaled by ``scale``, to its canonical crop."""
        landmarks = None if face.landmarks is None else np.asarray(face.landmarks, np.float32)
        matrix = shift_matrix(alignment_matrix(face.box, landmarks, self.crop_size), face.region.x0, face.region.y0)
        matrix[:, :2] /= scale
        return matrix


def _filled_surround(frame: Frame, face: Face, later: Sequence[Face], scale: float, shape: tuple[int, int], texture: bool) -> np.ndarray:
    """What lies under ``face``'s new face: its region (scaled by ``scale`` to ``shape``) filled in
    from the picture around its mask (:func:`~anonfilter.faces.surround.fill_from_ring`), with the
    picture's ``texture`` continued or smooth.

    With ``texture``, the fill is computed on the region widened by :data:`FILL_MARGIN` on every
    side (within the frame): where the mask reaches the region's edge (under the chin, on a face
    whose box is tall) the region has no ring there, and a fill from the far side of the mask laid
    a pale band over the neck. (The smooth fill of small faces keeps to the region: their
    surround is a few pixels wide.) No pixel of this face's mask, nor of the masks of the ``later`` faces (their
    originals are still in the frame), is filled from; where the later masks cover the whole ring,
    the fill is the smooth one from their pixels, never their picture continued.
    """
    height, width = frame.shape[:2]
    margin = round(FILL_MARGIN * max(face.region.width, face.region.height)) if texture else 0
    window = Region(
        max(0, face.region.x0 - margin),
        max(0, face.region.y0 - margin),
        min(width, face.region.x1 + margin),
        min(height, face.region.y1 + margin),
    )
    alpha = np.zeros((window.height, window.width), np.float32)
    alpha[face.region.y0 - window.y0 : face.region.y1 - window.y0, face.region.x0 - window.x0 : face.region.x1 - window.x0] = face.alpha
    blocked = _scaled(_masks_over(window, later), scale)
    known = ring_weight(_scaled(alpha, scale), blocked)
    # Where every ring pixel lies under a later face's mask, the ring is that face's original: only
    # its smooth fill, never its mirrored picture, may go under this face's mask (outside the later mask).
    texture = texture and not bool((known * blocked).any())
    filled = fill_from_ring(_scaled(frame[window.slices], scale), known, texture=texture)
    y0, x0 = round((face.region.y0 - window.y0) * scale), round((face.region.x0 - window.x0) * scale)
    inner = filled[y0 : y0 + shape[0], x0 : x0 + shape[1]]
    if inner.shape[:2] != shape:  # rounding of the scaled sizes: at most a pixel
        inner = cv2.resize(inner, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return inner


def _masks_over(region: Region, others: Sequence[Face]) -> np.ndarray:
    """How much the masks of ``others`` cover each pixel of ``region`` (the most of any; float32)."""
    covered = np.zeros((region.height, region.width), np.float32)
    for other in others:
        x0, y0 = max(region.x0, other.region.x0), max(region.y0, other.region.y0)
        x1, y1 = min(region.x1, other.region.x1), min(region.y1, other.region.y1)
        if x1 > x0 and y1 > y0:
            mine = covered[y0 - region.y0 : y1 - region.y0, x0 - region.x0 : x1 - region.x0]
            theirs = other.alpha[y0 - other.region.y0 : y1 - other.region.y0, x0 - other.region.x0 : x1 - other.region.x0]
            np.maximum(mine, theirs, out=mine)
    return covered


def _scaled(image: np.ndarray, scale: float) -> np.ndarray:
    """A copy of ``image`` resized by ``scale`` (area averaging), at least one pixel each way."""
    if scale >= 1.0:
        return image.copy()
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
