"""The seeds' quality metrics of an anonymization method, measured with dlib's face recognizer.

For faces sampled from a clip (or from a folder of photos) the real pipeline (detector, tracker,
method) anonymizes the frames, and each sampled face is compared before and after:

* **faceness**: the reference detector still finds a face where the face was (a replacement
  face, unlike a blur, keeps the video useful for face detection downstream); **faceness
  (dlib)** asks dlib's HOG frontal-face detector instead, a stricter judge of how real a face
  looks, over the samples where it finds the original face;
* **de-identification**: the anonymized face is at least :data:`SAME_PERSON_DISTANCE` (0.6, dlib's
  convention) from the original in dlib's embedding space;
* **stability**: the same person keeps the same face: each later sample of an identity key stays
  under 0.6 from that key's first sample (for photos: the photo shifted and scaled a little);
* **diversity**: different people get different faces: the mean replacements of two identity
  keys are at least 0.6 apart.

dlib is slow per face (docs/benchmark.md), so frames are sampled (``every``) and only faces large enough
for the recognizer (``min_size``) count. As in the seeds, where every original face is a face
(detection rate 100%), a sample counts only when the reference detector also finds a face there
in the *original* frame: the pipeline's detector runs at a lower threshold and also replaces
bodies, hands and blurred heads, where neither faceness nor de-identification means anything.
Such samples are counted as ``unconfirmed`` (``confirmed_only=False`` scores them too). The
original faces' own stability is reported beside the method's as the ceiling that head turns
and expressions allow.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from anonfilter.audit import REFERENCE_DETECTOR
from anonfilter.errors import AnonfilterError
from anonfilter.geometry import iou
from anonfilter.identity.embedder import SAME_PERSON_DISTANCE, FaceEmbedder, distance
from anonfilter.identity.keys import IdentityKeys
from anonfilter.pipeline import Anonymizer
from anonfilter.plugins import PluginHost
from anonfilter.tracking.base import TrackedFace
from anonfilter.types import AnonymizedFrame, Detections, FaceStatus, Frame, FrameInfo
from ffmpeg_bridge.reading import probe, upright_frames
from ffmpeg_bridge.source import open_input

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FACENESS_IOU = 0.3
"""A reference detection overlapping a face box by this much counts as finding the face."""
JITTER = 0.04
"""For photos, the stability sample is the photo shifted and scaled by this fraction of the face size."""


@dataclass
class FaceSample:
    """One sampled face: its identity key, frame, and embeddings before and after anonymization."""

    key: int
    frame: int
    box: tuple[float, float, float, float]
    original: np.ndarray = field(repr=False)
    anonymized: np.ndarray = field(repr=False)
    found: bool
    """Faceness: the reference detector found a face at ``box`` in the anonymized frame."""
    found_dlib: Optional[bool] = None
    """Faceness by dlib's HOG detector: None when it does not find the original face at ``box``."""
    again: Optional[np.ndarray] = field(default=None, repr=False)
    """Photos only: the embedding of the face anonymized again after a small shift and scale."""


@dataclass
class Score:
    """A fraction of successes, with how many cases it was measured on (``value`` None when none)."""

    passed: int
    total: int

    @property
    def value(self) -> Optional[float]:
        """``passed / total``, or None without cases."""
        return self.passed / self.total if self.total else None

    def __add__(self, other: "Score") -> "Score":
        return Score(self.passed + other.passed, self.total + other.total)


