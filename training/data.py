"""Training data: the shared UTKFace and CelebA crops, aligned to the canonical 64x64 crop.

The crops are read straight from the tar files (never unpacked). Each face is found again with
CenterFace, so the training crops are aligned with exactly the landmarks and template used at
inference time (:mod:`anonfilter.faces.align`). The result is cached as one ``.npz`` so the
training scripts start in seconds the second time.

    python -m training.data /path/to/shared/data/train --cache /tmp/anonfilter-train-cache
"""

from __future__ import annotations

import argparse
import csv
import os
import tarfile
from pathlib import Path

import cv2
import numpy as np

from anonfilter.detection.centerface import CenterFace
from anonfilter.faces.align import CROP_SIZE, alignment_matrix, warp_to_crop

CELEBA = "celeba_ids_128"
UTKFACE = "utkface_128"


def read_faces(tar_path: Path, names: list[str]) -> list[np.ndarray]:
    """RGB images of the members ``<tar stem>/<name>`` of ``tar_path``, in the order of ``names``."""
    wanted = {f"{tar_path.stem}/{name}": index for index, name in enumerate(names)}
    images: list[np.ndarray] = [np.zeros(0)] * len(names)
    with tarfile.open(tar_path) as archive:
        for member in archive:
            index = wanted.get(member.name)
            if index is None:
                continue
            data = np.frombuffer(archive.extractfile(member).read(), np.uint8)
            images[index] = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return images


def align_faces(images: list[np.ndarray], detector: CenterFace, size: int = CROP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Canonical ``size``-px crops of the most confident face in each image, and a mask of the images with a face."""
    crops = np.zeros((len(images), size, size, 3), np.uint8)
    found = np.zeros(len(images), bool)
    for index, image in enumerate(images):
        detections = detector.detect(image)
        if len(detections) == 0:
            continue
        best = int(np.argmax(detections.scores))
        matrix = alignment_matrix(tuple(detections.boxes[best]), detections.landmarks[best], size)
        crops[index] = warp_to_crop(image, matrix, size)
        found[index] = True
    return crops, found


def prepare(train_dir: Path, utkface_count: int, seed: int = 0, size: int = CROP_SIZE) -> dict[str, np.ndarray]:
    """Aligned ``size``-px crops: all CelebA faces with their identity, and ``utkface_count`` random UTKFace faces."""
    detector = CenterFace(threads=1, precision="fp32")  # the precision the committed weights were trained with
    with open(train_dir / f"{CELEBA}.csv") as file:
        rows = list(csv.DictReader(file))
    celeba_names = [row["file"] for row in rows]
    celeba_ids = np.array([int(row["identity"]) for row in rows])
    celeba, celeba_found = align_faces(read_faces(train_dir / f"{CELEBA}.tar", celeba_names), detector, size)
    with open(train_dir / f"{UTKFACE}.csv") as file:
        utk_names = [row["file"] for row in csv.DictReader(file)]
    rng = np.random.default_rng(seed)
    utk_names = sorted(rng.choice(utk_names, size=min(utkface_count, len(utk_names)), replace=False).tolist())
    utk, utk_found = align_faces(read_faces(train_dir / f"{UTKFACE}.tar", utk_names), detector, size)
    return {
        "celeba": celeba[celeba_found],
        "celeba_ids": celeba_ids[celeba_found],
        "utkface": utk[utk_found],
    }


def load(train_dir: Path, cache_dir: Path, utkface_count: int = 12000, size: int = CROP_SIZE) -> dict[str, np.ndarray]:
    """The training crops aligned at ``size`` pixels, from ``cache_dir`` when prepared before."""
    cache = cache_dir / f"aligned{size}_utk{utkface_count}.npz"
    if not cache.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        data = prepare(train_dir, utkface_count, size=size)
        partial = cache.with_name(f"{cache.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, **data)
        os.replace(partial, cache)  # atomic: two scripts preparing at once never see half a file
    with np.load(cache) as data:
        return {name: data[name] for name in data.files}


def main() -> None:
    """Prepare the cache and report its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_dir", type=Path, help="the shared data's train/ folder")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/anonfilter-train-cache"))
    parser.add_argument("--utkface", type=int, default=12000, help="how many UTKFace faces to use")
    parser.add_argument("--size", type=int, default=CROP_SIZE, help="side of the aligned crops (128 for train_upsampler_gan)")
    args = parser.parse_args()
    data = load(args.train_dir, args.cache, args.utkface, args.size)
    print({name: array.shape for name, array in data.items()})


if __name__ == "__main__":
    main()
