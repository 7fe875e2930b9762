"""Shared work of the learned face-replacement methods (``latentshift``, ``decoupled``, ...).

* :mod:`anonfilter.faces.align` maps a face to the canonical 64x64 crop the models work on
  (from the detector's five landmarks, or from the box when there are none) and back.
* :mod:`anonfilter.faces.blend` matches colours and blends a synthetic face into the face region.
* :mod:`anonfilter.faces.upsample` brings a synthetic face to the 128-pixel paste size (a learned upsampler).
* :mod:`anonfilter.faces.surround` fills the rest of the face's mask in from the picture around it.
* :mod:`anonfilter.faces.models` loads ONNX models shipped beside a plugin and converts crops to
  and from model tensors.
* :mod:`anonfilter.faces.identity` turns a tracker identity key into a stable choice.
* :mod:`anonfilter.faces.replace` is the base class a learned replacement method subclasses,
  :class:`LearnedFaceMethod`: implement ``synthesize(crops, faces)``, the rest is done.
"""

from anonfilter.faces.identity import key_choice, key_rng, key_seed
from anonfilter.faces.models import beside, from_output, onnx_session, to_input
from anonfilter.faces.replace import COMMON_OPTIONS, LearnedFaceMethod

__all__ = [
    "COMMON_OPTIONS",
    "LearnedFaceMethod",
    "beside",
    "from_output",
    "key_choice",
    "key_rng",
    "key_seed",
    "onnx_session",
    "to_input",
]