@dataclass
class Evaluation:
    """The metrics of one method on one input (or pooled over several with ``+``)."""

    name: str
    faces: int = 0
    keys: int = 0
    faceness: Score = field(default_factory=lambda: Score(0, 0))
    faceness_dlib: Score = field(default_factory=lambda: Score(0, 0))
    deidentification: Score = field(default_factory=lambda: Score(0, 0))
    stability: Score = field(default_factory=lambda: Score(0, 0))
    original_stability: Score = field(default_factory=lambda: Score(0, 0))
    diversity: Score = field(default_factory=lambda: Score(0, 0))
    unconfirmed: int = 0
    """Sampled faces left out: the reference detector finds no face there in the original frame."""
    method_faces: int = 0
    method_seconds: float = 0.0
    detector_frames: int = 0
    detector_seconds: float = 0.0

    def __add__(self, other: "Evaluation") -> "Evaluation":
        return Evaluation(
            "all",
            self.faces + other.faces,
            self.keys + other.keys,
            self.faceness + other.faceness,
            self.faceness_dlib + other.faceness_dlib,
            self.deidentification + other.deidentification,
            self.stability + other.stability,
            self.original_stability + other.original_stability,
            self.diversity + other.diversity,
            self.unconfirmed + other.unconfirmed,
            self.method_faces + other.method_faces,
            self.method_seconds + other.method_seconds,
            self.detector_frames + other.detector_frames,
            self.detector_seconds + other.detector_seconds,
        )

    @property
    def ms_per_face(self) -> Optional[float]:
        """Method time per face it anonymized (masks included), in milliseconds."""
        return 1000 * self.method_seconds / self.method_faces if self.method_faces else None

    @property
    def detector_ms_per_frame(self) -> Optional[float]:
        """Detector time per frame it ran on, in milliseconds."""
        return 1000 * self.detector_seconds / self.detector_frames if self.detector_frames else None

    def to_dict(self) -> dict:
        """Plain values for JSON: each score as its fraction, passed and total."""
        result = asdict(self)
        for name in ("faceness", "faceness_dlib", "deidentification", "stability", "original_stability", "diversity"):
            score: Score = getattr(self, name)
            result[name] = {"value": score.value, "passed": score.passed, "total": score.total}
        result["ms_per_face"] = self.ms_per_face
        result["detector_ms_per_frame"] = self.detector_ms_per_frame
        return result


def score_samples(name: str, samples: Sequence[FaceSample]) -> Evaluation:
    """The four metrics of a set of samples (timings are filled in by the caller)."""
    result = Evaluation(name, faces=len(samples))
    by_key: dict[int, list[FaceSample]] = {}
    for sample in samples:
        by_key.setdefault(sample.key, []).append(sample)
    result.keys = len(by_key)
    result.faceness = Score(sum(sample.found for sample in samples), len(samples))
    judged = [sample.found_dlib for sample in samples if sample.found_dlib is not None]
    result.faceness_dlib = Score(sum(judged), len(judged))
    moved = [float(distance(s.original, s.anonymized)[0, 0]) >= SAME_PERSON_DISTANCE for s in samples]
    result.deidentification = Score(sum(moved), len(samples))
    for group in by_key.values():
        group.sort(key=lambda sample: sample.frame)
        first = group[0]
        later = [s.again for s in group if s.again is not None] + [s.anonymized for s in group[1:]]
        if later:
            result.stability += Score(int((distance(first.anonymized, np.array(later)) < SAME_PERSON_DISTANCE).sum()), len(later))
        if len(group) > 1:
            originals = np.array([s.original for s in group[1:]])
            result.original_stability += Score(int((distance(first.original, originals) < SAME_PERSON_DISTANCE).sum()), len(originals))
    means = [np.mean([s.anonymized for s in group], axis=0) for group in by_key.values()]
    apart = [float(distance(a, b)[0, 0]) >= SAME_PERSON_DISTANCE for a, b in combinations(means, 2)]
    result.diversity = Score(sum(apart), len(apart))
    return result


