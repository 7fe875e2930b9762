"""Small faces with exact ground truth: a generated clip, a leak check that needs no detector, coverage by face size.

The yardstick for issue 15 ("no face escapes the fast default"). A clip is made from

* a **background**: scikit-image's public-domain photos of real scenes without faces (coffee,
  rocket, the Hubble deep field, ...), laid out as a mosaic over the whole frame (1080p, 4K, any
  size), optionally panning;
* **faces**: crops of the talking-head clips in ../shared/data/videos (liveportrait_d*, sadtalker),
  taken frame by frame so they talk and turn, located in the source clip with dlib's HOG detector
  (not ours) on a downscaled copy; each is scaled to 12-64 px, feathered, and moved along a
  straight path; it appears and leaves at random frames and places.

The boxes where the faces were pasted are the ground truth: every face-frame is known, including
those no detector finds. A face-frame **leaks** when its fine detail in the output still
correlates at least :data:`LEAK_CORRELATION` with the input's (../shared/notes/leak-metrics.md):
both grey crops are scaled to 32 px, each one's Gaussian blur (sigma 2) is subtracted and the
residuals are correlated. No detector is involved in the check.

The test suite makes a short clip (tests/test_small_faces.py); the full run is::

    .venv/bin/python bench/small_faces.py                  # 1080p and 4K, 150 frames each, the defaults
    .venv/bin/python bench/small_faces.py --size 1920x1080 --frames 60 -- --detection whole
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = Path(os.environ.get("ANONFILTER_SHARED_DATA", ROOT.parent / "shared" / "data")) / "videos"
SOURCES = (
    "liveportrait_d0.mp4",
    "liveportrait_d3.mp4",
    "liveportrait_d6.mp4",
    "liveportrait_d10.mp4",
    "liveportrait_d11.mp4",
    "liveportrait_d12.mp4",
    "liveportrait_d14.mp4",
    "liveportrait_d18.mp4",
    "liveportrait_d19.mp4",
    "liveportrait_d20.mp4",
    "sadtalker_WDA_KatieHill_000.mp4",
)
"""Talking-head clips the faces come from (one person each, varied people, head turns, speech)."""
BACKGROUNDS = ("coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "gravel")
"""scikit-image photos of the background mosaic: real pictures without faces."""
LEAK_CORRELATION = 0.8
"""Fine-detail correlation from which a face-frame counts as leaked (leak-metrics.md: an untouched
re-encode scores >= 0.89 even at CRF 35, the default blur <= 0.57 on 99% of faces)."""
DETAIL_SIZE = 32
"""Faces are compared at this size (longer side, pixels)."""
DETAIL_SIGMA = 2.0
"""Sigma (pixels at :data:`DETAIL_SIZE`) of the blur whose residual is the fine detail."""
MIN_CONTRAST = 2.0
"""A crop whose grey levels vary less than this is featureless: not checked."""
SIZE_BUCKETS = ((12, 16), (16, 20), (20, 24), (24, 32), (32, 48), (48, 65))
"""Face sizes (longer side of the true box, pixels; upper end exclusive) that coverage is reported by."""
GUARANTEED_SIZE = 16
"""Coverage is required for faces of at least this size (issue 15)."""
CONTEXT = 1.6
"""A pasted patch is this many face sizes across: the face box plus hair, ears and neck, feathered outside the box."""
HOG_SIZE = 256
"""Source frames are scaled to this size before dlib's HOG detector locates the face (faces stay >= 100 px)."""
HOG_EVERY = 5
"""The face is located in every n-th source frame; the box is interpolated between."""


@dataclass(frozen=True)
class FacePlan:
    """One pasted face: which source, when, where and how large."""

    source: int
    """Index into :data:`SOURCES`."""
    source_start: int
    first: int
    last: int
    size: float
    """Longer side of the true box, pixels (square boxes)."""
    x: float
    y: float
    """Top-left corner of the true box on :attr:`first`."""
    vx: float
    vy: float
    """Pixels per frame."""

    def box(self, index: int) -> tuple[int, int, int, int]:
        """The true box on frame ``index`` (integer pixels, end exclusive)."""
        step = index - self.first
        x0, y0 = round(self.x + self.vx * step), round(self.y + self.vy * step)
        side = round(self.size)
        return x0, y0, x0 + side, y0 + side


