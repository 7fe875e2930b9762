"""Train the ``decoupled`` method: AnonymizationNet and HarmonizationNet, trained apart (decoupling seed).

1. **AnonymizationNet** draws a face from two things only: the face's *structure* (its
   luminance shrunk to ``STRUCTURE_CELLS`` x ``STRUCTURE_CELLS`` and normalised, so pose and
   shading survive but not the person) and a *control identity* code. It is trained to redraw a
   CelebA face from its structure and its person's code: the main axes (PCA) of the fine detail
   shared by that person's five photos. At inference the code is drawn from a standard normal
   distribution seeded by the tracker's identity key, never from the face: a new person.
2. **HarmonizationNet** blends that face into the scene. It never sees the original face, only
   the drawn one, the canonical face mask and the *appearance condition*: the original crop
   shrunk to ``STRUCTURE_CELLS`` cells and blown up again. It is trained on the seed's proxy
   task: a real face (CelebA and UTKFace) with its colours and lighting randomly changed must be
   turned back into the real face with the help of that heavily blurred copy.

Both networks and the fixed pre-processing (structure, appearance condition) are exported as one
ONNX graph with inputs ``face`` (N,3,64,64 aligned crop in 0..1) and ``identity`` (N,64 control
identity codes), and output ``output`` (N,3,64,64 in 0..1); the model's metadata records how it
was made (seed, threads, steps run, data sets).

    nice -n 10 python -m training.train_decoupled /path/to/shared/data/train --out plugins/anonfilter_decoupled

Trained on CelebA (identities subset) and UTKFace crops: their non-commercial licences apply to
the weights. The run is reproducible: the same seed, thread count and number of steps give the
same weights. Each network stops at its step count or its time limit, whichever comes first, and
the steps actually run are recorded in the model (rerun with those as ``--steps`` and
``--harmonization-steps`` and a generous ``--minutes`` to reproduce it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from training import data as training_data
from training.common import export_onnx, mask_tensor, random_batch, record_provenance, seed_everything, to_tensor, train_loop

STRUCTURE_CELLS = 8
"""The face's structure and the appearance condition are 8 x 8 cells of the 64 x 64 crop."""

IDENTITY_DIM = 64


def appearance_condition(face: torch.Tensor) -> torch.Tensor:
    """The heavily blurred copy: the crop averaged over ``STRUCTURE_CELLS`` cells, smoothly blown up again."""
    cells = F.adaptive_avg_pool2d(face, STRUCTURE_CELLS)
    return F.interpolate(cells, size=face.shape[-2:], mode="bilinear", align_corners=False)


def structure(face: torch.Tensor) -> torch.Tensor:
    """Pose and shading without the person: normalised luminance in ``STRUCTURE_CELLS`` cells (N,1,8,8)."""
    luminance = 0.299 * face[:, 0:1] + 0.587 * face[:, 1:2] + 0.114 * face[:, 2:3]
    cells = F.adaptive_avg_pool2d(luminance, STRUCTURE_CELLS)
    mean = cells.mean(dim=(2, 3), keepdim=True)
    spread = cells.std(dim=(2, 3), keepdim=True) + 0.02
    return (cells - mean) / spread


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution and LeakyReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


