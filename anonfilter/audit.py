"""Audit an anonymized video against its input: which faces are still structurally the same?

A reference detector (CenterFace at the frame's full size and a low threshold, optionally with
tiles for small faces) runs on the *input*. For every face it finds, the same box is cut from
the input and from the *output* frame with the same index, and the two grayscale crops are
compared with :func:`face_similarity`: SSIM (structural similarity) after scaling the face to
:data:`FACE_SIZE` pixels and normalising its contrast by the input crop's. A face whose
similarity is at least :data:`SSIM_THRESHOLD` has not been anonymized: it is a leak. Optionally,
each leak also gets a dlib face-recognition distance between input and output (below 0.6: the
same person).

Plain SSIM on the crop cannot tell a blurred face from an unchanged one when the input face is
dark or out of focus (its small contrast is swamped by SSIM's stabilising constants). Scaling to
a fixed face size and normalising the contrast fixes that; the threshold was picked from
measurements (docs/benchmark.md has the figures and the table).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Callable, Optional, Sequence

import av
import cv2
import numpy as np

from anonfilter.errors import AnonfilterError
from anonfilter.hookspecs import Detector
from anonfilter.plugins import PluginHost
from anonfilter.types import Detections, Frame
from ffmpeg_bridge.reading import upright_frames
from ffmpeg_bridge.source import ffmpeg_location

SSIM_THRESHOLD = 0.85
"""A face whose :func:`face_similarity` is at least this is still structurally the same."""
FACE_SIZE = 32
"""Faces are compared at this size (longer side, pixels), so the blur of a method and the detail
of a face are measured on one scale whatever the face's size in the frame."""
CONTRAST = 40.0
"""The input crop's standard deviation is scaled to this grey level before comparing..."""
MAX_GAIN = 8.0
"""...by at most this factor (more would compare compression noise in flat dark regions)."""
REFERENCE_THRESHOLD = 0.3
"""Score threshold of the reference detector (lower than anonfilter's own detector would need)."""
REFERENCE_DETECTOR = "centerface"
"""The detector plugin the audit and ``evaluate`` trust, at full precision (:func:`reference_detector`)."""
MIN_FACE = 8
"""Faces smaller than this (longer side, pixels) are too small for SSIM to mean anything; not checked."""
MIN_CONTRAST = 2.0
"""A reference "face" whose input crop varies by less than this (grey-level standard deviation)
is featureless: nothing there can be recognised, and any method leaves it as it is. Counted
apart, not checked. (Measured: the only "leaks" of the default blur on the hamilton clip were a
flat dark patch of the background, standard deviation 0.6, that the reference detector took for a
face at score 0.3.)"""


@dataclass(frozen=True)
class AuditSettings:
    """How the reference detector runs and when a face counts as leaked."""

    ssim_threshold: float = SSIM_THRESHOLD
    detector_threshold: float = REFERENCE_THRESHOLD
    tiles: int = 1
    every: int = 1
    """Check every n-th frame only (1: all frames)."""
    embedding: bool = False
    """Also compute a dlib face-recognition distance for each leak."""
    detector_options: tuple[str, ...] = ()
    """``KEY=VALUE`` options of the reference detector, over the ones above (``anonfilter check -D``)."""


@dataclass(frozen=True)
class Leak:
    """One face of the input that is still structurally the same in the output."""

    frame: int
    time: float
    box: tuple[int, int, int, int]
    score: float
    ssim: float
    distance: Optional[float] = None
    """dlib embedding distance input vs output (below 0.6: same person); None when not computed."""


