"""The pipeline: frames in -> detections -> tracks -> masks -> a method -> frames out.

:class:`Anonymizer` is used the same way by the file transcoder and the live engine: ``push``
each frame in order and write out what it returns, then ``flush`` at the end. It never returns a
frame that has not been through the method, and when the method fails on a frame the whole frame
is obscured instead (fail closed). The method is a plugin, so what it did is verified
(:mod:`anonfilter.verify`): one that leaves a face unchanged or changes pixels outside the masks
fails that frame too. Every failure is counted (:attr:`Anonymizer.failures`). When a file is searched on every n-th frame only, the detector
runs in a thread of its own, so detection overlaps tracking and the method; a detector error
still stops the stream, from the next ``push`` or ``flush``.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Protocol, Sequence

import numpy as np

from anonfilter.detection.focus import FocusedDetection, searched_whole
from anonfilter.detection.guarantee import SearchGuarantee, search_guarantee
from anonfilter.detection.scout import Scout
from anonfilter.errors import RunFailure
from anonfilter.hookspecs import Detector, Method
from anonfilter.masks import MaskStyle, face_mask
from anonfilter.methods import obscure_frame
from anonfilter.tracking.base import FinishedFrames, TrackedFace, Tracker
from anonfilter.types import AnonymizedFrame, Detections, Face, Frame, FrameInfo, FrameStore, Region
from anonfilter.verify import snapshot, verify

DEFAULT_DETECT_EVERY = 4
"""Files: the detector runs on every 4th frame of a frame that focused detection does not search
whole (larger than 960 px), and the offline tracker fills the others (interpolating between
detections, and extending each track back before its first detection, so a face that appears
between two detector runs is covered from its first frame). Every 4th frame is the sparsest
that ``anonfilter check`` found no leak with on the 1080p clip (figures: docs/benchmark.md, "Why
the defaults are what they are"). Smaller frames, searched whole, are searched on every frame
(:func:`default_detect_every`). The live engine detects on every frame: it cannot look ahead."""


def default_detect_every(width: int, height: int) -> int:
    """How often files are searched by default, for frames of ``width`` x ``height``.

    Every frame when the frame is searched whole (960 px or smaller): a whole small frame costs
    about what one focused run on a 1080p frame costs, and faces the detector finds only now and
    then (11-20 px) are missed between runs otherwise: on the small crowd clips only detection on
    every frame left no leak (figures: docs/benchmark.md, "Why the defaults are what they are").
    Larger frames: :data:`DEFAULT_DETECT_EVERY`.
    """
    return 1 if searched_whole(width, height) else DEFAULT_DETECT_EVERY


MAX_DISTINCT_FAILURES = 20
"""Distinct failure messages kept one by one; later new ones are counted together."""


@dataclass
class Failure:
    """One distinct reason frames were obscured whole: how many frames, and the first of them."""

    message: str
    frames: int
    first_frame: int


class FrameRecorder(Protocol):
    """Something that wants to see every finished frame's tracked faces (the audit report)."""

    def record(self, info: FrameInfo, tracked: Sequence[TrackedFace]) -> None:
        """Called once per frame, in order, just before the method runs."""


def report_to_stderr(message: str) -> None:
    """Default error reporter: one line on stderr."""
    print(f"anonfilter: {message}", file=sys.stderr)


class Anonymizer:
    """Anonymizes a stream of frames with one detector, one tracker and one method."""

    def __init__(
        self,
        detector: Detector,
        tracker: Tracker,
        method: Method,
        method_name: str,
        mask_style: MaskStyle = MaskStyle(),
        report: Callable[[str], None] = report_to_stderr,
        recorder: Optional[FrameRecorder] = None,
        detect_every: int = 1,
        focused: bool = False,
        looks_ahead: bool = True,
        scout: bool = False,
    ) -> None:
        if detect_every < 1:
            raise ValueError("detect_every must be >= 1")
        self.detector = detector
        self.tracker = tracker
        self.method = method
        self.method_name = method_name
        self.mask_style = mask_style
        self.report = report
        self.recorder = recorder
        self.detect_every = detect_every
        """The detector runs on every n-th frame; the tracker fills the frames in between."""
        self.looks_ahead = looks_ahead
        """The tracker holds frames back (files, delayed live), so the frames after a detector
        run may wait for its result while the detector runs in a thread of its own. False for a
        live tracker without delay: each frame comes back from ``push`` at once."""
        self.focus = FocusedDetection(detector, scout=Scout() if scout else None) if focused else None
        """Focused detection: the overview, crops around the tracker's small faces and a patrol
        tile instead of the whole frame at full resolution (see :mod:`anonfilter.detection.focus`);
        ``scout``: its close search with the scout network first (:mod:`anonfilter.detection.scout`)."""
        self.obscured_frames: list[int] = []
        self.failures: dict[str, Failure] = {}
        """Each distinct reason a frame was obscured whole (the method raised, or failed the check)."""
        self.frames_done = 0
        self.frames_with_faces = 0
        """Frames finished, and of them those with at least one tracked face (kept ones included)."""
        self.require_faces = False
        """When True, :meth:`flush` raises :class:`RunFailure` if no frame had a face (``--expect-faces``)."""
        self.seconds: dict[str, float] = defaultdict(float)
        """Time spent per stage: ``detect``, ``track``, ``method`` (masks included)."""
        self.frame_store: Optional[FrameStore] = None
        """Where the frames come from, when they can be had again (the transcoder sets it): the
        frames the tracker holds back then wait without their RGB arrays, which are asked for again
        when the frames are finished (memory: docs/benchmark.md)."""
        self._pending: dict[int, tuple[Optional[Frame], FrameInfo]] = {}
        """Frames the tracker has and has not finished yet; None: given back to :attr:`frame_store`."""
        self._waiting: list[tuple[Optional[Frame], FrameInfo]] = []
        """Files with detection on every n-th frame: the frames since the latest detector run began,
        held until its result is in (it runs in :attr:`_detecting`'s thread meanwhile)."""
        self._next_detection = 0
        """The first frame index of the next block of ``detect_every`` frames (its first frame pushed is searched)."""
        self._detecting: Optional[Future[Detections]] = None
        self._detector_thread: Optional[ThreadPoolExecutor] = None

    def push(self, frame: Frame, info: FrameInfo) -> list[AnonymizedFrame]:
        """Add the next frame; returns the frames that are finished, in order (maybe none yet),
        each with the regions anonymizing may have changed.

        With detection on every n-th frame of a file, the detector runs in a thread of its own
        while this one tracks and anonymizes the frames before: each detector run starts when its
        frame arrives, the frames after it wait here, and the tracker gets them all once its result
        is in (at the next detector frame, or at ``flush``). ``flush`` also searches the stream's
        last frame, which only it knows to be the last, so a face that appears after the last
        regular detector run is not missed.
        """
        return self._finish(self._take(frame, info))

    def feed(self, info: FrameInfo) -> Iterator[AnonymizedFrame]:
        """:meth:`push` for a frame whose pixels are in :attr:`frame_store`: they are asked for
        when the detector or the tracker needs them, given back while the tracker holds the frame,
        and asked for again when it is finished. The finished frames are anonymized one by one as
        they are taken, so they need not all have their pixels at once. Take every frame before the
        next call."""
        return self._finishing(self._take(None, info))

    def _take(self, frame: Optional[Frame], info: FrameInfo) -> FinishedFrames:
        """Add the next frame (see :meth:`push`; None: its pixels are in the frame store); returns the frames the tracker finished."""
        if not self.looks_ahead or self.detect_every == 1:
            detections = None
            if self._detector_frame(info.index):
                frame = self._pixels(frame, info.index)
                detections = self._detect(frame, info.index, self._expected())
            return self._track(frame, info, detections)
        finished: FinishedFrames = []
        if self._detector_frame(info.index):
            finished = self._catch_up()
            frame = self._pixels(frame, info.index)
            if self._detector_thread is None:
                self._detector_thread = ThreadPoolExecutor(1, thread_name_prefix="anonfilter-detect")
            self._detecting = self._detector_thread.submit(self._detect, frame, info.index, self._expected())
        if self._detecting is None:  # a stream that does not start at a detector frame
            return self._track(frame, info, None)
        self._waiting.append((frame, info))
        return finished  # anonymizing these overlaps the detector run just started

    def _detector_frame(self, index: int) -> bool:
        """True when the detector runs on frame ``index``: the first frame pushed in each block of
        ``detect_every`` indices (every n-th frame; a live stream's indices may skip frames)."""
        if index < self._next_detection:
            return False
        self._next_detection = (index // self.detect_every + 1) * self.detect_every
        return True

    def flush(self) -> list[AnonymizedFrame]:
        """End of stream: anonymize and return every frame still held back."""
        return list(self.drain())

    def drain(self) -> Iterator[AnonymizedFrame]:
        """:meth:`flush` as an iterator that anonymizes each frame as it is taken (see :meth:`feed`).
        Take every frame: the end-of-stream checks run after the last."""
        last = self._waiting.pop() if len(self._waiting) > 1 else None  # not a detector frame: search it too
        finished = self._catch_up()
        if last is not None:
            frame = self._pixels(last[0], last[1].index)
            finished += self._track(frame, last[1], self._detect(frame, last[1].index, self._expected()))
        if self._detector_thread is not None:
            self._detector_thread.shutdown()
            self._detector_thread = None
        self._detecting = None
        started = time.perf_counter()
        finished += self.tracker.flush()
        self.seconds["track"] += time.perf_counter() - started
        for item in finished:
            yield from self._finishing([item])
        if self._pending:  # a tracker that loses frames must not make us skip them silently
            raise RuntimeError(f"tracker never finished frames {sorted(self._pending)[:5]}...")
        if self.require_faces and not self.frames_with_faces:
            raise RunFailure(
                f"no face was found in {self.frames_done} frames (--expect-faces); nothing written. "
                "Check the detector and its options (-D), or leave out --expect-faces for a video without people"
            )

    def _catch_up(self) -> FinishedFrames:
        """Wait for the running detector run and give the tracker the frames that waited for it."""
        finished: FinishedFrames = []
        if self._detecting is not None and self._waiting:
            detections = self._detecting.result()  # a detector error is raised here, in this thread
            for position, (frame, info) in enumerate(self._waiting):
                finished += self._track(frame, info, detections if position == 0 else None)
        self._waiting = []
        return finished

    def _expected(self) -> np.ndarray:
        """Where the tracker expects faces in the next frame it gets (focused detection searches there)."""
        return self.tracker.expected_boxes() if self.focus is not None else np.zeros((0, 4))

    def _detect(self, frame: Frame, index: int, expected: np.ndarray) -> Detections:
        """One detector run on frame ``index``: focused (around ``expected``, the boxes where the tracker
        expects faces in it, its patrol tile chosen by the frame's index), or whole. May run in the
        detector thread: it touches nothing else."""
        started = time.perf_counter()
        if self.focus is not None:
            detections = self.focus.detect(frame, expected, patrol_round=index // self.detect_every)
        else:
            detections = self.detector.detect(frame)
        self.seconds["detect"] += time.perf_counter() - started
        return detections

    def _track(self, held: Optional[Frame], info: FrameInfo, detections: Optional[Detections]) -> FinishedFrames:
        """Hand one frame, with the detector's result for it if it was searched, to the tracker."""
        frame = self._pixels(held, info.index)
        started = time.perf_counter()
        self._pending[info.index] = (frame, info)
        finished = self.tracker.push(info.index, frame, detections)
        self.seconds["track"] += time.perf_counter() - started
        if self.frame_store is not None and all(index != info.index for index, _ in finished):  # held back
            self._pending[info.index] = (None, info)
            self.frame_store.release(info.index, frame)
        return finished

    def _finish(self, finished: FinishedFrames) -> list[AnonymizedFrame]:
        """The frames the tracker finished, anonymized."""
        return list(self._finishing(finished))

    def _finishing(self, finished: FinishedFrames) -> Iterator[AnonymizedFrame]:
        """Anonymize each frame the tracker finished as it is taken (its pixels restored where they were given back)."""
        for index, tracked in finished:
            held, info = self._pending.pop(index)
            frame = self._pixels(held, index)
            if self.recorder is not None:
                self.recorder.record(info, tracked)
            self.frames_done += 1
            self.frames_with_faces += bool(tracked)
            started = time.perf_counter()
            changed = self.apply(frame, [face for face in tracked if not face.keep], info)
            self.seconds["method"] += time.perf_counter() - started
            yield AnonymizedFrame(frame, info, changed)

    def _pixels(self, frame: Optional[Frame], index: int) -> Frame:
        """``frame``, or when it is None (not taken yet, or given back), the pixels of frame ``index`` from the frame store."""
        if frame is not None:
            return frame
        if self.frame_store is None:
            raise RuntimeError(f"frame {index} has no pixels and there is no frame store")
        return self.frame_store.restore(index)

    def search_guarantee(self, width: int, height: int, fps: float) -> SearchGuarantee:
        """What this pipeline's detection schedule guarantees on a file of ``width`` x ``height`` at ``fps``
        (the smallest face searched for, the longest a new face goes unsearched, the tracker's back-fill)."""
        scale_for = getattr(self.detector, "scale_for", None)
        whole_scale = scale_for(height, width) if scale_for is not None else 1.0
        return search_guarantee(
            width,
            height,
            fps,
            self.detect_every,
            getattr(self.tracker, "backfill_frames", 0),
            self.focus is not None,
            whole_scale,
            scout=self.focus is not None and self.focus.scout is not None,
        )

    def faces_for(self, tracked: Sequence[TrackedFace], info: FrameInfo) -> list[Face]:
        """Masks for the tracked faces of one frame."""
        faces = []
        for face in tracked:
            region, alpha = face_mask(face.box, info.width, info.height, self.mask_style)
            faces.append(
                Face(
                    track_id=face.track_id,
                    identity_key=face.identity_key,
                    box=face.box,
                    score=face.score,
                    status=face.status,
                    region=region,
                    alpha=alpha,
                    landmarks=face.landmarks,
                )
            )
        return faces

    def apply(self, frame: Frame, tracked: Sequence[TrackedFace], info: FrameInfo) -> tuple[Region, ...]:
        """Run the method on one frame in place and verify what it did; if it failed, obscure the whole frame.

        Returns the regions that may have changed: the faces' regions, or the whole frame.
        """
        try:
            faces = self.faces_for(tracked, info)
            before = snapshot(frame, faces, info.index)
            returned = self.method.anonymize(frame, faces, info)  # type: ignore[func-returns-value]  # None, unless the plugin is wrong
            problem = verify(frame, before, returned)
        except Exception as error:
            problem = f"{type(error).__name__}: {error}"
        if problem is None:
            return tuple(face.region for face in faces)
        self._count_failure(problem, info.index)
        obscure_frame(frame)
        return (Region(0, 0, frame.shape[1], frame.shape[0]),)

    def _count_failure(self, problem: str, index: int) -> None:
        """Count a frame obscured for ``problem``; the first frame of each distinct problem is reported."""
        message = f"method '{self.method_name}': {problem}"
        if message not in self.failures and len(self.failures) >= MAX_DISTINCT_FAILURES:
            message = "other failures"
        failure = self.failures.get(message)
        if failure is None:
            self.failures[message] = Failure(message, 1, index)
            self.report(f"{message} (frame {index}); frames it fails on are obscured whole")
        else:
            failure.frames += 1
        self.obscured_frames.append(index)

    def failure_summary(self) -> Optional[str]:
        """One line on the frames obscured whole and why (None when there were none), for the end of a run."""
        return failure_summary(len(self.obscured_frames), self.frames_done, self.failures.values())


def failure_summary(obscured: int, frames: int, failures: Iterable[Failure]) -> Optional[str]:
    """One line on ``obscured`` of ``frames`` obscured whole and why (None when there were none)."""
    if not obscured:
        return None
    reasons = "; ".join(f"{failure.message} ({failure.frames} frames from frame {failure.first_frame})" for failure in failures)
    return f"{obscured} of {frames} frames were obscured whole: {reasons}"
