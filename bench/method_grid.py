"""Render a side-by-side grid of methods on real faces: original | each method, one row per clip.

For each ``CLIP:FRAME[:SIZE]`` the frame is read, CenterFace finds its faces (landmarks included),
each method anonymizes all of them with the mask the pipeline builds, and the largest face (or
the one nearest SIZE pixels) is shown cropped (``--context`` times the face size, scaled to ``--tile`` pixels). The defaults are a
close-up, a mid-size and a small face from ../shared/data/videos. Methods are given as ``NAME`` or
``NAME:KEY=VALUE,...`` (the options of ``-O``). Usage::

    .venv/bin/python bench/method_grid.py --out docs/grids/method_grid.png
    .venv/bin/python bench/method_grid.py ../shared/data/videos/sadtalker_WDA_KatieHill_000.mp4:50 \\
        --methods blur synthetic synthetic:surround=blur --out /tmp/grid.png

The grid shows real people from the shared test data: research and internal use only (see
../shared/data/README.md), so docs/grids/ is ignored by git: render it where you need it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

from anonfilter.detection.centerface import CenterFace
from anonfilter.errors import AnonfilterError
from anonfilter.plugins import PluginHost
from anonfilter.types import Face, Frame, FrameInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import faces_for_methods  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
DEFAULT_SHOTS = [
    f"{VIDEOS / 'liveportrait_s18.mp4'}:60",
    f"{VIDEOS / 'liveportrait_s13.mp4'}:50",
    f"{VIDEOS / 'facenet_pytorch_video.mp4'}:10:64",
]
"""A close-up (about 300 px), a mid-size face (about 100 px) and a small one (about 60 px)."""
DEFAULT_METHODS = ["blur", "pixelate", "decoupled", "synthetic:surround=blur", "synthetic:surround=smooth", "synthetic"]


def shot_parts(shot: str) -> tuple[str, str, str]:
    """``CLIP:FRAME[:SIZE]`` -> clip, frame and size (empty when not given) as text."""
    head, _, last = shot.rpartition(":")
    clip, _, middle = head.rpartition(":")
    if clip and middle.isdigit():
        return clip, middle, last
    return head, last, ""


def read_frame(clip: Path, index: int) -> Frame:
    """Frame ``index`` of ``clip`` as RGB."""
    with av.open(str(clip)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                return frame.to_ndarray(format="rgb24")
    raise AnonfilterError(f"{clip} has no frame {index}")


def detected_faces(image: Frame) -> list[Face]:
    """The frame's faces as the pipeline hands them to a method (one identity key each)."""
    return faces_for_methods(CenterFace(precision="fp32").detect(image), image)


def tile(image: Frame, face: Face, context: float, size: int) -> np.ndarray:
    """A ``size`` x ``size`` crop of ``image`` around ``face``, ``context`` times the face size wide."""
    x0, y0, x1, y1 = face.box
    half = context * face.size / 2
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    scale = size / (2 * half)
    matrix = np.array([[scale, 0.0, size / 2 - scale * center[0]], [0.0, scale, size / 2 - scale * center[1]]])
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` with ``text`` on a dark band at its top."""
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (0, 0, 0), thickness=-1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> int:
    """Render the grid."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1]
    )
    parser.add_argument(
        "shots", nargs="*", default=DEFAULT_SHOTS, metavar="CLIP:FRAME[:SIZE]", help="clip, frame number (and face size) of each row"
    )
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, metavar="NAME[:OPTIONS]", help="the columns after the original")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--tile", type=int, default=256, help="side of each tile in pixels (default: 256)")
    parser.add_argument("--context", type=float, default=2.0, help="tile width in face sizes (default: 2.0)")
    args = parser.parse_args()
    host = PluginHost()
    methods = []
    for column in args.methods:
        name, _, options = column.partition(":")
        methods.append((column, host.create_method(name, [option for option in options.split(",") if option])))
    rows = []
    for shot in args.shots:
        clip, frame_text, size_text = shot_parts(shot)
        image = read_frame(Path(clip), int(frame_text))
        faces = detected_faces(image)
        if not faces:
            print(f"method_grid: no face found in {shot}", file=sys.stderr)
            return 2
        if size_text:
            shown = min(faces, key=lambda face: abs(face.size - float(size_text)))
        else:
            shown = max(faces, key=lambda face: face.size)
        info = FrameInfo(int(frame_text), 0.0, image.shape[1], image.shape[0])
        cells = [labelled(tile(image, shown, args.context, args.tile), f"original ({shown.size:.0f} px)")]
        for column, method in methods:
            out = image.copy()
            method.anonymize(out, faces, info)
            cells.append(labelled(tile(out, shown, args.context, args.tile), column))
        rows.append(np.hstack(cells))
    grid = np.vstack(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
