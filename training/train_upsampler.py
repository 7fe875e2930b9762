"""Train the shared face upsampler: a synthetic 64x64 face in, the same face at 128x128 out.

The learned methods draw their faces at 64x64 (``latentshift``, ``decoupled``); the base class
(:class:`anonfilter.faces.LearnedFaceMethod`) pastes them at :data:`anonfilter.faces.upsample.OUTPUT_SIZE`
(128) through this network, so a close-up gets edges and texture instead of a bilinear smear.
It sees only the synthetic face, never the original: the detail it adds comes from the training
faces' statistics, not from the person being replaced.

The network (``Upsampler``) is residual over a bilinear upscale: four 3x3 convolutions at the
input resolution and a pixel shuffle predict the missing high frequencies. It is trained on
the shared 128x128 training crops: each is shrunk to 64x64 (area averaging) and, since the
methods' faces are softer than a real shrunk face, blurred by a random Gaussian (sigma
0..``--max-blur`` input pixels) with a little noise; the loss is L1 to the 128x128 crop, on random
patches. The result is exported to ONNX (``upsampler.onnx``: input ``face`` (N,3,64,64), output
``output`` (N,3,128,128), both 0..1) beside :mod:`anonfilter.faces.upsample`.

    pip install torch==2.13.0     # the CPU build, training only
    nice -n 10 python -m training.train_upsampler ../shared/data/train --out anonfilter/faces

Trained on UTKFace and CelebA crops (../shared/data/train): their non-commercial licences apply
to the weights.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from training.common import export_onnx, gaussian_blur, random_batch, record_provenance, seed_everything, to_tensor, train_loop
from training.data import CELEBA, UTKFACE, read_faces

SIZE = 128
HELD_OUT = 64


def bilinear_2x(face: torch.Tensor) -> torch.Tensor:
    """(N,3,h,w) -> (N,3,2h,2w) by bilinear interpolation: what :class:`Upsampler` adds its detail to."""
    return F.interpolate(face, scale_factor=2.0, mode="bilinear", align_corners=False)


def shrink(batch: np.ndarray) -> np.ndarray:
    """(N,s,s,3) uint8 crops -> (N,s/2,s/2,3), by area averaging."""
    half = batch.shape[1] // 2
    return np.stack([cv2.resize(image, (half, half), interpolation=cv2.INTER_AREA) for image in batch])


class Upsampler(nn.Module):
    """2x face upsampler: bilinear upscale plus learned high frequencies (pixel shuffle)."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 12, 3, 1, 1),
            nn.PixelShuffle(2),
        )

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        """(N,3,h,w) in 0..1 -> (N,3,2h,2w) in 0..1."""
        return (bilinear_2x(face) + self.body(face)).clamp(0, 1)


def training_faces(train_dir: Path, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random 128x128 RGB crops, half from CelebA and half from UTKFace (uint8, N x 128 x 128 x 3)."""
    faces = []
    for name in (CELEBA, UTKFACE):
        with open(train_dir / f"{name}.csv") as file:
            names = [row["file"] for row in csv.DictReader(file)]
        chosen = sorted(rng.choice(names, size=min(count // 2, len(names)), replace=False).tolist())
        faces += [face for face in read_faces(train_dir / f"{name}.tar", chosen) if face.shape == (SIZE, SIZE, 3)]
    return np.stack(faces)


def degrade(batch: np.ndarray, max_blur: float, rng: np.random.Generator) -> np.ndarray:
    """The 2x smaller, softened inputs of a batch of crops (area shrink, random blur, a little noise)."""
    small = shrink(batch)
    sigmas = rng.uniform(0.0, max_blur, len(batch))
    soft = np.where((sigmas > 0.2)[:, None, None, None], gaussian_blur(small, np.maximum(sigmas, 0.2)), small)
    noise = rng.normal(0.0, rng.uniform(0.0, 2.0), soft.shape)
    return np.clip(soft + noise, 0, 255).astype(np.uint8)


def main() -> None:
    """Load the crops, train, export."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_dir", type=Path, help="the shared data's train/ folder")
    parser.add_argument("--out", type=Path, default=Path("anonfilter/faces"))
    parser.add_argument("--faces", type=int, default=8000, help="training crops (half CelebA, half UTKFace)")
    parser.add_argument("--steps", type=int, default=688, help="training steps (688: the committed weights)")
    parser.add_argument("--minutes", type=float, default=float("inf"), help="time budget (stops early; not reproducible)")
    parser.add_argument("--batch", type=int, default=24)
    parser.add_argument("--patch", type=int, default=96, help="side of the random 128-px patches trained on (even)")
    parser.add_argument("--max-blur", type=float, default=1.2, help="largest blur sigma of the inputs, in input pixels")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(vars(args), flush=True)
    rng = seed_everything(args.seed, args.threads)
    started = time.time()
    faces = training_faces(args.train_dir, args.faces, rng)
    faces, held_out = faces[:-HELD_OUT], faces[-HELD_OUT:]
    print(f"{len(faces)} crops loaded in {time.time() - started:.0f}s ({HELD_OUT} more held out)", flush=True)
    model = Upsampler(args.width)
    steps_run = 0

    def step(index: int) -> torch.Tensor:
        nonlocal steps_run
        steps_run = index + 1
        batch, _ = random_batch(faces, args.batch, rng)
        y, x = (int(v) * 2 for v in rng.integers(0, (SIZE - args.patch) // 2 + 1, 2))
        batch = np.ascontiguousarray(batch[:, y : y + args.patch, x : x + args.patch])
        output = model(to_tensor(degrade(batch, args.max_blur, rng)))
        return F.l1_loss(output, to_tensor(batch))

    train_loop("upsampler", model, step, args.minutes, args.steps, lr=2e-3)
    with torch.no_grad():
        soft = to_tensor(degrade(held_out, args.max_blur, rng))
        learned = F.l1_loss(model(soft), to_tensor(held_out)).item()
        bilinear = F.l1_loss(bilinear_2x(soft), to_tensor(held_out)).item()
    print(
        f"L1 on {HELD_OUT} held-out crops: learned {learned:.4f}, bilinear {bilinear:.4f}; {steps_run} steps, {time.time() - started:.0f}s",
        flush=True,
    )
    path = args.out / "upsampler.onnx"
    export_onnx(model, (torch.zeros(1, 3, SIZE // 2, SIZE // 2),), ["face"], "output", path)
    meta = {
        "seed": args.seed,
        "threads": args.threads,
        "steps": steps_run,
        "faces": len(faces),
        "trained_on": "CelebA (identities subset) and UTKFace, non-commercial research licences",
    }
    record_provenance(path, meta)


if __name__ == "__main__":
    main()
