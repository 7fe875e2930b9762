"""The 8-bit CenterFace: the default, as good as the full-precision model, reproducible by its script."""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import onnxruntime
import pytest

from anonfilter.audit import AuditSettings, reference_detector
from anonfilter.detection.centerface import INPUT_NAME, INT8_MODEL, CenterFace
from anonfilter.errors import AnonfilterError
from anonfilter.tracking.assignment import iou_matrix
from tests.data import shared_path

CLIP_FRAMES = {"face_recognition_short_hamilton_clip.mp4": 45, "facenet_pytorch_video.mp4": 35}
"""Shared clips and the step between the frames compared (dim and partly turned faces, small faces)."""


def test_int8_is_the_default_and_the_audit_keeps_full_precision():
    assert CenterFace().precision == "int8"
    assert reference_detector(AuditSettings()).precision == "fp32"
    with pytest.raises(AnonfilterError, match="precision"):
        CenterFace(precision="int4")


def test_the_int8_model_loads_without_importing_onnx():
    """Start-up: the committed model is ready to run, so the 0.2 s import of onnx is not needed."""
    code = "import sys; from anonfilter.detection.centerface import CenterFace; CenterFace(); print('onnx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_int8_finds_every_face_the_full_precision_model_finds():
    full, quantized = CenterFace(precision="fp32"), CenterFace()
    faces = 0
    for clip, step in CLIP_FRAMES.items():
        with av.open(str(shared_path(f"videos/{clip}"))) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index % step:
                    continue
                image = frame.to_ndarray(format="rgb24")
                expected, found = full.detect(image), quantized.detect(image)
                expected = expected[expected.scores >= 0.3]
                if not len(expected):
                    continue
                faces += len(expected)
                assert len(found), f"{clip} frame {index}: no face found"
                overlap = iou_matrix(expected.boxes.astype(np.float64), found.boxes.astype(np.float64))
                best = overlap.argmax(axis=1)
                assert (overlap.max(axis=1) >= 0.5).all(), f"{clip} frame {index}: a face missed"
                assert np.abs(found.scores[best] - expected.scores).max() < 0.1
    assert faces >= 40


def test_the_script_makes_the_committed_model(tmp_path):
    pytest.importorskip("skimage", reason="the calibration pictures come from scikit-image (test extra)")
    from training.quantize_centerface import calibration_scenes, quantize

    rebuilt = tmp_path / "centerface_int8.onnx"
    quantize(rebuilt)
    scene = calibration_scenes(3, seed=1)[2]  # not one of the calibration inputs
    blob = {INPUT_NAME: np.ascontiguousarray(scene.transpose(2, 0, 1)[None], dtype=np.float32)}
    heatmaps = [
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, blob)[0] for path in (INT8_MODEL, rebuilt)
    ]
    assert np.abs(heatmaps[0] - heatmaps[1]).max() < 0.02
