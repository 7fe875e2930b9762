"""ONNX models shipped beside a plugin, run on onnxruntime's CPU provider."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime

from anonfilter.errors import AnonfilterError


def beside(module_file: str, name: str) -> Path:
    """Path of the data file ``name`` in the folder of the module ``module_file`` (pass ``__file__``).

    Raises :class:`~anonfilter.errors.AnonfilterError` with one line when the file is missing.
    """
    path = Path(module_file).resolve().parent / name
    if not path.exists():
        raise AnonfilterError(f"model file {path} is missing; reinstall the plugin that ships it")
    return path


@lru_cache(maxsize=16)
def onnx_session(path: Path, threads: int = 1) -> onnxruntime.InferenceSession:
    """An onnxruntime session for the model at ``path`` on the CPU provider (cached per path and threads).

    One thread by default: a face crop is small and the detector needs the cores.
    """
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def to_input(crops: np.ndarray) -> np.ndarray:
    """``(N, S, S, 3)`` uint8 RGB crops -> the models' ``(N, 3, S, S)`` float32 input in 0..1."""
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def from_output(images: np.ndarray) -> np.ndarray:
    """A model's ``(N, 3, S, S)`` float output in 0..1 -> ``(N, S, S, 3)`` uint8 RGB crops."""
    return np.clip(images.transpose(0, 2, 3, 1) * 255.0 + 0.5, 0, 255).astype(np.uint8)
