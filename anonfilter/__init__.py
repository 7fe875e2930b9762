"""anonfilter: a plugin-based face-anonymization filter for video.

The names plugin authors need are importable from here: :data:`hookimpl`, :class:`MethodSpec`,
:class:`DetectorSpec`, :class:`Option`, the value types and :data:`CONTRACT_VERSION`.
"""

import os

# anonfilter's matrix work is tiny (Kalman filters, box arithmetic), while decoding, detection and
# encoding keep every core busy: OpenBLAS worker threads would only spin (measured: about 2% of
# the CPU time of a 1080p transcode). Set before NumPy loads OpenBLAS; a user's setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

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
