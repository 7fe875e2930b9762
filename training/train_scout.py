"""Train the scout: a tiny network that says where faces of 16-80 network pixels may be, distilled from CenterFace.

The scout (:mod:`anonfilter.detection.scout`) is the first stage of focused detection's close
search: it runs on every changed area (or the whole frame) at the close scale, and CenterFace
then runs only on small crops around its candidates. It must miss nothing CenterFace would find,
so it is trained for recall: its targets are CenterFace's own detections and faces pasted at
known boxes, and it runs with a low threshold.

Training samples are 256 x 256 grey crops (the scout sees the Y plane, grey, only), made on the fly:

* **backgrounds**: frames of the shared clips MOT17-13, MOT20-08, hamilton, armwrestling and
  makeup_occlusion, and scikit-image photos that ``bench/small_faces.py`` does *not* use
  (astronaut, brick, camera, chelsea, coins, grass, horse, moon, page, text, clock). Their real
  faces are labelled by the teacher: CenterFace at full precision on the frame scaled to
  :data:`LABEL_SIDE` px (1.125x of 1080p; MOT20-08, 960 px wide, is scaled up 2.25x), score >=
  :data:`TEACHER_THRESHOLD`. Each sample is a random crop of one of them at a random scale;
* **pasted faces** at known boxes: the CelebA and UTKFace 128 px crops of ../shared/data/train
  (their face box found by the same teacher on the crop), scaled to 12-120 px, feathered, with
  jitter of brightness, contrast, blur and noise, and the sample JPEG-compressed at random quality.

Held out: ``bench/small_faces.py`` (the yardstick of docs/benchmark.md) pastes faces of the
liveportrait and sadtalker clips onto scikit-image's coffee, rocket, Hubble deep field,
immunohistochemistry, retina and gravel photos; none of these is used here, nor the facenet clip
(the speed benchmark). The leak checks on MOT17-13, MOT20-08, hamilton and armwrestling are *not*
held out from the scout's training (their frames are backgrounds here; the faces are labelled by
CenterFace, not by hand).

Reproducible: seed :data:`SEED`, :data:`STEPS` steps of :data:`BATCH` samples, Adam at
:data:`LEARNING_RATE`, :data:`THREADS` torch thread (``torch==2.13.0``, CPU). The committed
``anonfilter/detection/scout.onnx`` is the checkpoint after step 2,900 of a 3,000-step run
(2026-12-03, about 20 minutes on one thread of a shared 2-core machine; the run's own export at
the end failed on an operator since replaced, so the last checkpoint saved was exported)::

    .venv/bin/python -m training.train_scout ../shared/data --cache /tmp/anonfilter-scout  # an empty cache folder
    .venv/bin/python -m training.train_scout ../shared/data --cache /tmp/anonfilter-scout \
        --export-only /tmp/anonfilter-scout/scout_2900.pt
"""

from __future__ import annotations

import argparse
import csv
import math
import tarfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from torch import nn

from anonfilter.detection.centerface import CenterFace
from anonfilter.detection.scout import INPUT_NAME, MODEL, OUTPUT_NAMES, STRIDE
from training.common import seed_everything

SEED = 0
STEPS = 3000
BATCH = 24
LEARNING_RATE = 3e-3
THREADS = 1
SAMPLE = 256
"""Side of a training sample, network pixels."""
LABEL_SIDE = 2160
"""Backgrounds are labelled by the teacher at this longer side (1.125 x 1920)."""
TEACHER_THRESHOLD = 0.3
BACKGROUND_CLIPS = {
    "dlib_MOT17-13-SDP-raw.remux.mp4": 16,
    "dlib_MOT20-08-raw_shorter.remux.mp4": 12,
    "face_recognition_short_hamilton_clip.mp4": 12,
    "mmaction2_demo_armwrestling.mp4": 10,
    "mmaction2_test_makeup_occlusion.avi": 6,
}
"""Clip: frames taken from it, evenly spread."""
SKIMAGE = ("astronaut", "brick", "camera", "chelsea", "coins", "grass", "horse", "moon", "page", "text", "clock")
"""scikit-image photos used as backgrounds (none of bench/small_faces.py's)."""
FACE_SIZES = (12.0, 120.0)
"""Pasted faces: longer side of the box, network pixels (log-uniform)."""
LARGEST = 96.0
"""Faces up to this size (network pixels) are the scout's to find; larger ones are ignored in the loss
(the overview finds them)."""
FACES_PER_SAMPLE = 3.0
"""Mean number of pasted faces per sample (Poisson)."""
FACE_POOL = 4000
"""Faces taken from each of CelebA and UTKFace."""


