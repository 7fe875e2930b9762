"""Close-up clips made from the shared talking heads, for issue 21's yardstick.

Issue 21's failing case was a 720x1280 portrait talking head with a face of about 400 px, which
is not among the shared clips. This script makes such clips from the shared talking heads: each
frame is scaled so the face (found by CenterFace on the first frame) has the target size, and a
window of the target frame size is cut around it (where the scaled frame is smaller, its edge
pixels are repeated outwards and blurred: a plain backdrop, never a mirrored second face). Two shots by default:

- ``portrait``: 720x1280, a face of about 400 px a little above the middle (a phone's selfie video);
- ``webcam``: 1280x720, a face of about 250 px left of the middle (a streamer's camera).

The clips show real people from the shared test data: they go to a temporary folder (or
``--out``), never into the repository. Then measure a method on them::

    .venv/bin/python bench/closeups.py --out /tmp/closeups
    .venv/bin/anonfilter evaluate /tmp/closeups/*.mp4 -m synthetic --seed 1 --every 10
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from anonfilter.detection.centerface import CenterFace
from anonfilter.types import Frame

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
DEFAULT_CLIPS = ["liveportrait_s18.mp4", "liveportrait_s32.mp4", "liveportrait_d6.mp4", "sadtalker_WDA_KatieHill_000.mp4"]
"""Talking heads of four different people, landscape and square, never used in training."""


@dataclass(frozen=True)
class Shot:
    """A frame size, the face size in it and where the face's centre goes (fractions of the frame)."""

    name: str
    width: int
    height: int
    face: float
    center: tuple[float, float]


BACKDROP_BLUR = 25.0
"""Blur sigma (pixels) of the repeated edge outside the scaled picture."""

SHOTS = (Shot("portrait", 720, 1280, 400.0, (0.5, 0.4)), Shot("webcam", 1280, 720, 250.0, (0.42, 0.45)))


def face_box(image: Frame) -> np.ndarray:
    """The largest face CenterFace finds in ``image`` (``x0, y0, x1, y1``)."""
    boxes = CenterFace(precision="fp32").detect(image).boxes
    if not len(boxes):
        raise SystemExit("closeups: no face on the first frame")
    return boxes[np.argmax(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))]


def framing(box: np.ndarray, shot: Shot) -> np.ndarray:
    """The affine matrix that scales a frame so the face in ``box`` is ``shot.face`` pixels and puts its centre where ``shot`` says."""
    scale = shot.face / float(max(box[2] - box[0], box[3] - box[1]))
    center = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    target = np.array([shot.center[0] * shot.width, shot.center[1] * shot.height])
    offset = target - scale * center
    return np.array([[scale, 0.0, offset[0]], [0.0, scale, offset[1]]])


def reframed(image: Frame, matrix: np.ndarray, shot: Shot) -> Frame:
    """``image`` warped by ``matrix`` into ``shot``'s frame; outside the picture its edge repeated and blurred."""
    size = (shot.width, shot.height)
    framed = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.ones(image.shape[:2], np.float32), matrix, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
    if inside.min() >= 1.0:
        return framed
    backdrop = cv2.GaussianBlur(framed, (0, 0), BACKDROP_BLUR)
    return np.where(inside[..., None] >= 0.5, framed, backdrop)


def make_clip(source: Path, shot: Shot, out: Path, frames: int) -> Path:
    """Write ``source`` reframed as ``shot`` (at most ``frames`` frames) to ``out``; returns its path."""
    path = out / f"{shot.name}_{source.stem}.mp4"
    with av.open(str(source)) as container, av.open(str(path), "w") as output:
        rate = container.streams.video[0].average_rate or Fraction(25)
        stream = output.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = shot.width, shot.height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        matrix = None
        for number, frame in enumerate(container.decode(video=0)):
            if number == frames:
                break
            image = frame.to_ndarray(format="rgb24")
            if matrix is None:
                matrix = framing(face_box(image), shot)
            framed = reframed(image, matrix, shot)
            output.mux(stream.encode(av.VideoFrame.from_ndarray(framed, format="rgb24")))
        output.mux(stream.encode())
    return path


def main() -> int:
    """Write the close-up clips and print their paths."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1]
    )
    parser.add_argument("clips", nargs="*", type=Path, default=[VIDEOS / name for name in DEFAULT_CLIPS], help="talking heads to reframe")
    parser.add_argument("--out", type=Path, help="folder for the clips (default: a new temporary folder)")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip (default: 150)")
    parser.add_argument("--shots", nargs="+", choices=[shot.name for shot in SHOTS], default=[shot.name for shot in SHOTS])
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="anonfilter-closeups-"))
    out.mkdir(parents=True, exist_ok=True)
    for shot in (shot for shot in SHOTS if shot.name in args.shots):
        for clip in args.clips:
            print(make_clip(clip, shot, out, args.frames), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