class Evaluator:
    """Measures one method, built by ``make_anonymizer(fps)``, on clips and folders of photos.

    ``every``: sample every n-th frame of a clip; ``frames``: read at most this many frames of a
    clip (0: all); ``min_size``: only faces at least this many
    pixels (the recognizer needs them); ``max_faces``: stop sampling an input after this many
    faces (the recognizer's cost); ``face_threshold``: the reference detector's score for faceness
    and for confirming the original face; ``confirmed_only``: score only faces the reference
    detector finds in the original frame too.
    """

    def __init__(
        self,
        make_anonymizer: Callable[[float], Anonymizer],
        every: int = 10,
        frames: int = 0,
        min_size: float = 40.0,
        max_faces: int = 40,
        face_threshold: float = 0.5,
        seed: Optional[int] = None,
        confirmed_only: bool = True,
    ) -> None:
        if every < 1 or frames < 0 or min_size < 0 or max_faces < 1:
            raise AnonfilterError("--every and --max-faces must be 1 or more, --frames and --min-size not negative")
        self.make_anonymizer = make_anonymizer
        self.every = every
        self.frames = frames
        self.min_size = min_size
        self.max_faces = max_faces
        self.seed = seed
        self.confirmed_only = confirmed_only
        self.embedder = FaceEmbedder()
        self.reference = PluginHost().create_detector(REFERENCE_DETECTOR, [f"threshold={face_threshold!r}", "precision=fp32"])

    def evaluate(self, path: Path) -> Evaluation:
        """The metrics on a clip, or on every photo in a folder (recursively)."""
        if path.is_dir():
            return self.evaluate_photos(path)
        return self.evaluate_clip(path)

    def _sample_frame(
        self, faces: Sequence[TrackedFace], index: int, original: Frame, anonymized: Frame, result: Evaluation, room: int
    ) -> list[tuple[TrackedFace, FaceSample]]:
        """At most ``room`` samples from one frame's faces; unconfirmed faces are counted into ``result``."""
        found_before: Optional[np.ndarray] = None
        found_after: Optional[np.ndarray] = None
        dlib_before: Optional[np.ndarray] = None
        dlib_after: Optional[np.ndarray] = None
        samples: list[tuple[TrackedFace, FaceSample]] = []
        for face in faces:
            if len(samples) >= room or not self._large(face):
                continue
            if self.confirmed_only:
                if found_before is None:
                    found_before = self.reference.detect(original).boxes
                if not np.any(iou(face.box, found_before) >= FACENESS_IOU):
                    result.unconfirmed += 1
                    continue
            before = self.embedder.embed(original, face.box)
            after = self.embedder.embed(anonymized, face.box)
            if before is None or after is None:  # the recognizer cannot place this face
                continue
            if found_after is None:
                found_after = self.reference.detect(anonymized).boxes
            found = bool(np.any(iou(face.box, found_after) >= FACENESS_IOU))
            if dlib_before is None:
                dlib_before = self.embedder.frontal_faces(original)
            found_dlib = None
            if dlib_finds(face.box, dlib_before):
                if dlib_after is None:
                    dlib_after = self.embedder.frontal_faces(anonymized)
                found_dlib = dlib_finds(face.box, dlib_after)
            samples.append((face, FaceSample(face.identity_key, index, face.box, before, after, found, found_dlib)))
        return samples

    def _large(self, face: TrackedFace) -> bool:
        x0, y0, x1, y1 = face.box
        return face.status == FaceStatus.DETECTED and not face.keep and max(x1 - x0, y1 - y0) >= self.min_size

    def evaluate_clip(self, path: Path) -> Evaluation:
        """Run the pipeline over the clip and sample the detected faces of every ``every``-th frame."""
        info = probe(path)
        container, stream = open_input(path)
        anonymizer = self.make_anonymizer(info.fps)
        recorder = _Recorder()
        anonymizer.recorder = recorder
        originals: dict[int, Frame] = {}
        samples: list[FaceSample] = []
        counts = Evaluation(path.name)
        frames = 0

        def take(finished: list[AnonymizedFrame]) -> None:
            for frame, frame_info, _ in finished:
                tracked = recorder.faces.pop(frame_info.index, [])
                original = originals.pop(frame_info.index, None)
                if original is None or len(samples) >= self.max_faces:
                    continue
                taken = self._sample_frame(tracked, frame_info.index, original, frame, counts, self.max_faces - len(samples))
                samples.extend(sample for _, sample in taken)

        with container:
            for frame, _time in upright_frames(container, stream, str(path)):
                if self.frames and frames >= self.frames:
                    break
                index = frames
                frames += 1
                if index % self.every == 0:
                    originals[index] = frame.copy()
                frame_info = FrameInfo(index, index / info.fps, frame.shape[1], frame.shape[0])
                take(anonymizer.push(frame, frame_info))
            take(anonymizer.flush())
        result = score_samples(path.name, samples)
        result.unconfirmed = counts.unconfirmed
        result.method_faces = recorder.anonymized
        result.method_seconds = anonymizer.seconds["method"]
        result.detector_frames = -(-frames // anonymizer.detect_every)
        result.detector_seconds = anonymizer.seconds["detect"]
        return result

    def evaluate_photos(self, folder: Path) -> Evaluation:
        """Each face of each photo is a new person (own identity key); stability from a shifted copy."""
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise AnonfilterError(f"no photos ({', '.join(IMAGE_SUFFIXES)}) in folder {folder}")
        anonymizer = self.make_anonymizer(25.0)
        keys = IdentityKeys(self.seed if self.seed is not None else 0)
        samples: list[FaceSample] = []
        result = Evaluation(folder.name)
        for index, path in enumerate(paths):
            if len(samples) >= self.max_faces:
                break
            photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if photo is None:
                continue
            photo = np.ascontiguousarray(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB))
            started = time.perf_counter()
            detections = anonymizer.detector.detect(photo)
            result.detector_seconds += time.perf_counter() - started
            result.detector_frames += 1
            faces = [_tracked(detections, i, keys.new_key()) for i in range(len(detections))]
            anonymized = self._apply(anonymizer, photo, faces, index, result)
            for face, sample in self._sample_frame(faces, index, photo, anonymized, result, self.max_faces - len(samples)):
                sample.again = self._jittered(anonymizer, photo, face, index, result)
                samples.append(sample)
        scored = score_samples(folder.name, samples)
        for name in ("unconfirmed", "method_faces", "method_seconds", "detector_frames", "detector_seconds"):
            setattr(scored, name, getattr(result, name))
        return scored

    def _apply(self, anonymizer: Anonymizer, photo: Frame, faces: list[TrackedFace], index: int, result: Evaluation) -> Frame:
        """An anonymized copy of ``photo`` (timed into ``result``)."""
        out = photo.copy()
        started = time.perf_counter()
        anonymizer.apply(out, faces, FrameInfo(index, 0.0, photo.shape[1], photo.shape[0]))
        result.method_seconds += time.perf_counter() - started
        result.method_faces += len(faces)
        return out

    def _jittered(self, anonymizer: Anonymizer, photo: Frame, face: TrackedFace, index: int, result: Evaluation) -> Optional[np.ndarray]:
        """The face's replacement embedding after the photo is shifted and scaled by :data:`JITTER`."""
        x0, y0, x1, y1 = face.box
        size = max(x1 - x0, y1 - y0)
        matrix = cv2.getRotationMatrix2D(((x0 + x1) / 2, (y0 + y1) / 2), 0.0, 1.0 + JITTER)
        matrix[:, 2] += JITTER * size
        moved = cv2.warpAffine(photo, matrix, (photo.shape[1], photo.shape[0]), borderMode=cv2.BORDER_REFLECT)
        corners = np.array([[x0, y0, 1.0], [x1, y1, 1.0]]) @ matrix.T
        box = (float(corners[0, 0]), float(corners[0, 1]), float(corners[1, 0]), float(corners[1, 1]))
        landmarks = None
        if face.landmarks is not None:
            landmarks = (np.hstack([face.landmarks, np.ones((5, 1))]) @ matrix.T).astype(np.float32)
        shifted = TrackedFace(face.track_id, face.identity_key, box, face.score, face.status, landmarks)
        return self.embedder.embed(self._apply(anonymizer, moved, [shifted], index, result), box)