class ScoutNet(nn.Module):
    """Six 3 x 3 convolutions to stride 8 (receptive field 127 px), about 540 multiply-adds per input pixel.

    Outputs a face-centre heatmap (logits) and the face size (log2 of network pixels) at stride 8.
    """

    def __init__(self) -> None:
        super().__init__()

        def block(a: int, b: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(a, b, 3, stride, dilation, dilation), nn.BatchNorm2d(b), nn.ReLU(inplace=True))

        self.body = nn.Sequential(
            block(1, 8, 2), block(8, 16, 2), block(16, 24, 2), block(24, 32), block(32, 32, dilation=2), block(32, 32, dilation=4)
        )
        self.head = nn.Conv2d(32, 2, 1)
        nn.init.constant_(self.head.bias, 0.0)
        with torch.no_grad():
            self.head.bias[0] = -4.0

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        """``(N, 1, H, W)`` grey levels 0..255 -> ``(N, 2, H/8, W/8)``: heatmap logits, log2 size."""
        return self.head(self.body(grey / 128.0 - 1.0))


class Exported(nn.Module):
    """The network as shipped: heatmap as probabilities, size in network pixels."""

    def __init__(self, net: ScoutNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, grey: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(grey)
        return torch.sigmoid(out[:, :1]), torch.exp(out[:, 1:2] * math.log(2.0))


def clip_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` RGB frames spread evenly over the clip."""
    with av.open(str(path)) as container:
        total = container.streams.video[0].frames or sum(1 for _ in container.decode(video=0))
    picks = set(np.linspace(0, total - 1, count).round().astype(int).tolist())
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for index, frame in enumerate(container.decode(video=0)) if index in picks]


def skimage_photos() -> list[np.ndarray]:
    """The :data:`SKIMAGE` photos as RGB."""
    import skimage.data

    photos = []
    for name in SKIMAGE:
        picture = getattr(skimage.data, name)()
        picture = (picture * 255).astype(np.uint8) if picture.dtype == bool else picture.astype(np.uint8)
        photos.append(picture[:, :, :3] if picture.ndim == 3 else np.repeat(picture[:, :, None], 3, axis=2))
    return photos


def label_backgrounds(data: Path, teacher: CenterFace) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Grey backgrounds at :data:`LABEL_SIDE` and the teacher's face boxes on each."""
    images = [frame for name, count in BACKGROUND_CLIPS.items() for frame in clip_frames(data / "videos" / name, count)]
    images += skimage_photos()
    greys, boxes = [], []
    for image in images:
        scale = LABEL_SIDE / max(image.shape[:2])
        found = teacher.detect_scaled(image, scale)
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        greys.append(cv2.cvtColor(resized, cv2.COLOR_RGB2GRAY))
        boxes.append(found.boxes[found.scores >= TEACHER_THRESHOLD] * np.float32(scale))
    return greys, boxes


def face_pool(train: Path, teacher: CenterFace, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Grey 128 px face crops of CelebA and UTKFace and the teacher's box of the face on each."""
    crops, boxes = [], []
    for stem in ("celeba_ids_128", "utkface_128"):
        with open(train / f"{stem}.csv") as file:
            names = [row["file"] for row in csv.DictReader(file)]
        wanted = {f"{stem}/{name}" for name in rng.choice(names, size=min(FACE_POOL, len(names)), replace=False)}
        with tarfile.open(train / f"{stem}.tar") as archive:
            for member in archive:
                if member.name not in wanted:
                    continue
                data = np.frombuffer(archive.extractfile(member).read(), np.uint8)
                image = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                found = teacher.detect(image)
                if not len(found) or found.scores.max() < 0.5:
                    continue
                crops.append(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
                boxes.append(found.boxes[int(np.argmax(found.scores))])
    return np.stack(crops), np.stack(boxes)


def prepare(data: Path, cache: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Backgrounds, their labels and the face pool, from ``cache`` when made before."""
    path = cache / "scout_data.npz"
    if path.exists():
        loaded = np.load(path, allow_pickle=True)
        return {key: loaded[key] for key in loaded.files}
    teacher = CenterFace(resolution=0, threshold=0.2, threads=THREADS, precision="fp32")
    start = time.time()
    greys, boxes = label_backgrounds(data, teacher)
    print(f"labelled {len(greys)} backgrounds, {sum(len(b) for b in boxes)} faces, {time.time() - start:.0f}s", flush=True)
    faces, face_boxes = face_pool(data / "train", teacher, rng)
    print(f"face pool: {len(faces)} faces, {time.time() - start:.0f}s", flush=True)
    result = {
        "backgrounds": np.array(greys, dtype=object),
        "background_boxes": np.array(boxes, dtype=object),
        "faces": faces,
        "face_boxes": face_boxes,
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **result)
    return result


def paste_face(canvas: np.ndarray, face: np.ndarray, box: np.ndarray, size: float, rng: np.random.Generator) -> np.ndarray:
    """Paste ``face`` (a 128 px crop whose face box is ``box``) so that box is ``size`` px at a random
    place of ``canvas``; returns the pasted box."""
    side = max(box[2] - box[0], box[3] - box[1])
    scale = size / side
    patch = cv2.resize(face, (max(2, round(128 * scale)),) * 2, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
        box = np.array([128 - box[2], box[1], 128 - box[0], box[3]], np.float32)
    patch = patch.astype(np.float32) * rng.uniform(0.6, 1.3) + rng.uniform(-40, 40)
    height, width = patch.shape
    cx, cy = (box[0] + box[2]) / 2 * scale, (box[1] + box[3]) / 2 * scale
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(mask, (round(cx), round(cy)), (max(1, round(size * 0.8)), max(1, round(size * 0.95))), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, size / 10))
    x = int(rng.integers(-round(cx) + 2, SAMPLE - round(cx) - 2))
    y = int(rng.integers(-round(cy) + 2, SAMPLE - round(cy) - 2))
    a0, b0, a1, b1 = max(0, x), max(0, y), min(SAMPLE, x + width), min(SAMPLE, y + height)
    region = canvas[b0:b1, a0:a1]
    part, weight = patch[b0 - y : b1 - y, a0 - x : a1 - x], mask[b0 - y : b1 - y, a0 - x : a1 - x]
    canvas[b0:b1, a0:a1] = region * (1 - weight) + part * weight
    return np.array([box[0] * scale + x, box[1] * scale + y, box[2] * scale + x, box[3] * scale + y], np.float32)


def sample(data: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One training sample (grey, float) and its face boxes."""
    index = int(rng.integers(0, len(data["backgrounds"])))
    image, boxes = data["backgrounds"][index], np.asarray(data["background_boxes"][index], np.float32).reshape(-1, 4)
    scale = float(np.exp(rng.uniform(np.log(0.35), np.log(1.4))))
    side = SAMPLE / scale
    height, width = image.shape
    if side > min(height, width):
        side = min(height, width)
        scale = SAMPLE / side
    x0, y0 = rng.uniform(0, width - side), rng.uniform(0, height - side)
    matrix = np.float32([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
    canvas = cv2.warpAffine(image, matrix, (SAMPLE, SAMPLE), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR).astype(np.float32)
    truth = [(boxes - np.float32([x0, y0, x0, y0])) * scale] if len(boxes) else []
    for _ in range(rng.poisson(FACES_PER_SAMPLE)):
        face = int(rng.integers(0, len(data["faces"])))
        size = float(np.exp(rng.uniform(*np.log(FACE_SIZES))))
        truth.append(paste_face(canvas, data["faces"][face], data["face_boxes"][face], size, rng)[None])
    if rng.random() < 0.5:
        canvas = canvas[:, ::-1]
        truth = [np.stack([SAMPLE - t[:, 2], t[:, 1], SAMPLE - t[:, 0], t[:, 3]], 1) for t in truth]
    canvas = canvas * rng.uniform(0.7, 1.2) + rng.uniform(-25, 25)
    if rng.random() < 0.3:
        canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.3, 1.2))
    canvas = np.clip(canvas + rng.normal(0, rng.uniform(0, 4), canvas.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        canvas = cv2.imdecode(cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 95))])[1], cv2.IMREAD_GRAYSCALE)
    return canvas, (np.concatenate(truth) if truth else np.zeros((0, 4), np.float32))


def targets(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap target, loss weight and log2 size target at stride :data:`STRIDE` for one sample."""
    cells = SAMPLE // STRIDE
    heat = np.zeros((cells, cells), np.float32)
    weight = np.ones((cells, cells), np.float32)
    size = np.zeros((cells, cells), np.float32)
    ys, xs = np.mgrid[0:cells, 0:cells].astype(np.float32) + 0.5
    for x0, y0, x1, y1 in boxes:
        side = max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
        if not (0 <= cx < cells and 0 <= cy < cells) or side < 8:
            continue
        if side > LARGEST:  # the overview's: neither a face to find nor a negative
            weight[max(0, int(y0 / STRIDE)) : int(np.ceil(y1 / STRIDE)), max(0, int(x0 / STRIDE)) : int(np.ceil(x1 / STRIDE))] = 0
            continue
        sigma = max(0.6, side / STRIDE / 4)
        blob = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))
        heat = np.maximum(heat, blob)
        row, column = min(cells - 1, int(cy)), min(cells - 1, int(cx))
        size[max(0, row - 1) : row + 2, max(0, column - 1) : column + 2] = np.log2(side)
    return heat, weight, size


def batch(data: dict[str, np.ndarray], rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    """A batch of :data:`BATCH` samples and their targets as tensors."""
    images, heats, weights, sizes = [], [], [], []
    for _ in range(BATCH):
        image, boxes = sample(data, rng)
        heat, weight, size = targets(boxes)
        images.append(image)
        heats.append(heat)
        weights.append(weight)
        sizes.append(size)
    as_tensor = lambda arrays: torch.from_numpy(np.stack(arrays)[:, None].astype(np.float32))  # noqa: E731
    return as_tensor(images), as_tensor(heats), as_tensor(weights), as_tensor(sizes)


def loss_of(out: torch.Tensor, heat: torch.Tensor, weight: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """CenterNet's focal loss on the heatmap (positives weighted up, for recall) plus L1 on the size."""
    probability = torch.sigmoid(out[:, :1]).clamp(1e-4, 1 - 1e-4)
    positive = (heat > 0.99).float()
    pos_loss = -torch.log(probability) * (1 - probability) ** 2 * positive
    neg_loss = -torch.log(1 - probability) * probability**2 * (1 - heat) ** 4 * (1 - positive) * weight
    count = positive.sum().clamp(min=1)
    has_size = (size > 0).float()
    size_loss = (torch.abs(out[:, 1:2] - size) * has_size).sum() / has_size.sum().clamp(min=1)
    return (2.0 * pos_loss.sum() + neg_loss.sum()) / count + 0.5 * size_loss


def main() -> None:
    """Prepare the data, train, export the ONNX model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="../shared/data")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/anonfilter-scout"))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=Path(MODEL))
    parser.add_argument("--export-only", type=Path, metavar="CHECKPOINT", help="only export a checkpoint (scout.pt) to --out")
    args = parser.parse_args()
    if args.export_only:
        net = ScoutNet()
        net.load_state_dict(torch.load(args.export_only))
        export(net, args.out)
        return
    rng = seed_everything(SEED, THREADS)
    torch.use_deterministic_algorithms(False)
    data = prepare(args.data, args.cache, rng)
    net = ScoutNet()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=args.steps, pct_start=0.1)
    start, running = time.time(), 0.0
    for step in range(args.steps):
        images, heat, weight, size = batch(data, rng)
        loss = loss_of(net(images), heat, weight, size)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running = 0.98 * running + 0.02 * float(loss.detach()) if step else float(loss.detach())
        if step % 100 == 0:
            print(f"step {step} loss {running:.4f} {time.time() - start:.0f}s", flush=True)
            torch.save(net.state_dict(), args.cache / "scout.pt")
            torch.save(net.state_dict(), args.cache / f"scout_{step}.pt")
    torch.save(net.state_dict(), args.cache / "scout.pt")
    export(net, args.out)
    print(f"after {args.steps} steps, {time.time() - start:.0f}s")


def export(net: ScoutNet, path: Path) -> None:
    """Write ``net`` as the shipped ONNX model (dynamic height and width)."""
    net.eval()
    example = torch.zeros(1, 1, 64, 64)
    axes = {INPUT_NAME: {2: "H", 3: "W"}, **{name: {2: "h", 3: "w"} for name in OUTPUT_NAMES}}
    with torch.no_grad():
        torch.onnx.export(
            Exported(net), (example,), str(path), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