@dataclass
class AuditResult:
    """What :func:`find_leaks` found: faces checked, and those still the same in the output."""

    input: str
    output: str
    frames: int
    frames_checked: int
    checked: int
    leaks: list[Leak] = field(default_factory=list)
    settings: AuditSettings = field(default_factory=AuditSettings)
    featureless: int = 0
    """Reference faces not checked because their input crop is flat (see :data:`MIN_CONTRAST`)."""

    @property
    def leaked(self) -> int:
        """Number of leaked face-frames."""
        return len(self.leaks)

    @property
    def leaked_fraction(self) -> float:
        """Leaked face-frames as a fraction of the checked ones (0 when none were checked)."""
        return self.leaked / self.checked if self.checked else 0.0

    @property
    def leaking_frames(self) -> list[int]:
        """Indices of the frames with at least one leak, in order."""
        return sorted({leak.frame for leak in self.leaks})

    def to_dict(self) -> dict:
        """JSON-ready form (``anonfilter check --json PATH``)."""
        return {
            "input": self.input,
            "output": self.output,
            "frames": self.frames,
            "frames_checked": self.frames_checked,
            "faces_checked": self.checked,
            "faces_featureless": self.featureless,
            "faces_leaked": self.leaked,
            "leaked_fraction": round(self.leaked_fraction, 6),
            "leaking_frames": self.leaking_frames,
            "leaks": [asdict(leak) for leak in self.leaks],
            "settings": asdict(self.settings),
        }


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two equal-sized grayscale images (Wang et al. 2004, Gaussian window)."""
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def smooth(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = smooth(x), smooth(y)
    vx = smooth(x * x) - mx * mx
    vy = smooth(y * y) - my * my
    cov = smooth(x * y) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.mean())


def face_similarity(before: np.ndarray, after: np.ndarray) -> float:
    """How structurally similar two grayscale crops of one face are (1: identical).

    Both are scaled to :data:`FACE_SIZE` on their longer side and normalised with the same gain,
    taken from ``before``'s contrast, then compared with :func:`ssim`.
    """
    height, width = before.shape
    factor = FACE_SIZE / max(height, width)
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    a = cv2.resize(before.astype(np.float32), size, interpolation=interpolation).astype(np.float64)
    b = cv2.resize(after.astype(np.float32), size, interpolation=interpolation).astype(np.float64)
    mean = a.mean()
    gain = min(MAX_GAIN, CONTRAST / max(float(a.std()), 1e-3))
    return ssim(np.clip((a - mean) * gain + 128, 0, 255), np.clip((b - mean) * gain + 128, 0, 255))


def _open(path: "str | Path", role: str) -> av.container.InputContainer:
    """Open a video for decoding, or fail with one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise AnonfilterError(f"{role} not found: {path}")
    try:
        container = av.open(ffmpeg_location(str(path), "pipe:0"))  # a path, even with a colon in its name
    except av.FFmpegError as error:
        raise AnonfilterError(f"{role} is not a readable video: {path} ({error})") from None
    if not container.streams.video:
        container.close()
        raise AnonfilterError(f"{role} has no video stream: {path}")
    container.streams.video[0].thread_type = "AUTO"
    return container


def reference_detector(settings: AuditSettings) -> Detector:
    """The detector an audit trusts, from the plugin host: full-precision CenterFace on the full-size frame at a low threshold."""
    options = [f"threshold={settings.detector_threshold!r}", f"tiles={settings.tiles}", "resolution=0", "threads=0", "precision=fp32"]
    options += settings.detector_options  # the user's, later ones win
    return PluginHost().create_detector(REFERENCE_DETECTOR, options)


def reference_faces(
    input: "str | Path", settings: AuditSettings = AuditSettings(), progress: Optional[Callable[[int], None]] = None
) -> dict[int, Detections]:
    """The reference detector's faces in every checked frame of ``input`` (frame index -> faces).

    Compute this once and pass it to :func:`find_leaks` to audit several outputs of one input.
    """
    detector = reference_detector(settings)
    faces = {}
    with _open(input, "input") as container:
        for index, (frame, _time) in enumerate(upright_frames(container, container.streams.video[0], str(input))):
            if index % settings.every == 0:
                faces[index] = detector.detect(frame)
            if progress is not None:
                progress(1)
    return faces


