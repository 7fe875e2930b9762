"""Recall of the CenterFace detector by face size, false positives and time, for several settings.

Two kinds of source:

* stills with ground truth in ../shared/data/images_gt: ``dlib_faces`` (boxes in imglab
  ``training.xml``/``testing.xml``) and ``wider_val_416`` (``boxes.json``, ``[x, y, w, h]`` on
  416x416 images, many 3-10 px faces);
* a video (``--video``), where the reference is the same detector at a much larger size
  (``--reference``, default native size with 2x2 tiles at threshold 0.3): recall here means
  "found what the expensive setting finds", which is what picking a default resolution needs.

A detection matches a face when its centre lies inside the face box and its size (longer side)
is 0.5-2.5 times the face's; matching is one-to-one, best score first. Face size is the longer
side of the ground-truth box in pixels of the original image. Unmatched detections count as
false positives (on WIDER some are real faces the annotation leaves out).

Usage::

    python bench/detector_recall.py                       # both still sets, default settings list
    python bench/detector_recall.py --set dlib_faces --setting upscale=2 --setting tiles=2
    python bench/detector_recall.py --video ../shared/data/videos/facenet_pytorch_video.mp4 \\
        --frames 20 --setting resolution=960 --setting resolution=1280 --setting resolution=0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Iterator

import numpy as np

from anonfilter.detection.centerface import CenterFace
from anonfilter.types import Detections

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BUCKETS = [(0, 16), (16, 32), (32, 64), (64, 128), (128, 100000)]
BUCKET_NAMES = ["<16", "16-32", "32-64", "64-128", ">=128"]
DEFAULT_SETTINGS = [
    "resolution=0,upscale=0.5",
    "resolution=0",
    "resolution=0,upscale=2",
    "resolution=0,tiles=2",
    "resolution=0,upscale=2,tiles=2",
    "resolution=0,threshold=0.5",
]
"""For stills: scale factors on the image's own size (the stills are 416-1000 px, smaller than video frames)."""
Sample = tuple[str, np.ndarray, np.ndarray]  # name, RGB image, (N, 4) x0 y0 x1 y1 ground truth


def load_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def dlib_faces(root: Path) -> Iterator[Sample]:
    """The annotated dlib_faces photos (boxes marked ``ignore`` are left out)."""
    for xml_name in ("training.xml", "testing.xml"):
        for image in ElementTree.parse(root / xml_name).getroot().iter("image"):
            boxes = [
                [
                    float(box.get("left")),
                    float(box.get("top")),
                    float(box.get("left")) + float(box.get("width")),
                    float(box.get("top")) + float(box.get("height")),
                ]
                for box in image.iter("box")
                if box.get("ignore") != "1"
            ]
            yield image.get("file"), load_rgb(root / image.get("file")), np.array(boxes, np.float32).reshape(-1, 4)


def wider_val_416(root: Path) -> Iterator[Sample]:
    """The WIDER FACE validation images stretched to 416x416."""
    for entry in json.loads((root / "boxes.json").read_text()):
        xywh = np.array(entry["boxes_xywh"], np.float32).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        yield entry["file"], load_rgb(root / "images" / entry["file"]), boxes


def match(truth: np.ndarray, found: Detections) -> tuple[np.ndarray, int]:
    """Which ground-truth boxes are found (bool array) and how many detections match nothing."""
    hit = np.zeros(len(truth), bool)
    unmatched = 0
    truth_size = np.maximum(truth[:, 2] - truth[:, 0], truth[:, 3] - truth[:, 1])
    for index in np.argsort(-found.scores):
        x0, y0, x1, y1 = found.boxes[index]
        cx, cy, size = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
        ok = (
            ~hit
            & (truth[:, 0] <= cx)
            & (cx <= truth[:, 2])
            & (truth[:, 1] <= cy)
            & (cy <= truth[:, 3])
            & (size >= 0.5 * truth_size)
            & (size <= 2.5 * truth_size)
        )
        if ok.any():
            candidates = np.nonzero(ok)[0]
            centres = (truth[candidates, :2] + truth[candidates, 2:]) / 2
            hit[candidates[np.argmin(np.hypot(*(centres - [cx, cy]).T))]] = True
        else:
            unmatched += 1
    return hit, unmatched


