"""The scout's own recall by face size, and the close search's with and without it, on a generated clip.

On frames of a ``bench/small_faces.py`` clip (real faces of 12-64 px pasted at known boxes; the
same generator, never the scout's training data), the whole frame is searched as focused
detection's sweep does (pieces at 1.125x), three ways:

* **scout**: a true face counts as found when one of the scout's candidates would have its
  confirmation crop (:func:`anonfilter.detection.scout.confirm_regions`) hold the whole true box;
* **sweep**: CenterFace on the sweep's pieces (what the close search did without the scout);
* **scout + confirm**: CenterFace on the crops around the scout's candidates (what it does with it).

A face counts as detected when a detection overlaps its true box (intersection over the smaller
box >= 0.5). Also printed: candidates and confirmation crops per frame, and CPU seconds per frame
of each way (this process, one thread each)::

    .venv/bin/python bench/scout_recall.py --out /tmp/sf --every 3
    .venv/bin/python bench/scout_recall.py --out /tmp/sf --size 3840x2160 --frames 60 --pan 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from anonfilter.detection.centerface import CenterFace
from anonfilter.detection.focus import FocusedDetection, SearchGeometry
from anonfilter.detection.regions import detect_in_region, merge
from anonfilter.detection.scout import MODEL, THRESHOLD, Scout, confirm_regions, scout_scales
from anonfilter.types import Detections

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_faces import SIZE_BUCKETS, clip_in, parse_size  # noqa: E402

COVERED = 0.5
"""A detection finds a true face when their intersection is at least this much of the smaller box."""


def hits(boxes: np.ndarray, truth: tuple[int, int, int, int]) -> bool:
    """True when one of ``boxes`` overlaps ``truth`` by :data:`COVERED` of the smaller box."""
    if not len(boxes):
        return False
    x0, y0, x1, y1 = truth
    inter = np.clip(np.minimum(boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0, None) * np.clip(
        np.minimum(boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0, None
    )
    smaller = np.minimum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), (x1 - x0) * (y1 - y0))
    return bool((inter >= COVERED * np.maximum(smaller, 1)).any())


def holds(crops: list[tuple[int, int, int, int]], truth: tuple[int, int, int, int]) -> bool:
    """True when one of ``crops`` holds the whole ``truth`` box."""
    x0, y0, x1, y1 = truth
    return any(a0 <= x0 and b0 <= y0 and a1 >= x1 and b1 >= y1 for a0, b0, a1, b1 in crops)


def bucket(size: float) -> int:
    """Index of the :data:`SIZE_BUCKETS` entry ``size`` falls in (-1: none)."""
    return next((number for number, (low, high) in enumerate(SIZE_BUCKETS) if low <= size < high), -1)


def main() -> int:
    """Search the clip's frames three ways and print recall by face size and the cost of each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=(1920, 1080))
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--faces", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pan", type=float, default=0.0)
    parser.add_argument("--every", type=int, default=3, help="search every n-th frame (default 3)")
    parser.add_argument("--out", type=Path, help="folder for the clip (reused when there)")
    parser.add_argument("--model", default=MODEL, help="the scout's ONNX file (default: the committed one)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help=f"the scout's threshold (default: {THRESHOLD})")
    parser.add_argument(
        "--scan", type=float, nargs="*", default=[], help="also the scout's recall and candidates at these higher thresholds"
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="anonfilter-scout-"))
    out.mkdir(parents=True, exist_ok=True)
    width, height = args.size
    clip = clip_in(out, width, height, args.frames, args.faces, args.seed, args.pan)
    detector, scout = CenterFace(threads=1), Scout(args.threshold, threads=1, model=args.model)
    focus = FocusedDetection(detector, scout=scout)
    geometry = SearchGeometry.of(width, height)
    pieces = geometry.sweep(width, height)
    ways = ("scout", "sweep", "scout + confirm")
    found = {way: np.zeros((len(SIZE_BUCKETS), 2), int) for way in ways}
    seconds = dict.fromkeys(ways, 0.0)
    candidates = crops = searched = 0
    scanned = {threshold: np.zeros((len(SIZE_BUCKETS), 2), int) for threshold in args.scan}
    scanned_candidates = dict.fromkeys(args.scan, 0)
    with av.open(str(clip.path)) as container:
        for index, image in enumerate(container.decode(video=0)):
            if index % args.every:
                continue
            frame = image.to_ndarray(format="rgb24")
            searched += 1
            start = time.process_time()
            boxes = [
                scout.candidates(frame[y0:y1, x0:x1], scale) + np.float32([x0, y0, x0, y0, 0])
                for x0, y0, x1, y1 in pieces
                for scale in scout_scales(geometry.close_scale, geometry.reach)
            ]
            every = np.concatenate(boxes)
            seen = confirm_regions(every, geometry.close_scale, width, height)
            seconds["scout"] += time.process_time() - start
            start = time.process_time()
            sweep = merge([detect_in_region(detector.detect, frame, piece, geometry.close_scale) for piece in pieces]).boxes
            seconds["sweep"] += time.process_time() - start
            start = time.process_time()
            before = focus.passes["confirm"]
            confirmed = merge([part for piece in pieces for part in focus._scouted(frame, piece, geometry, Detections.empty())])
            seconds["scout + confirm"] += time.process_time() - start
            candidates += len(seen)
            crops += focus.passes["confirm"] - before
            scan = {
                threshold: confirm_regions(every[every[:, 4] >= threshold], geometry.close_scale, width, height) for threshold in args.scan
            }
            for threshold, regions in scan.items():
                scanned_candidates[threshold] += len(regions)
            for _number, truth in clip.truth(index):
                row = bucket(truth[2] - truth[0])
                if row < 0:
                    continue
                for threshold, regions in scan.items():
                    scanned[threshold][row] += (int(holds(regions, truth)), 1)
                for way, hit in (
                    ("scout", holds(seen, truth)),
                    ("sweep", hits(sweep, truth)),
                    ("scout + confirm", hits(confirmed.boxes, truth)),
                ):
                    found[way][row] += (int(hit), 1)
    print(f"{clip.path.name}: {searched} frames searched (every {args.every}), pieces {len(pieces)} at {geometry.close_scale:.3f}")
    print("way             " + " ".join(f"{low:>2}-{high - 1:<2} px   " for low, high in SIZE_BUCKETS) + " >=16 px  CPU s/frame")
    for way in ways:
        table = found[way]
        big = table[1:].sum(axis=0)
        cells = " ".join(f"{hit:>4}/{total:<5}" for hit, total in table)
        print(f"{way:<15} {cells} {big[0] / max(1, big[1]):.3f}    {seconds[way] / max(1, searched):.3f}")
    for threshold, table in scanned.items():
        big = table[1:].sum(axis=0)
        cells = " ".join(f"{hit:>4}/{total:<5}" for hit, total in table)
        print(
            f"scout >= {threshold:<6} {cells} {big[0] / max(1, big[1]):.3f}    candidates per frame {scanned_candidates[threshold] / max(1, searched):.1f}"
        )
    print(
        f"candidates per frame {candidates / max(1, searched):.1f}, confirmation crops per frame {crops / max(1, searched):.1f}, "
        f"pieces searched whole instead (too many candidates) {focus.passes['fallback']} of {len(pieces) * searched}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