class IdentityStage(nn.Module):
    """Nearest upsampling by two, a convolution, and a per-channel scale and shift from the identity."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1))
        self.modulation = nn.Linear(IDENTITY_DIM, 2 * cout)

    def forward(self, x: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """Upsampled features modulated by the identity vector."""
        scale, shift = self.modulation(identity)[:, :, None, None].chunk(2, dim=1)
        return F.leaky_relu(self.body(x) * (1 + scale) + shift, 0.2)


class AnonymizationNet(nn.Module):
    """A face drawn from the structure (N,1,8,8) and a control identity code (N, ``IDENTITY_DIM``).

    It draws at 32 x 32 (what fits a CPU training budget) and is smoothly scaled to 64 x 64.
    """

    def __init__(self) -> None:
        super().__init__()
        self.identity_map = nn.Linear(IDENTITY_DIM, 32 * STRUCTURE_CELLS * STRUCTURE_CELLS)
        self.stem = nn.Sequential(conv(1 + 32, 64), conv(64, 64))
        self.stages = nn.ModuleList([IdentityStage(64, 32), IdentityStage(32, 16)])
        self.head = nn.Sequential(nn.Conv2d(16, 3, 3, 1, 1), nn.Sigmoid())

    def forward(self, shape: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """Faces (N,3,64,64 in 0..1) for structures and identity codes (N, IDENTITY_DIM)."""
        spatial = self.identity_map(identity).view(-1, 32, STRUCTURE_CELLS, STRUCTURE_CELLS)
        x = self.stem(torch.cat([shape, spatial], dim=1))
        for stage in self.stages:
            x = stage(x, identity)
        return F.interpolate(self.head(x), scale_factor=2, mode="bilinear", align_corners=False)


class HarmonizationNet(nn.Module):
    """(drawn face, appearance condition, mask) -> the face in the scene's colours and light.

    It predicts a smooth per-pixel colour transform (gain and offset per channel) at 16 x 16 and
    applies it to the drawn face at full resolution, so the face's detail stays as drawn.
    """

    GRID = 16

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(7, 32), conv(32, 32), conv(32, 32), conv(32, 32), nn.Conv2d(32, 6, 3, 1, 1))

    def forward(self, face: torch.Tensor, appearance: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The harmonized face (N,3,64,64 in 0..1)."""
        inputs = torch.cat([face, appearance, torch.zeros_like(face[:, :1]) + mask], dim=1)
        transform = self.body(F.adaptive_avg_pool2d(inputs, self.GRID))
        gain, offset = F.interpolate(transform, size=face.shape[-2:], mode="bilinear", align_corners=False).chunk(2, dim=1)
        return (face * (1 + gain) + offset).clamp(0, 1)


