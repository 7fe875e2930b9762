"""Helpers shared by the training scripts: seeding, batches, blurring, the canonical mask, ONNX export."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import onnx
import torch
from torch import nn

from anonfilter.faces.blend import canonical_mask


def seed_everything(seed: int, threads: int) -> np.random.Generator:
    """Fix every random generator and the number of CPU threads; returns a numpy generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return np.random.default_rng(seed)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 RGB -> ``(N, 3, H, W)`` float in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).float() / 255.0


def gaussian_blur(images: np.ndarray, sigmas: Sequence[float]) -> np.ndarray:
    """Each image blurred with its own Gaussian sigma."""
    return np.stack([cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma)) for image, sigma in zip(images, sigmas)])


def random_batch(images: np.ndarray, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random batch (with random horizontal flips) and the indices it came from."""
    indices = rng.integers(0, len(images), batch_size)
    batch = images[indices].copy()
    flip = rng.random(batch_size) < 0.5
    batch[flip] = batch[flip, :, ::-1]
    return batch, indices


def mask_tensor(size: int = 64) -> torch.Tensor:
    """The canonical face mask as a ``(1, 1, size, size)`` tensor."""
    return torch.from_numpy(canonical_mask(size).copy())[None, None]


def train_loop(name: str, model: nn.Module, step: Callable[[int], torch.Tensor], minutes: float, max_steps: int, lr: float) -> None:
    """Adam on ``step(i)`` (which returns the loss) until ``max_steps`` or ``minutes`` have passed."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.time()
    running = 0.0
    for index in range(max_steps):
        loss = step(index)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        running = 0.98 * running + 0.02 * value if index else value
        elapsed = time.time() - start
        if index % 100 == 0:
            print(f"{name} step {index} loss {running:.4f} {elapsed:.0f}s", flush=True)
        if elapsed > minutes * 60:
            print(f"{name}: time budget reached after {index + 1} steps", flush=True)
            break
    model.eval()


def export_onnx(
    model: nn.Module, example: tuple[torch.Tensor, ...], names: list[str], output: str, path: Path, fold_constants: bool = True
) -> None:
    """Export ``model`` to ONNX at ``path`` with a dynamic batch axis on every input and the output.

    ``fold_constants=False`` keeps weights as stored (e.g. float16 with a cast, or one matrix used
    twice) instead of folding them into larger float32 copies.
    """
    axes = {name: {0: "batch"} for name in names + [output]}
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            str(path),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
            do_constant_folding=fold_constants,
        )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def record_provenance(path: Path, meta: dict[str, object]) -> None:
    """Write ``meta`` (how the model was made: seed, threads, steps, data) into the ONNX model at ``path``
    as metadata properties, each value as JSON."""
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {name: json.dumps(value) for name, value in meta.items()})
    onnx.save(model, str(path))
    print(f"provenance in {path}: {meta}")
