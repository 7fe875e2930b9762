"""Running a detector on part of a frame, and combining the results of several passes.

Used by CenterFace's ``tiles`` option and by focused detection (:mod:`anonfilter.detection.focus`):
a crop is cut out, scaled, handed to the detector like a small frame, and its faces are mapped
back to frame coordinates. A face cut by the crop's edge (where that edge is not the frame's)
is dropped: it is whole in a neighbouring tile or in the whole-frame pass.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from anonfilter.geometry import Rect, nms
from anonfilter.types import Detections, Frame

NMS_IOU = 0.3
"""Boxes overlapping more than this (intersection over union) are the same face."""
CUT_MARGIN = 2.0
"""A box this close (pixels, in the crop) to an inner crop edge counts as cut by it."""


def merge(parts: list[Detections], iou_threshold: float = NMS_IOU) -> Detections:
    """One set of detections from several passes over the same frame (NMS across them).

    Landmarks are kept when every pass that found something gave them.
    """
    parts = [part for part in parts if len(part)]
    if not parts:
        return Detections.empty()
    boxes = np.concatenate([part.boxes for part in parts])
    scores = np.concatenate([part.scores for part in parts])
    keep = nms(boxes, scores, iou_threshold)
    landmarks = None
    if all(part.landmarks is not None for part in parts):
        landmarks = np.concatenate([part.landmarks for part in parts])[keep]
    return Detections(boxes[keep], scores[keep], landmarks)


def without_cut_faces(found: Detections, region: Rect, frame_width: int, frame_height: int) -> Detections:
    """``found`` (in the crop's coordinates) without faces touching an edge of the crop inside the frame."""
    if not len(found):
        return found
    x0, y0, x1, y1 = region
    boxes = found.boxes
    crop_w, crop_h = x1 - x0, y1 - y0
    cut = (
        ((boxes[:, 0] <= CUT_MARGIN) & (x0 > 0))
        | ((boxes[:, 1] <= CUT_MARGIN) & (y0 > 0))
        | ((boxes[:, 2] >= crop_w - CUT_MARGIN) & (x1 < frame_width))
        | ((boxes[:, 3] >= crop_h - CUT_MARGIN) & (y1 < frame_height))
    )
    return found[~cut]


def shifted(found: Detections, dx: float, dy: float) -> Detections:
    """``found`` moved by ``dx, dy`` pixels."""
    shift = np.array([dx, dy], np.float32)
    landmarks = None if found.landmarks is None else found.landmarks + shift
    return Detections(found.boxes + np.tile(shift, 2), found.scores, landmarks)


def scaled(found: Detections, factor: float) -> Detections:
    """``found`` with coordinates multiplied by ``factor``."""
    landmarks = None if found.landmarks is None else found.landmarks * np.float32(factor)
    return Detections(found.boxes * np.float32(factor), found.scores, landmarks)


def resize(image: Frame, scale: float) -> Frame:
    """``image`` scaled by ``scale`` (area averaging down, bilinear up); unchanged at 1."""
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def detect_in_region(detect: Callable[[Frame], Detections], frame: Frame, region: Rect, scale: float = 1.0) -> Detections:
    """Faces inside ``region`` of ``frame``, found with ``detect`` on the crop scaled by ``scale``.

    Returned in frame coordinates, without faces cut by an inner edge of the region.
    """
    x0, y0, x1, y1 = region
    crop = resize(frame[y0:y1, x0:x1], scale)
    found = detect(crop)
    if not len(found):
        return found
    back = (x1 - x0) / crop.shape[1]
    found = without_cut_faces(scaled(found, back), region, frame.shape[1], frame.shape[0])
    return shifted(found, x0, y0)