def parse_setting(text: str) -> dict:
    """``"resolution=960,tiles=2"`` -> keyword arguments for :class:`CenterFace`."""
    kinds = {"resolution": int, "tiles": int, "upscale": float, "threshold": float, "threads": int, "precision": str}
    options = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        options[key] = kinds[key](value)
    return options


def evaluate(samples: list[Sample], setting: str) -> dict:
    """Found/total per size bucket, false positives and median ms per image for one setting."""
    detector = CenterFace(**parse_setting(setting))
    detector.detect(samples[0][1])  # warm-up
    found = np.zeros(len(BUCKETS), int)
    total = np.zeros(len(BUCKETS), int)
    false_positives = 0
    times = []
    for _name, image, truth in samples:
        start = time.perf_counter()
        detections = detector.detect(image)
        times.append(time.perf_counter() - start)
        hit, unmatched = match(truth, detections)
        false_positives += unmatched
        sizes = np.maximum(truth[:, 2] - truth[:, 0], truth[:, 3] - truth[:, 1])
        for bucket, (low, high) in enumerate(BUCKETS):
            in_bucket = (sizes >= low) & (sizes < high)
            found[bucket] += int(hit[in_bucket].sum())
            total[bucket] += int(in_bucket.sum())
    return {
        "setting": setting,
        "found": found.tolist(),
        "total": total.tolist(),
        "fp": false_positives,
        "ms": 1000 * float(np.median(times)),
    }


def video_samples(path: Path, frames: int, every: int, reference: str) -> list[Sample]:
    """Frames of a video with the reference setting's detections as ground truth."""
    import av

    detector = CenterFace(**parse_setting(reference))
    samples = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % every:
                continue
            image = frame.to_ndarray(format="rgb24")
            samples.append((f"frame {index}", image, detector.detect(image).boxes))
            if len(samples) >= frames:
                break
    return samples


def print_table(title: str, rows: list[dict]) -> None:
    """One line per setting: found/total (recall %) per bucket, all sizes, FP, ms per image."""
    print(f"\n{title}")
    header = f"{'setting':<24}" + "".join(f"{name:>16}" for name in BUCKET_NAMES + ["all"]) + f"{'FP':>6}{'ms/img':>9}"
    print(header)
    for row in rows:
        cells = []
        for found, total in list(zip(row["found"], row["total"])) + [(sum(row["found"]), sum(row["total"]))]:
            cells.append(f"{found}/{total} ({100 * found / total:.0f}%)" if total else "-")
        print(f"{row['setting'] or 'default':<24}" + "".join(f"{cell:>16}" for cell in cells) + f"{row['fp']:>6}{row['ms']:>9.1f}")


def main() -> int:
    """Run the benchmark and print one table per source."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", choices=["dlib_faces", "wider_val_416"], help="still set (default: both)")
    parser.add_argument("--setting", action="append", help="detector options, e.g. resolution=960,tiles=2 (repeatable)")
    parser.add_argument("--video", type=Path, help="measure on a video against a reference setting instead")
    parser.add_argument("--frames", type=int, default=20, help="video frames to use (default: 20)")
    parser.add_argument("--every", type=int, default=5, help="use every Nth video frame (default: 5)")
    parser.add_argument("--reference", default="resolution=0,tiles=2,threshold=0.3,precision=fp32", help="reference setting for --video")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    settings = args.setting or DEFAULT_SETTINGS
    sources: dict[str, list[Sample]] = {}
    if args.video:
        sources[f"{args.video.name} vs reference ({args.reference})"] = video_samples(args.video, args.frames, args.every, args.reference)
    else:
        loaders = {"dlib_faces": dlib_faces, "wider_val_416": wider_val_416}
        for name in args.set or list(loaders):
            sources[name] = list(loaders[name](SHARED / "images_gt" / name))
    results = {}
    for title, samples in sources.items():
        rows = [evaluate(samples, setting) for setting in settings]
        results[title] = rows
        print_table(f"{title}: {len(samples)} images", rows)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