def dlib_finds(box: tuple[float, float, float, float], found: np.ndarray) -> bool:
    """True when one of dlib's ``found`` boxes is centred inside ``box`` and at least a third of its size.

    dlib's boxes are tighter than CenterFace's (eyebrows to lip), so overlap is not the test.
    """
    if not len(found):
        return False
    x0, y0, x1, y1 = box
    centres = (found[:, :2] + found[:, 2:]) / 2
    sizes = np.maximum(found[:, 2] - found[:, 0], found[:, 3] - found[:, 1])
    inside = (centres[:, 0] >= x0) & (centres[:, 0] <= x1) & (centres[:, 1] >= y0) & (centres[:, 1] <= y1)
    return bool(np.any(inside & (sizes >= max(x1 - x0, y1 - y0) / 3)))


class _Recorder:
    """Keeps each finished frame's tracked faces until the evaluator has sampled them."""

    def __init__(self) -> None:
        self.faces: dict[int, list[TrackedFace]] = {}
        self.anonymized = 0

    def record(self, info: FrameInfo, tracked: Sequence[TrackedFace]) -> None:
        """Called by the pipeline just before the method runs on a frame."""
        self.faces[info.index] = list(tracked)
        self.anonymized += sum(not face.keep for face in tracked)


def _tracked(detections: Detections, index: int, key: int) -> TrackedFace:
    """Detection ``index`` as a face of its own track with identity ``key``."""
    landmarks = None if detections.landmarks is None else detections.landmarks[index]
    box = tuple(float(v) for v in detections.boxes[index])
    return TrackedFace(index, key, box, float(detections.scores[index]), FaceStatus.DETECTED, landmarks)
