"""anonfilter: a plugin-based face-anonymization filter for video.

The names plugin authors need are importable from here: :data:`hookimpl`, :class:`MethodSpec`,
:class:`DetectorSpec`, :class:`Option`, the value types and :data:`CONTRACT_VERSION`.
"""

from anonfilter.hookspecs import CONTRACT_VERSION, DetectorSpec, MethodSpec, Option, hookimpl
from anonfilter.methods import PerFaceMethod
from anonfilter.types import Detections, Face, Frame, FrameInfo, Region

__version__ = "0.1.0"

__all__ = [
    "CONTRACT_VERSION",
    "Detections",
    "DetectorSpec",
    "Face",
    "Frame",
    "FrameInfo",
    "MethodSpec",
    "Option",
    "PerFaceMethod",
    "Region",
    "hookimpl",
]
