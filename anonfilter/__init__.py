"""anonfilter: a plugin-based face-anonymization filter for video.

The Python API is importable from here: :func:`anonymize` (a file), :func:`open_pipeline` (frames
of your own), :class:`Config` and :class:`Report` (docs/api.md). So are the names plugin authors
need: :data:`hookimpl`, :class:`MethodSpec`, :class:`DetectorSpec`, :class:`Option`, the value
types and :data:`CONTRACT_VERSION`.
"""

import importlib
import os
from typing import TYPE_CHECKING, Any

# anonfilter's matrix work is tiny (Kalman filters, box arithmetic), while decoding, detection and
# encoding keep every core busy: OpenBLAS worker threads would only spin (docs/benchmark.md has
# the figure). Set before NumPy loads OpenBLAS; a user's setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from anonfilter.hookspecs import CONTRACT_VERSION, DetectorSpec, MethodSpec, Option, hookimpl
from anonfilter.methods import PerFaceMethod
from anonfilter.types import AnonymizedFrame, Detections, Face, FaceStatus, Frame, FrameInfo, Region

__version__ = "0.1.0"

_API = {
    "Config": "anonfilter.config",
    "DetectionConfig": "anonfilter.config",
    "TrackingConfig": "anonfilter.config",
    "IdentityConfig": "anonfilter.config",
    "MaskStyle": "anonfilter.masks",
    "EncoderSettings": "ffmpeg_bridge.encoder",
    "Report": "anonfilter.api",
    "StreamInfo": "anonfilter.api",
    "anonymize": "anonfilter.api",
    "open_pipeline": "anonfilter.api",
}
"""The API's names, imported on first use: a plugin that imports anonfilter does not load the
pipeline, and ffmpeg_bridge (which the API uses) can import anonfilter's types."""

if TYPE_CHECKING:
    from anonfilter.api import Report, StreamInfo, anonymize, open_pipeline
    from anonfilter.config import Config, DetectionConfig, IdentityConfig, TrackingConfig
    from anonfilter.masks import MaskStyle
    from ffmpeg_bridge.encoder import EncoderSettings


def __getattr__(name: str) -> Any:
    """The API's names (:data:`_API`), imported when first asked for."""
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'anonfilter' has no attribute '{name}'")


__all__ = [
    "CONTRACT_VERSION",
    "AnonymizedFrame",
    "Config",
    "DetectionConfig",
    "Detections",
    "DetectorSpec",
    "EncoderSettings",
    "Face",
    "FaceStatus",
    "Frame",
    "FrameInfo",
    "IdentityConfig",
    "MaskStyle",
    "MethodSpec",
    "Option",
    "PerFaceMethod",
    "Region",
    "Report",
    "StreamInfo",
    "TrackingConfig",
    "anonymize",
    "hookimpl",
    "open_pipeline",
]
