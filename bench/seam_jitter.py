"""How much a synthetic face's seam moves from frame to frame on talking heads, with and without
the tracker's smoothing of boxes and landmarks (``TrackerSettings.smooth``).

For each clip the first ``--frames`` frames are searched by CenterFace (once), then handed to
the offline tracker with each smoothing setting, and the largest face of each frame to a method
with the pipeline's mask. Printed per setting:

- **landmarks**: mean absolute second difference over time of the five landmarks, in
  thousandths of the face size (steady motion gives 0; the detector's noise does not);
- **box**: the same for the four box edges;
- **seam**: mean absolute change of the output from one frame to the next, in grey levels, in
  the band the method paints around the new face (inside either frame's mask, outside the face's
  core: the middle 70 % of the box), over pixels whose input did not change by more than 2
  levels (a still background): what a viewer sees as a flickering seam;
- **input**: the same band's input change (the floor of the seam figure).

Usage::

    .venv/bin/python bench/seam_jitter.py ../shared/data/videos/liveportrait_d0.mp4 --smooth 0 0.08
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import av
import numpy as np

from anonfilter.detection.centerface import CenterFace
from anonfilter.identity.keys import IdentityKeys
from anonfilter.identity.registry import Identities
from anonfilter.masks import MaskStyle, face_mask
from anonfilter.plugins import PluginHost
from anonfilter.tracking.base import TrackedFace
from anonfilter.tracking.settings import TrackerSettings
from anonfilter.tracking.temporal import TemporalTracker
from anonfilter.types import Detections, Face, Frame, FrameInfo

STILL = 2
"""Input pixels that change by at most this many grey levels between frames count as still."""
CORE = 0.35
"""The face's core (left out of the seam band): an ellipse of this many box sizes on each side of its centre."""


def read_clip(clip: Path, frames: int) -> tuple[list[Frame], float]:
    """The first ``frames`` frames of ``clip`` (RGB) and its frame rate."""
    images = []
    with av.open(str(clip)) as container:
        fps = float(container.streams.video[0].average_rate or 25)
        for frame in container.decode(video=0):
            images.append(frame.to_ndarray(format="rgb24"))
            if len(images) == frames:
                break
    return images, fps


def tracked_faces(detections: list[Detections], fps: float, smooth: float) -> list[Optional[TrackedFace]]:
    """The largest tracked face of each frame (None: none) with smoothing ``smooth`` seconds."""
    tracker = TemporalTracker(TrackerSettings(fps=fps, smooth=smooth), Identities(IdentityKeys(1)))
    out = []
    for index, found in enumerate(detections):
        out += tracker.push(index, np.zeros((1, 1, 3), np.uint8), found)
    out += tracker.flush()
    return [max(faces, key=lambda face: face.box[2] - face.box[0], default=None) for _, faces in out]


def second_difference(values: list[np.ndarray], sizes: list[float]) -> float:
    """Mean absolute second difference over time of ``values`` (one array per frame), in thousandths of the face size."""
    stacked = np.stack([value.reshape(-1) for value in values])
    return float((np.abs(np.diff(stacked, 2, axis=0)).mean(1) / np.asarray(sizes[1:-1])).mean() * 1000)


def as_face(tracked: TrackedFace, width: int, height: int) -> Face:
    """A tracked face with the pipeline's default mask, as a method gets it."""
    region, alpha = face_mask(tracked.box, width, height, MaskStyle())
    return Face(tracked.track_id, tracked.identity_key, tracked.box, tracked.score, tracked.status, region, alpha, tracked.landmarks)


def band(face: Face, width: int, height: int) -> np.ndarray:
    """The frame-sized boolean map of the face's mask outside its core."""
    out = np.zeros((height, width), bool)
    out[face.region.slices] = face.alpha > 0
    x0, y0, x1, y1 = face.box
    ys, xs = np.mgrid[0:height, 0:width]
    core = ((xs - (x0 + x1) / 2) / (CORE * (x1 - x0))) ** 2 + ((ys - (y0 + y1) / 2) / (CORE * (y1 - y0))) ** 2 <= 1
    return out & ~core


def seam_change(images: list[Frame], faces: list[Optional[TrackedFace]], method_name: str) -> tuple[float, float]:
    """Mean output and input change between frames in the seam band over still input pixels."""
    method = PluginHost().create_method(method_name, [])
    height, width = images[0].shape[:2]
    previous: Optional[tuple[Frame, Frame, Face]] = None
    changes, floors = [], []
    for index, (image, tracked) in enumerate(zip(images, faces)):
        if tracked is None:
            previous = None
            continue
        face = as_face(tracked, width, height)
        out = image.copy()
        method.anonymize(out, [face], FrameInfo(index, index / 25.0, width, height))
        if previous is not None:
            before_in, before_out, before_face = previous
            still = np.abs(image.astype(np.int16) - before_in).max(2) <= STILL
            where = (band(face, width, height) | band(before_face, width, height)) & still
            if where.any():
                changes.append(float(np.abs(out.astype(np.int16) - before_out)[where].mean()))
                floors.append(float(np.abs(image.astype(np.int16) - before_in)[where].mean()))
        previous = (image, out, face)
    return float(np.mean(changes)), float(np.mean(floors))


def main() -> int:
    """Print the jitter figures per clip and setting."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=75, help="frames per clip (default: 75)")
    parser.add_argument("--smooth", type=float, nargs="+", default=[0.0, TrackerSettings.smooth], help="settings to compare (seconds)")
    parser.add_argument("--method", default="synthetic", help="method for the seam figure (default: synthetic)")
    args = parser.parse_args()
    detector = CenterFace(precision="fp32")
    totals: dict[float, list[tuple[float, float, float, float]]] = {smooth: [] for smooth in args.smooth}
    print("clip | smooth | landmarks | box | seam | input")
    for clip in args.clips:
        images, fps = read_clip(clip, args.frames)
        detections = [detector.detect(image) for image in images]
        for smooth in args.smooth:
            faces = tracked_faces(detections, fps, smooth)
            shown = [face for face in faces if face is not None and face.landmarks is not None]
            sizes = [face.box[2] - face.box[0] for face in shown]
            landmarks = second_difference([face.landmarks for face in shown], sizes)  # type: ignore[misc]
            boxes = second_difference([np.array(face.box) for face in shown], sizes)
            seam, floor = seam_change(images, faces, args.method)
            totals[smooth].append((landmarks, boxes, seam, floor))
            print(f"{clip.name} | {smooth} | {landmarks:.1f} | {boxes:.1f} | {seam:.2f} | {floor:.2f}", flush=True)
    for smooth, rows in totals.items():
        means = np.mean(rows, axis=0)
        print(f"mean | {smooth} | {means[0]:.1f} | {means[1]:.1f} | {means[2]:.2f} | {means[3]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