def _leaks_in_frame(
    index: int, time: float, before: Frame, after: Frame, faces: Detections, threshold: float
) -> tuple[int, int, list[Leak]]:
    """Compare each face box of one frame pair; returns (faces checked, featureless faces, leaks)."""
    height, width = before.shape[:2]
    checked = featureless = 0
    leaks = []
    gray_before = gray_after = None
    for box, score in zip(faces.boxes, faces.scores):
        x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
        x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
        if min(x1 - x0, y1 - y0) < MIN_FACE:
            continue
        if gray_before is None:
            gray_before = cv2.cvtColor(before, cv2.COLOR_RGB2GRAY)
            gray_after = cv2.cvtColor(after, cv2.COLOR_RGB2GRAY)
        crop = gray_before[y0:y1, x0:x1]
        if float(crop.std()) < MIN_CONTRAST:
            featureless += 1
            continue
        checked += 1
        similarity = face_similarity(crop, gray_after[y0:y1, x0:x1])
        if similarity >= threshold:
            leaks.append(Leak(index, round(time, 3), (x0, y0, x1, y1), round(float(score), 3), round(similarity, 3)))
    return checked, featureless, leaks


def find_leaks(
    input: "str | Path",
    output: "str | Path",
    settings: AuditSettings = AuditSettings(),
    reference: Optional[dict[int, Detections]] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> AuditResult:
    """Compare ``output`` with ``input`` frame by frame; every reference face still the same is a leak.

    Frames are matched by their index in decoding order; videos with different frame counts or
    frame sizes cannot be compared and raise :class:`AnonfilterError`. ``reference`` takes faces
    from :func:`reference_faces` (computed here when None); ``progress`` is called with 1 per frame.
    """
    detector = reference_detector(settings) if reference is None else None
    frames = frames_checked = checked = featureless = 0
    leaks: list[Leak] = []
    with _open(input, "input") as source, _open(output, "output") as result:
        inputs, outputs = (
            upright_frames(source, source.streams.video[0], str(input)),
            upright_frames(result, result.streams.video[0], str(output)),
        )
        for index, pair in enumerate(zip_longest(inputs, outputs)):
            if pair[0] is None or pair[1] is None:
                input_count = index + (pair[0] is not None) + sum(1 for _ in inputs)
                output_count = index + (pair[1] is not None) + sum(1 for _ in outputs)
                raise AnonfilterError(f"frame count differs: input has {input_count} frames, output has {output_count}")
            (before, time), (after, _) = pair
            frames += 1
            if before.shape != after.shape:
                raise AnonfilterError(
                    f"frame size differs: input {before.shape[1]}x{before.shape[0]}, output {after.shape[1]}x{after.shape[0]}"
                )
            if progress is not None:
                progress(1)
            if index % settings.every:
                continue
            faces = detector.detect(before) if detector is not None else reference.get(index, Detections.empty())
            frames_checked += 1
            count, flat, found = _leaks_in_frame(index, time, before, after, faces, settings.ssim_threshold)
            checked += count
            featureless += flat
            leaks += found
    if settings.embedding and leaks:
        leaks = _with_distances(input, output, leaks)
    return AuditResult(str(input), str(output), frames, frames_checked, checked, leaks, settings, featureless)


def _with_distances(input: "str | Path", output: "str | Path", leaks: Sequence[Leak]) -> list[Leak]:
    """The leaks with their dlib embedding distance input vs output filled in."""
    from anonfilter.identity.embedder import FaceEmbedder, distance  # noqa: PLC0415 - dlib only when asked

    embedder = FaceEmbedder()
    by_frame: dict[int, list[Leak]] = {}
    for leak in leaks:
        by_frame.setdefault(leak.frame, []).append(leak)
    result = []
    with _open(input, "input") as source, _open(output, "output") as target:
        for index, ((before, _), (after, _)) in enumerate(
            zip(upright_frames(source, source.streams.video[0], str(input)), upright_frames(target, target.streams.video[0], str(output)))
        ):
            for leak in by_frame.get(index, []):
                box = tuple(float(v) for v in leak.box)
                a, b = embedder.embed(before, box), embedder.embed(after, box)
                value = None if a is None or b is None else round(float(distance(a, b)[0, 0]), 3)
                result.append(Leak(**{**asdict(leak), "box": leak.box, "distance": value}))
    return result