class Decoupled(nn.Module):
    """The deployed chain: structure and appearance from the crop, draw with a control identity, harmonize."""

    def __init__(self, anonymization: AnonymizationNet, harmonization: HarmonizationNet) -> None:
        super().__init__()
        self.anonymization, self.harmonization = anonymization, harmonization
        self.register_buffer("mask", mask_tensor(64))

    def forward(self, face: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """Anonymized faces (N,3,64,64 in 0..1) for aligned crops and control identity rows."""
        drawn = self.anonymization(structure(face), identity)
        return self.harmonization(drawn, appearance_condition(face), self.mask)


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical differences of neighbouring pixels."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def sharp_l1(output: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L1 on pixels plus L1 on their gradients (against blurry averages), weighted by ``weight`` (N|1,1,H,W)."""
    pixels = ((output - target).abs() * weight).mean()
    (ox, oy), (tx, ty) = image_gradients(output), image_gradients(target)
    edges = ((ox - tx).abs() * weight[..., :, 1:]).mean() + ((oy - ty).abs() * weight[..., 1:, :]).mean()
    return pixels + edges


def relight(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The proxy task's input: faces with random per-channel gain and offset, gamma and a light gradient."""
    n = len(batch)
    gain = torch.from_numpy(rng.uniform(0.6, 1.4, (n, 3, 1, 1))).float()
    offset = torch.from_numpy(rng.uniform(-0.15, 0.15, (n, 3, 1, 1))).float()
    gamma = torch.from_numpy(rng.uniform(0.6, 1.6, (n, 1, 1, 1))).float()
    direction = torch.from_numpy(rng.uniform(-0.3, 0.3, (n, 2, 1, 1))).float()
    ramp = torch.linspace(-1, 1, batch.shape[-1])
    light = 1 + direction[:, :1] * ramp[None, None, None, :] + direction[:, 1:] * ramp[None, None, :, None]
    return ((batch.clamp(1e-3, 1) ** gamma) * gain * light + offset).clamp(0, 1)


def identity_codes(faces: np.ndarray, people: np.ndarray, dims: int = IDENTITY_DIM) -> np.ndarray:
    """One code per face: its person's identity, ``dims`` unit-variance numbers.

    A person's identity is the mean fine detail (crop minus its appearance condition, at 32 x 32)
    of their photos and of their mirror images, projected on the main axes (PCA) of all people's
    means. The codes of different people are uncorrelated with unit variance, so at inference a
    control identity is drawn from a standard normal distribution: a new person, not one from the set.
    """
    rows = np.unique(people, return_inverse=True)[1]
    means = []
    for row in range(rows.max() + 1):
        crops = to_tensor(faces[rows == row])
        crops = torch.cat([crops, crops.flip(-1)])
        detail = F.avg_pool2d(crops - appearance_condition(crops), 2)
        means.append(detail.mean(0).flatten().numpy())
    centred = np.array(means, np.float32)
    centred -= centred.mean(0)
    eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)  # the people's Gram matrix: small
    top = np.argsort(eigenvalues)[::-1][:dims]
    codes = eigenvectors[:, top] * np.sqrt(len(centred) - 1)  # unit variance per axis
    return codes[rows].astype(np.float32)


def main() -> None:
    """Train both networks, export the chain to ONNX with its metadata."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_dir", type=Path, help="the shared data's train/ folder")
    parser.add_argument("--out", type=Path, default=Path("plugins/anonfilter_decoupled"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/anonfilter-train-cache"))
    parser.add_argument("--steps", type=int, default=3000, help="AnonymizationNet steps")
    parser.add_argument("--harmonization-steps", type=int, default=800)
    parser.add_argument(
        "--minutes", type=float, default=22.0, help="time limit of AnonymizationNet (a shared machine may not reach --steps)"
    )
    parser.add_argument("--harmonization-minutes", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = seed_everything(args.seed, args.threads)
    data = training_data.load(args.train_dir, args.cache)
    celeba = data["celeba"]
    codes = identity_codes(celeba, data["celeba_ids"])
    print(f"{len(celeba)} CelebA faces of {len(np.unique(data['celeba_ids']))} people, {len(data['utkface'])} UTKFace faces")
    mask = mask_tensor(64)
    weight = 0.25 + 0.75 * mask  # the face counts most; hair and background a little

    anonymization = AnonymizationNet()

    def anonymization_step(_: int) -> torch.Tensor:
        batch, indices = random_batch(celeba, 16, rng)
        faces = to_tensor(batch)
        shape = structure(faces) + 0.1 * torch.randn(len(faces), 1, STRUCTURE_CELLS, STRUCTURE_CELLS)
        return sharp_l1(anonymization(shape, torch.from_numpy(codes[indices])), faces, weight)

    steps = {"anonymization": 0, "harmonization": 0}

    def counted(name: str, step: Callable[[int], torch.Tensor]) -> Callable[[int], torch.Tensor]:
        def run(index: int) -> torch.Tensor:
            steps[name] = index + 1
            return step(index)

        return run

    train_loop("anonymization", anonymization, counted("anonymization", anonymization_step), args.minutes, args.steps, 2e-3)

    harmonization = HarmonizationNet()
    everyone = np.concatenate([celeba, data["utkface"]])

    def harmonization_step(_: int) -> torch.Tensor:
        faces = to_tensor(random_batch(everyone, 16, rng)[0])
        return sharp_l1(harmonization(relight(faces, rng), appearance_condition(faces), mask), faces, mask)

    train_loop(
        "harmonization",
        harmonization,
        counted("harmonization", harmonization_step),
        args.harmonization_minutes,
        args.harmonization_steps,
        2e-3,
    )

    args.out.mkdir(parents=True, exist_ok=True)
    chain = Decoupled(anonymization, harmonization).eval()
    example = (to_tensor(celeba[:2]), torch.from_numpy(codes[:2]))
    export_onnx(chain, example, ["face", "identity"], "output", args.out / "decoupled.onnx")
    meta = {
        "structure_cells": STRUCTURE_CELLS,
        "seed": args.seed,
        "threads": args.threads,
        "steps": steps,
        "trained_on": "CelebA (identities subset) and UTKFace, non-commercial research licences",
    }
    path = args.out / "decoupled.onnx"
    record_provenance(path, meta)


if __name__ == "__main__":
    main()
