"""Train the ``latentshift`` method: autoencoder, deblurrer and smoothener (autoencoder-face-deidentification seed).

1. **Autoencoder** (the seed's fully connected model, made cheap enough for two CPU cores): the
   outer layers are a PCA basis of the aligned 64x64 RGB crops (``--components``, stored once in
   float16 and shared by encoder and decoder), the inner layers a small nonlinear MLP autoencoder
   from the PCA coefficients to a ``LATENT``-d code and back, trained with noise on the code so
   the decoder is well-behaved between training faces.
2. **Targets**: the training codes of near-frontal faces (a face whose mirror image has nearly
   the same code) are clustered with k-means; each cluster keeps the ``--members`` codes nearest
   its centre. At inference the identity key picks a cluster and a random convex mix of three of
   its members: a stable target that is no real person, with that cluster's attributes.
3. **Deblurrer**: four convolutions at full resolution (no downsampling) that learn to undo
   Gaussian blur, trained on blurred crops; **smoothener**: a shallow autoencoder (one
   downsampling) trained to reconstruct faces from noisy ones, which removes the deblurrer's
   artefacts.

The deployed chain (encode, shift toward ``target`` by ``strength``, decode, deblur, smooth) is
exported as one ONNX graph with inputs ``face`` (N,3,64,64 in 0..1), ``target`` (N,LATENT) and
``strength`` (N,1), and output ``output`` (N,3,64,64); the target table goes beside it.

    nice -n 10 python -m training.train_latentshift ../shared/data/train --out plugins/anonfilter_latentshift

Trained on UTKFace and CelebA crops (../shared/data/train): their non-commercial licences apply to
the weights.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from training import data as training_data
from training.common import export_onnx, gaussian_blur, mask_tensor, random_batch, seed_everything, to_tensor, train_loop

LATENT = 64
SIZE = 64
PIXELS = 3 * SIZE * SIZE


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution and LeakyReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with LeakyReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for index, (cin, cout) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(cin, cout))
        if index < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class AutoEncoder(nn.Module):
    """64x64 RGB <-> ``LATENT``-d code through a shared PCA basis and a nonlinear inner MLP."""

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor, spread: torch.Tensor, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean.half())
        self.register_buffer("basis", basis.half())  # (PIXELS, components), orthonormal columns
        self.register_buffer("spread", spread)  # standard deviation of each coefficient
        components = basis.shape[1]
        self.inner_encoder = mlp([components, hidden, hidden, LATENT])
        self.inner_decoder = mlp([LATENT, hidden, hidden, components])

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """Whitened PCA coefficients of faces (N,3,64,64)."""
        return ((x.flatten(1) - self.mean.float()) @ self.basis.float()) / self.spread

    def image(self, coefficients: torch.Tensor) -> torch.Tensor:
        """Faces (N,3,64,64) of whitened PCA coefficients."""
        flat = (coefficients * self.spread) @ self.basis.float().T + self.mean.float()
        return flat.clamp(0, 1).view(-1, 3, SIZE, SIZE)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent codes of faces."""
        return self.inner_encoder(self.coefficients(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Faces of latent codes."""
        return self.image(self.inner_decoder(z))


class Deblurrer(nn.Module):
    """Four convolutions at full resolution predicting a sharpening residual."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(3, width), conv(width, width), conv(width, width), nn.Conv2d(width, 3, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sharpened faces."""
        return (x + self.body(x)).clamp(0, 1)


class Smoothener(nn.Module):
    """A shallow autoencoder (one downsampling) that reconstructs faces and so drops artefacts."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(3, width, 2),
            conv(width, width),
            nn.Upsample(scale_factor=2, mode="nearest"),
            conv(width, width),
            nn.Conv2d(width, 3, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Smoothed faces."""
        return (x + self.body(x)).clamp(0, 1)


class LatentShift(nn.Module):
    """The deployed chain: encode, shift toward ``target`` by ``strength``, decode, deblur, smooth."""

    def __init__(self, autoencoder: AutoEncoder, deblurrer: Deblurrer, smoothener: Smoothener) -> None:
        super().__init__()
        self.autoencoder, self.deblurrer, self.smoothener = autoencoder, deblurrer, smoothener

    def forward(self, face: torch.Tensor, target: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        """De-identified faces (N,3,64,64 in 0..1)."""
        z = self.autoencoder.encode(face)
        shifted = z + strength * (target - z)
        return self.smoothener(self.deblurrer(self.autoencoder.decode(shifted)))


def pca(faces: np.ndarray, components: int, sample: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, basis (PIXELS x components) and coefficient spreads of a random, randomly flipped sample of ``faces``."""
    batch, _ = random_batch(faces, min(sample, len(faces)), rng)
    x = to_tensor(batch).flatten(1)
    mean = x.mean(0)
    _, singular, basis = torch.pca_lowrank(x - mean, q=components, center=False, niter=3)
    spread = singular / np.sqrt(len(x) - 1)
    return mean, basis, spread


def encode_all(autoencoder: AutoEncoder, faces: np.ndarray, chunk: int = 1024) -> torch.Tensor:
    """Whitened PCA coefficients of all ``faces`` (computed in chunks to bound memory)."""
    with torch.no_grad():
        return torch.cat([autoencoder.coefficients(to_tensor(faces[i : i + chunk])) for i in range(0, len(faces), chunk)])


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Centres and labels of ``points`` by Lloyd's k-means with a k-means++ start."""
    centres = [points[rng.integers(len(points))]]
    for _ in range(k - 1):
        distance = np.min(((points[:, None] - np.array(centres)[None]) ** 2).sum(-1), 1)
        centres.append(points[rng.choice(len(points), p=distance / distance.sum())])
    centres = np.array(centres)
    for _ in range(iterations):
        labels = np.argmin(((points[:, None] - centres[None]) ** 2).sum(-1), 1)
        centres = np.array([points[labels == c].mean(0) if np.any(labels == c) else centres[c] for c in range(k)])
    return centres, labels


def target_table(autoencoder: AutoEncoder, faces: np.ndarray, clusters: int, members: int, rng: np.random.Generator) -> np.ndarray:
    """``(clusters, members, LATENT)`` codes of near-frontal training faces, grouped by k-means cluster."""
    with torch.no_grad():
        codes, mirrored = [], []
        for i in range(0, len(faces), 1024):
            batch = to_tensor(faces[i : i + 1024])
            codes.append(autoencoder.encode(batch))
            mirrored.append(autoencoder.encode(batch.flip(-1)))
        codes_all, mirrored_all = torch.cat(codes).numpy(), torch.cat(mirrored).numpy()
    asymmetry = np.linalg.norm(codes_all - mirrored_all, axis=1)
    frontal = codes_all[asymmetry <= np.quantile(asymmetry, 0.4)]
    print(f"targets: {len(frontal)} near-frontal faces of {len(codes_all)}")
    centres, labels = kmeans(frontal, clusters, rng)
    table = []
    for cluster in range(clusters):
        points = frontal[labels == cluster]
        if len(points) < members:
            continue
        nearest = np.argsort(((points - centres[cluster]) ** 2).sum(1))[:members]
        table.append(points[nearest])
    print(f"targets: {len(table)} clusters of {members} members kept")
    return np.array(table, np.float32)


def main() -> None:
    """Train the networks, build the target table, export ONNX and the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_dir", type=Path, help="the shared data's train/ folder")
    parser.add_argument("--out", type=Path, default=Path("plugins/anonfilter_latentshift"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/anonfilter-train-cache"))
    parser.add_argument("--components", type=int, default=160, help="PCA components (outer autoencoder layers)")
    parser.add_argument("--pca-sample", type=int, default=12000, help="faces used for the PCA")
    parser.add_argument("--hidden", type=int, default=384, help="width of the inner MLP")
    # The defaults are the step counts of the committed weights (a run with time budgets of 8, 4
    # and 4 minutes on the shared 2-core machine): with them the run is reproducible.
    parser.add_argument("--autoencoder-steps", type=int, default=812)
    parser.add_argument("--deblurrer-steps", type=int, default=141)
    parser.add_argument("--smoothener-steps", type=int, default=151)
    parser.add_argument("--minutes", type=float, default=float("inf"), help="time budget of each network (stops early; not reproducible)")
    parser.add_argument("--clusters", type=int, default=24)
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"settings: {vars(args)}", flush=True)
    started = time.time()

    rng = seed_everything(args.seed, args.threads)
    data = training_data.load(args.train_dir, args.cache)
    faces = np.concatenate([data["celeba"], data["utkface"]])
    print(f"{len(faces)} aligned faces", flush=True)

    mean, basis, spread = pca(faces, args.components, args.pca_sample, rng)
    autoencoder = AutoEncoder(mean, basis, spread, args.hidden)
    coefficients = torch.cat([encode_all(autoencoder, faces), encode_all(autoencoder, faces[:, :, ::-1])])
    weight = spread**2 / (spread**2).sum()  # whitened-space error weighted back to image-space squared error
    print(
        f"PCA done after {time.time() - started:.0f}s: {args.components} components keep {float((spread**2).sum()):.1f} variance",
        flush=True,
    )

    def autoencoder_step(_: int) -> torch.Tensor:
        batch = coefficients[torch.from_numpy(rng.integers(0, len(coefficients), 256))]
        z = autoencoder.inner_encoder(batch)
        rebuilt = autoencoder.inner_decoder(z + 0.1 * torch.randn_like(z))
        return ((rebuilt - batch) ** 2 * weight).sum(1).mean() + 1e-3 * (z**2).mean()

    train_loop("autoencoder", autoencoder, autoencoder_step, args.minutes, args.autoencoder_steps, 1e-3)

    face_weight = 1.0 + 2.0 * mask_tensor(SIZE)  # the face inside the seam matters most
    deblurrer = Deblurrer()

    def deblur_step(_: int) -> torch.Tensor:
        batch = random_batch(faces, 32, rng)[0]
        blurred = gaussian_blur(batch, rng.uniform(0.8, 2.0, len(batch)))
        return (F.l1_loss(deblurrer(to_tensor(blurred)), to_tensor(batch), reduction="none") * face_weight).mean()

    train_loop("deblurrer", deblurrer, deblur_step, args.minutes, args.deblurrer_steps, 2e-3)

    smoothener = Smoothener()

    def smooth_step(_: int) -> torch.Tensor:
        batch = to_tensor(random_batch(faces, 32, rng)[0])
        noisy = (batch + 0.04 * torch.randn_like(batch)).clamp(0, 1)
        return (F.l1_loss(smoothener(noisy), batch, reduction="none") * face_weight).mean()

    train_loop("smoothener", smoothener, smooth_step, args.minutes, args.smoothener_steps, 2e-3)

    table = target_table(autoencoder, faces, args.clusters, args.members, rng)
    args.out.mkdir(parents=True, exist_ok=True)
    chain = LatentShift(autoencoder, deblurrer, smoothener).eval()
    example = (to_tensor(faces[:2]), torch.from_numpy(table[0, :2]), torch.ones(2, 1))
    export_onnx(chain, example, ["face", "target", "strength"], "output", args.out / "latentshift.onnx", fold_constants=False)
    np.save(args.out / "latentshift_targets.npy", table)
    print(f"wrote {args.out / 'latentshift_targets.npy'} {table.shape}; total {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