@dataclass
class Clip:
    """A generated clip and its ground truth."""

    path: Path
    width: int
    height: int
    frames: int
    faces: list[FacePlan] = field(default_factory=list)

    def truth(self, index: int) -> list[tuple[int, tuple[int, int, int, int]]]:
        """``(face number, true box)`` of every face on frame ``index``."""
        return [(number, face.box(index)) for number, face in enumerate(self.faces) if face.first <= index <= face.last]

    def face_frames(self, min_size: float = GUARANTEED_SIZE) -> int:
        """How many face-frames of at least ``min_size`` px the clip holds."""
        return sum(face.last - face.first + 1 for face in self.faces if round(face.size) >= min_size)

    @classmethod
    def load(cls, path: Path) -> "Clip":
        """A clip made earlier by :func:`make_clip`, with the truth saved beside it."""
        data = json.loads(path.with_suffix(".truth.json").read_text())
        faces = [FacePlan(**{**face, "source": SOURCES.index(face["source"])}) for face in data["faces"]]
        return cls(path, data["width"], data["height"], data["frames"], faces)

    def save_truth(self) -> Path:
        """Write the plan beside the clip as JSON; returns its path."""
        path = self.path.with_suffix(".truth.json")
        faces = [{**face.__dict__, "source": SOURCES[face.source]} for face in self.faces]
        path.write_text(json.dumps({"width": self.width, "height": self.height, "frames": self.frames, "faces": faces}, indent=1))
        return path


