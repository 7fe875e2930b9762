"""The scout: a tiny network that says where small faces may be, so CenterFace runs only there.

Focused detection's close search (:mod:`anonfilter.detection.focus`) looks for faces of 16 px
and more in every changed area at 1.125x the frame's resolution; with CenterFace on all of it
that is most of the detector's time on a moving camera. The scout (six 3 x 3 convolutions on the
grey picture, to stride 8, about 540 multiply-adds per pixel, :data:`MODEL`, trained by
``training/train_scout.py`` from CenterFace's own detections and from faces pasted at known
places) runs there instead, at the same scale, and returns candidate boxes; CenterFace then
searches a crop around each (:func:`confirm_regions`). It is tuned for recall (a low
:data:`THRESHOLD`): a false candidate costs one small CenterFace crop, a missed one a face.

The scout is trusted for faces of :data:`SMALLEST` to :data:`LARGEST` network pixels; where the
close search must find larger faces (1440p and 4K, whose overview finds faces from 96 px), it also runs
at half that scale, and so on (:func:`scout_scales`).
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np
import onnxruntime

from anonfilter.detection.centerface import detector_session_options
from anonfilter.geometry import Rect
from anonfilter.types import Frame

MODEL = os.path.join(os.path.dirname(__file__), "scout.onnx")
"""The committed network (tens of kB)."""
INPUT_NAME = "grey"
OUTPUT_NAMES = ("heatmap", "size")
STRIDE = 8
"""The heatmap's cells are this many network pixels apart."""
THRESHOLD = 0.1
"""Heatmap peaks from this score are candidates (low: recall first)."""
SMALLEST, LARGEST = 16.0, 88.0
"""Face sizes (longer side, network pixels) the scout is trusted to find."""
CONTEXT = 4.0
"""A candidate's confirmation crop is this many (estimated) face sizes across ..."""
MIN_SIDE = 160
"""... and at least this many network pixels."""
THREADS = 2


def scout_scales(close_scale: float, largest_face: float) -> list[float]:
    """The scales the scout runs at so that faces from 16 px at ``close_scale`` up to ``largest_face``
    frame pixels are each within :data:`SMALLEST`-:data:`LARGEST` network pixels at one of them
    (each next scale is half the last: a 1080p close search needs one, 4K two)."""
    scales = [close_scale]
    while largest_face * scales[-1] > LARGEST:
        scales.append(scales[-1] / 2)
    return scales


class Scout:
    """Candidate face boxes from the scout network."""

    def __init__(self, threshold: float = THRESHOLD, threads: int = THREADS, model: str = MODEL) -> None:
        self.session = onnxruntime.InferenceSession(model, detector_session_options(threads), providers=["CPUExecutionProvider"])
        self.threshold = threshold

    def candidates(self, image: Frame, scale: float) -> np.ndarray:
        """``(N, 5)``: boxes (``image`` coordinates) and scores of the faces the scout sees in ``image`` (RGB)
        scaled by ``scale``."""
        height, width = image.shape[:2]
        net_w, net_h = max(STRIDE, round(width * scale)), max(STRIDE, round(height * scale))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if (net_w, net_h) != (width, height):
            grey = cv2.resize(grey, (net_w, net_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        pad_w, pad_h = -net_w % STRIDE, -net_h % STRIDE
        if pad_w or pad_h:
            grey = cv2.copyMakeBorder(grey, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        heatmap, size = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: grey[None, None].astype(np.float32)})
        heat = heatmap[0, 0]
        peaks = (heat >= self.threshold) & (heat >= cv2.dilate(heat, np.ones((3, 3), np.uint8)))
        rows, columns = np.nonzero(peaks)
        if not len(rows):
            return np.zeros((0, 5), np.float32)
        sides = size[0, 0, rows, columns]
        cx, cy = (columns + 0.5) * STRIDE, (rows + 0.5) * STRIDE
        back_x, back_y = width / net_w, height / net_h
        boxes = np.stack(
            [
                (cx - sides / 2) * back_x,
                (cy - sides / 2) * back_y,
                (cx + sides / 2) * back_x,
                (cy + sides / 2) * back_y,
                heat[rows, columns],
            ],
            1,
        )
        return boxes.astype(np.float32)


def confirm_regions(candidates: np.ndarray, scale: float, width: int, height: int) -> list[Rect]:
    """Crops (frame coordinates, inside the ``width`` x ``height`` frame) that CenterFace searches at ``scale`` to confirm ``candidates`` (frame coordinates): :data:`CONTEXT` face sizes
    and at least :data:`MIN_SIDE` network pixels across, centred on each."""
    crops = []
    for x0, y0, x1, y1, _score in candidates:
        side = max(CONTEXT * max(x1 - x0, y1 - y0), MIN_SIDE / scale)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        crops.append(
            (
                max(0, math.floor(cx - side / 2)),
                max(0, math.floor(cy - side / 2)),
                min(width, math.ceil(cx + side / 2)),
                min(height, math.ceil(cy + side / 2)),
            )
        )
    return crops