def background(width: int, height: int) -> np.ndarray:
    """A mosaic of :data:`BACKGROUNDS` covering ``width`` x ``height`` (RGB)."""
    import skimage.data  # noqa: PLC0415 - only the generator needs scikit-image

    pictures = []
    for name in BACKGROUNDS:
        picture = getattr(skimage.data, name)()
        pictures.append(picture if picture.ndim == 3 else np.repeat(picture[:, :, None], 3, axis=2))
    columns = 3
    rows = -(-len(pictures) // columns)
    canvas = np.zeros((height, width, 3), np.uint8)
    xs = np.linspace(0, width, columns + 1).round().astype(int)
    ys = np.linspace(0, height, rows + 1).round().astype(int)
    for number, picture in enumerate(pictures):
        row, column = divmod(number, columns)
        cell = (xs[column + 1] - xs[column], ys[row + 1] - ys[row])
        canvas[ys[row] : ys[row + 1], xs[column] : xs[column + 1]] = cv2.resize(picture[:, :, :3], cell, interpolation=cv2.INTER_CUBIC)
    return canvas


def plan_faces(width: int, height: int, frames: int, count: int, seed: int, sizes: tuple[float, float] = (12, 64)) -> list[FacePlan]:
    """``count`` faces of random sizes (log-uniform in ``sizes``), sources, spans, places and straight paths.

    Each face appears at a random frame (a quarter of them on the first one) and stays 0.4-4 s at
    25 fps (or to the end), moving at up to 2 px per frame; its whole path stays inside the frame,
    and its patch never overlaps another face's while both are visible (so every true box shows
    its own face).
    """
    rng = np.random.default_rng(seed)
    faces: list[FacePlan] = []
    while len(faces) < count:
        size = float(np.exp(rng.uniform(np.log(sizes[0]), np.log(sizes[1] + 1))))
        first = 0 if rng.random() < 0.25 else int(rng.integers(0, frames))
        last = min(frames - 1, first + int(rng.integers(10, 100)))
        span = last - first
        vx, vy = rng.uniform(-2, 2, 2)
        margin = CONTEXT * size
        x_range = (margin - min(0, vx * span), width - margin - size - max(0, vx * span))
        y_range = (margin - min(0, vy * span), height - margin - size - max(0, vy * span))
        if x_range[0] >= x_range[1] or y_range[0] >= y_range[1]:
            vx = vy = 0.0
            x_range, y_range = (margin, width - margin - size), (margin, height - margin - size)
        face = FacePlan(
            source=int(rng.integers(0, len(SOURCES))),
            source_start=int(rng.integers(0, 60)),
            first=first,
            last=last,
            size=size,
            x=float(rng.uniform(*x_range)),
            y=float(rng.uniform(*y_range)),
            vx=float(vx),
            vy=float(vy),
        )
        if not any(_overlap(face, other) for other in faces):
            faces.append(face)
    return faces


def _overlap(a: FacePlan, b: FacePlan) -> bool:
    """True when the patches of ``a`` and ``b`` (:data:`CONTEXT` face sizes across) touch on a frame both are visible."""
    for index in range(max(a.first, b.first), min(a.last, b.last) + 1):
        (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a.box(index), b.box(index)
        reach = CONTEXT * (a.size + b.size) / 2
        if abs((ax0 + ax1) - (bx0 + bx1)) / 2 < reach and abs((ay0 + ay1) - (by0 + by1)) / 2 < reach:
            return True
    return False


class FaceSource:
    """The frames of one talking-head clip as square face patches (:data:`CONTEXT` face sizes across)."""

    def __init__(self, path: Path, frames: int) -> None:
        import dlib  # noqa: PLC0415 - dlib's HOG locates the source faces, independent of CenterFace

        detector = dlib.get_frontal_face_detector()
        images = []
        with av.open(str(path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index >= frames:
                    break
                images.append(frame.to_ndarray(format="rgb24"))
        boxes: dict[int, np.ndarray] = {}
        for index in range(0, len(images), HOG_EVERY):
            image = images[index]
            scale = HOG_SIZE / max(image.shape[:2])
            found = detector(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), 0)
            if found:
                best = max(found, key=lambda rect: rect.width())
                boxes[index] = np.array([best.left(), best.top(), best.right(), best.bottom()], np.float64) / scale
        if not boxes:
            raise RuntimeError(f"no face found in {path}")
        known = sorted(boxes)
        self.patches = []
        for index, image in enumerate(images):
            box = np.array([np.interp(index, known, [boxes[k][i] for k in known]) for i in range(4)])
            self.patches.append(self._patch(image, box))

    @staticmethod
    def _patch(image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The square of :data:`CONTEXT` box sizes around ``box`` (edges repeated where it leaves the image), at 128 px."""
        side = CONTEXT * max(box[2] - box[0], box[3] - box[1])
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        scale = 128 / side
        matrix = np.array([[scale, 0, 64 - scale * cx], [0, scale, 64 - scale * cy]])
        return cv2.warpAffine(image, matrix, (128, 128), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)

    def patch(self, index: int) -> np.ndarray:
        """Patch number ``index``, back and forth through the clip (so any length works)."""
        period = 2 * len(self.patches) - 2 or 1
        position = index % period
        return self.patches[position if position < len(self.patches) else period - position]


def feather(side: int, face: int) -> np.ndarray:
    """Alpha of a ``side``-px patch: 1 over the central ``face``-px box, falling off smoothly to 0 at the patch edge."""
    centre = (side - 1) / 2
    distance = np.abs(np.arange(side) - centre)
    outside = np.maximum.outer(distance, distance) - face / 2
    ramp = max(1.0, (side - face) / 2)
    alpha = np.clip(1 - outside / ramp, 0, 1)
    return (alpha * alpha * (3 - 2 * alpha))[:, :, None].astype(np.float32)


def paste(frame: np.ndarray, patch: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Blend a face ``patch`` into ``frame`` so that its face fills ``box``."""
    face = box[2] - box[0]
    side = int(round(CONTEXT * face)) | 1
    if (side - face) % 2:
        side += 1
    x0, y0 = box[0] - (side - face) // 2, box[1] - (side - face) // 2
    scaled = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha = feather(side, face)
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(frame.shape[1], x0 + side), min(frame.shape[0], y0 + side)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    region = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    part = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    frame[fy0:fy1, fx0:fx1] = (region + alpha[part] * (scaled[part] - region)).round().astype(np.uint8)


def make_clip(
    path: Path,
    width: int,
    height: int,
    frames: int = 150,
    faces: int = 30,
    seed: int = 1,
    pan: float = 0.0,
    fps: int = 25,
    videos: Path = SHARED_VIDEOS,
) -> Clip:
    """Write a clip of ``frames`` frames with ``faces`` pasted faces (H.264, CRF 16) and return it with its truth.

    ``pan``: the background moves by this many pixels per frame (a panning camera); 0 is a fixed
    camera. ``videos``: the folder of the talking-head clips.
    """
    clip = Clip(path, width, height, frames, plan_faces(width, height, frames, faces, seed))
    needed: dict[int, int] = {}
    for face in clip.faces:
        needed[face.source] = max(needed.get(face.source, 0), face.source_start + face.last - face.first + 1)
    sources = {number: FaceSource(videos / SOURCES[number], min(frames_needed, 120)) for number, frames_needed in needed.items()}
    extra = int(np.ceil(abs(pan) * frames))
    scene = background(width + extra, height)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "16", "preset": "veryfast"}
        for index in range(frames):
            shift = int(round(abs(pan) * index))
            frame = np.ascontiguousarray(scene[:, shift : shift + width])
            for number, box in clip.truth(index):
                face = clip.faces[number]
                paste(frame, sources[face.source].patch(face.source_start + index - face.first), box)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    clip.save_truth()
    return clip


def clip_in(folder: Path, width: int, height: int, frames: int, faces: int, seed: int, pan: float) -> Clip:
    """The clip of these parameters in ``folder``: made earlier (reused, named by every parameter), or made now."""
    path = folder / f"small_faces_{width}x{height}_n{frames}_f{faces}_s{seed}_p{pan:g}.mp4"
    if path.exists() and path.with_suffix(".truth.json").exists():
        return Clip.load(path)
    return make_clip(path, width, height, frames, faces, seed, pan)


def fine_detail(grey: np.ndarray) -> np.ndarray:
    """The crop at :data:`DETAIL_SIZE` px (longer side) minus its Gaussian blur: its fine detail."""
    height, width = grey.shape
    factor = DETAIL_SIZE / max(height, width)
    size = (max(4, round(width * factor)), max(4, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    small = cv2.resize(grey.astype(np.float32), size, interpolation=interpolation)
    return small - cv2.GaussianBlur(small, (0, 0), DETAIL_SIGMA)


def detail_correlation(before: np.ndarray, after: np.ndarray) -> Optional[float]:
    """Normalised correlation of the fine detail of two grey crops of one face; None when ``before`` is featureless."""
    if float(before.std()) < MIN_CONTRAST:
        return None
    a, b = fine_detail(before), fine_detail(after)
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / norm if norm > 0 else 0.0


def _grey_frames(path: Path) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="gray")


@dataclass
class Coverage:
    """Face-frames checked and leaked per size bucket (:data:`SIZE_BUCKETS`), and the leaks themselves."""

    checked: list[int] = field(default_factory=lambda: [0] * len(SIZE_BUCKETS))
    leaked: list[int] = field(default_factory=lambda: [0] * len(SIZE_BUCKETS))
    leaks: list[tuple[int, int, int]] = field(default_factory=list)
    """``(frame, face number, size)`` of each leak."""

    def add(self, size: int, leaked: bool, frame: int, face: int) -> None:
        """Count one face-frame."""
        for bucket, (low, high) in enumerate(SIZE_BUCKETS):
            if low <= size < high:
                self.checked[bucket] += 1
                self.leaked[bucket] += leaked
        if leaked:
            self.leaks.append((frame, face, size))

    def fraction(self, min_size: int = GUARANTEED_SIZE) -> float:
        """Covered face-frames of at least ``min_size`` px as a fraction of those checked (1 when none)."""
        buckets = [i for i, (low, _high) in enumerate(SIZE_BUCKETS) if low >= min_size]
        checked = sum(self.checked[i] for i in buckets)
        return 1 - sum(self.leaked[i] for i in buckets) / checked if checked else 1.0

    def table(self) -> str:
        """One line: ``size: leaked/checked`` per bucket and the coverage of faces >= 16 px."""
        cells = [f"{low}-{high - 1}px {leaked}/{checked}" for (low, high), leaked, checked in zip(SIZE_BUCKETS, self.leaked, self.checked)]
        return f"coverage >= {GUARANTEED_SIZE} px {self.fraction():.4f}; leaked/checked by size: " + ", ".join(cells)


def coverage(clip: Clip, output: Path) -> Coverage:
    """Which true face-frames of ``clip`` leak in ``output`` (fine-detail correlation; no detector)."""
    result = Coverage()
    for index, (before, after) in enumerate(zip(_grey_frames(clip.path), _grey_frames(output))):
        for number, (x0, y0, x1, y1) in clip.truth(index):
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(clip.width, x1), min(clip.height, y1)
            value = detail_correlation(before[y0:y1, x0:x1], after[y0:y1, x0:x1])
            if value is not None:
                result.add(x1 - x0, value >= LEAK_CORRELATION, index, number)
    return result


class BoxRecorder:
    """The pipeline's recorder: the anonymized boxes of every frame (for the blurred area)."""

    def __init__(self) -> None:
        self.boxes: dict[int, list[tuple[float, float, float, float]]] = {}

    def record(self, info, tracked) -> None:  # noqa: ANN001 - the FrameRecorder protocol
        """Keep the boxes of one finished frame."""
        self.boxes[info.index] = [face.box for face in tracked if not face.keep]


def blurred_area(clip: Clip, recorder: BoxRecorder) -> tuple[float, float]:
    """Anonymized area against the true boxes' area, summed over the clip: (on faces, elsewhere).

    The first is the area of the output boxes that overlap a true box divided by the true boxes'
    area (1.0: exactly the true boxes; CenterFace's boxes reach higher up the forehead than the
    true ones, which run from brows to chin); the second the area of the boxes that overlap no
    true face (false detections), on the same scale. Overlapping boxes count once (masks).
    """
    on_faces = elsewhere = truth = 0
    for index in range(clip.frames):
        true_boxes = [box for _number, box in clip.truth(index)]
        true_mask = np.zeros((clip.height, clip.width), bool)
        for x0, y0, x1, y1 in true_boxes:
            true_mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
        masks = {True: np.zeros_like(true_mask), False: np.zeros_like(true_mask)}
        for box in recorder.boxes.get(index, []):
            x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
            x1, y1 = max(0, int(np.ceil(box[2]))), max(0, int(np.ceil(box[3])))
            masks[bool(true_mask[y0:y1, x0:x1].any())][y0:y1, x0:x1] = True
        on_faces += int(masks[True].sum())
        elsewhere += int((masks[False] & ~masks[True]).sum())
        truth += int(true_mask.sum())
    return (on_faces / truth, elsewhere / truth) if truth else (0.0, 0.0)


def anonymize(clip: Clip, output: Path, options: Sequence[str] = ()) -> tuple[BoxRecorder, float, dict]:
    """Run anonfilter on ``clip`` (defaults plus ``options``) in this process; returns its boxes, seconds and stage seconds."""
    from anonfilter.assembly import build_anonymizer  # noqa: PLC0415
    from anonfilter.commands.pipeline_options import config_from_args  # noqa: PLC0415
    from anonfilter.commands.transcode import add_arguments  # noqa: PLC0415
    from anonfilter.plugins import PluginHost  # noqa: PLC0415
    from ffmpeg_bridge import transcode  # noqa: PLC0415

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["-i", str(clip.path), "-o", str(output), "-y", *options])
    config, host = config_from_args(args), PluginHost()
    recorder = BoxRecorder()
    made = []

    def make(info):  # noqa: ANN001, ANN202
        anonymizer = build_anonymizer(config, host, info.fps, info.display_size)
        anonymizer.recorder = recorder
        made.append(anonymizer)
        return anonymizer

    started = time.perf_counter()
    transcode(clip.path, output, make, overwrite=True, progress=False)
    seconds = time.perf_counter() - started
    return recorder, seconds, dict(made[0].seconds)


def parse_size(text: str) -> tuple[int, int]:
    """``"1920x1080"`` -> (1920, 1080)."""
    width, _, height = text.partition("x")
    return int(width), int(height)


def main() -> int:
    """Make the clips, anonymize them, print coverage by face size and the blurred area."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", action="append", type=parse_size, help="frame size, e.g. 1920x1080 (repeatable; default 1080p and 4K)")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip (default: 150)")
    parser.add_argument("--faces", type=int, default=30, help="faces per clip (default: 30)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pan", type=float, default=0.0, help="background pan, pixels per frame (default: 0, a fixed camera)")
    parser.add_argument("--out", type=Path, help="folder for the clips; clips already there are reused (default: a temporary folder)")
    parser.add_argument("options", nargs="*", help="anonfilter options after --, e.g. -- --detection whole")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="anonfilter-small-faces-"))
    out.mkdir(parents=True, exist_ok=True)
    for width, height in args.size or [(1920, 1080), (3840, 2160)]:
        clip = clip_in(out, width, height, args.frames, args.faces, args.seed, args.pan)
        path = clip.path
        recorder, seconds, stages = anonymize(clip, out / f"{path.stem}.anonfilter.mp4", args.options)
        result = coverage(clip, out / f"{path.stem}.anonfilter.mp4")
        print(
            f"{width}x{height}, {args.frames} frames, {clip.face_frames()} face-frames >= {GUARANTEED_SIZE} px "
            f"({clip.face_frames(0)} in all), options {' '.join(args.options) or '(defaults)'}: {seconds:.1f} s "
            f"(detect {stages.get('detect', 0):.1f} s)"
        )
        print(f"  {result.table()}")
        on_faces, elsewhere = blurred_area(clip, recorder)
        print(f"  anonymized area / true face area: {on_faces:.2f} on the faces, {elsewhere:.2f} elsewhere (false detections)")
        sizes = sorted({size for _frame, _face, size in result.leaks})
        print(f"  leaked sizes: {sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
