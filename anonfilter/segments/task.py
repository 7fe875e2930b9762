"""What one segment task does, in a worker: decode its range, run the pipeline, encode its own frames.

Three kinds of task, all module-level functions of one picklable :class:`SegmentJob` (so any
executor can run them, in this process or on another machine):

* :func:`anonymize_segment`: methods whose output does not depend on identity keys (blur,
  pixelate, solid): the whole pipeline on the warm-up, the segment and the look-ahead, its own
  frames encoded. One pass.
* :func:`track_segment`: methods that use identity keys, first pass: detection and tracking only
  (the method is not run), returning each frame's faces and each identity's embeddings, so the
  driver can give one person one key through the whole video (:mod:`anonfilter.segments.stitch`).
* :func:`render_segment`: second pass: the method on the segment's own frames with the faces of
  the first pass under their stitched keys, encoded.

Frames carry their index in the whole video (:class:`~anonfilter.types.FrameInfo`), so the
detection schedule, which is a function of that index, is the single run's. The encoder is the
single run's (:func:`ffmpeg_bridge.encoder.add_video_stream`, opened for the output's container
so its stream headers match), fresh per segment, so each segment begins with a keyframe.
"""

from __future__ import annotations

import contextlib
import functools
import io
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import av
import av.container
import av.video.stream
import numpy as np

from anonfilter.assembly import build_anonymizer
from anonfilter.config import Config
from anonfilter.detection.guarantee import SearchGuarantee
from anonfilter.errors import RunFailure
from anonfilter.pipeline import Anonymizer, Failure
from anonfilter.plugins import PluginHost
from anonfilter.report import RunReport
from anonfilter.segments.packets import PacketWriter
from anonfilter.segments.plan import PacketIndex, Segment
from anonfilter.tracking.base import TrackedFace
from anonfilter.tracking.perframe import PerFrameTracker
from anonfilter.tracking.temporal import TemporalTracker
from anonfilter.types import AnonymizedFrame, Detections, Frame, FrameInfo, Region
from ffmpeg_bridge.colour import Stored, converter_for
from ffmpeg_bridge.encoder import add_video_stream
from ffmpeg_bridge.source import VideoInfo, open_input, reason, turned
from ffmpeg_bridge.timestamps import Timestamps
from ffmpeg_bridge.transcoder import opencv_threads, with_durations

Faces = dict[int, list[TrackedFace]]
"""Frame index -> its tracked faces (those of people kept visible too, with ``keep`` set)."""


@dataclass(frozen=True)
class SegmentJob:
    """Everything a task needs, picklable: the run's settings, the input, the plan and where to write."""

    config: Config
    input: str
    info: VideoInfo
    index: PacketIndex
    segment: Segment
    work: str
    """Folder of the run's temporary files (the packet files); the workers must see it."""
    container_format: str
    """The output's container format: the encoder is opened for it, as the single run's is."""
    faces: Optional[Faces] = None
    """:func:`render_segment`: the faces of each own frame, under their stitched keys."""

    @property
    def packets(self) -> Path:
        """This segment's packet file."""
        return Path(self.work) / f"segment-{self.segment.number:05d}.packets"


@dataclass
class SegmentStats:
    """What a task did, for the run's report (own frames only, except the busy seconds and detector runs)."""

    number: int
    frames: int = 0
    audit: RunReport = field(default_factory=RunReport)
    """The own frames' tracked faces, as the audit report collects them (track ids of this segment)."""
    obscured_frames: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    detector_runs: dict[str, int] = field(default_factory=dict)
    search: Optional[SearchGuarantee] = None
    extradata: Optional[bytes] = None
    """The encoder's stream header (must equal the joined output's)."""
    end_time: float = 0.0
    """Seconds (from the video's first frame) just after the segment's last frame."""
    corrupt: int = 0
    """Own frames the decoder returned flagged as corrupt (concealed errors), as the single run's reader counts them."""


@dataclass
class TrackResult:
    """:func:`track_segment`'s answer: each frame's faces from the warm-up to the look-ahead, and embeddings per key."""

    stats: SegmentStats
    faces: Faces
    embeddings: dict[int, list[np.ndarray]]
    """Segment-local identity key -> embeddings of that person (none for faces too small to embed)."""


def anonymize_segment(job: SegmentJob) -> SegmentStats:
    """One pass: the pipeline on the segment's range, its own frames encoded to ``job.packets``."""
    with _Run(job, job.segment.warm_from, job.segment.until) as run:
        anonymizer = build_anonymizer(job.config, plugin_host(), job.info.fps, job.info.display_size)
        anonymizer.recorder = _OwnFrames(job.segment, run.stats.audit)
        run.pipe(anonymizer.push, anonymizer.flush)
        _add_pipeline_stats(run.stats, anonymizer, job)
    return run.stats


def track_segment(job: SegmentJob) -> TrackResult:
    """First pass for identity methods: detection and tracking on the segment's range, no method, nothing encoded."""
    with _Run(job, job.segment.warm_from, job.segment.until, encode=False) as run:
        tracking = build_anonymizer(job.config, plugin_host(), job.info.fps, job.info.display_size, kind=TrackingPass)
        faces = _AllFrames()
        tracking.recorder = faces
        run.pipe(tracking.push, tracking.flush)
        _add_pipeline_stats(run.stats, tracking, job)
    tracker = tracking.tracker
    keys = {face.identity_key for tracked in faces.faces.values() for face in tracked}
    embeddings = {key: tracker.identities.embeddings_of(key) for key in keys} if isinstance(tracker, TemporalTracker) else {}
    return TrackResult(run.stats, faces.faces, embeddings)


def render_segment(job: SegmentJob) -> SegmentStats:
    """Second pass for identity methods: the method on the own frames with ``job.faces``, encoded."""
    assert job.faces is not None, "render_segment needs the faces of the tracking pass"
    faces = job.faces
    config = job.config
    with _Run(job, job.segment.start, job.segment.end) as run:
        method = plugin_host().create_method(config.method, config.method_options)
        anonymizer = Anonymizer(_NoDetector(), PerFrameTracker(), method, config.method, config.mask)

        def push(frame: Frame, info: FrameInfo) -> list[AnonymizedFrame]:
            started = time.perf_counter()
            tracked = faces.get(info.index, [])
            run.stats.audit.record(info, tracked)
            changed = anonymizer.apply(frame, [face for face in tracked if not face.keep], info)
            anonymizer.seconds["method"] += time.perf_counter() - started
            return [AnonymizedFrame(frame, info, changed)]

        run.pipe(push, list)
        run.stats.obscured_frames = list(anonymizer.obscured_frames)
        run.stats.failures = list(anonymizer.failures.values())
        run.stats.seconds.update({name: run.stats.seconds.get(name, 0.0) + value for name, value in anonymizer.seconds.items()})
    return run.stats


@functools.lru_cache(maxsize=1)
def plugin_host() -> PluginHost:
    """The plugin host of this worker process, loaded once for all the tasks it runs."""
    return PluginHost()


class _NoDetector:
    """The render pass's pipeline searches nothing: its faces come from the tracking pass."""

    def detect(self, frame: Frame) -> Detections:
        """Never called."""
        raise RuntimeError("the render pass does not detect faces")


class TrackingPass(Anonymizer):
    """The pipeline without its method: frames go through detection and tracking, their pixels left alone.

    Only :func:`track_segment` uses it, and its frames are never written: their faces (taken by
    its recorder) go to :func:`render_segment`, which anonymizes the frames.
    """

    def apply(self, frame: Frame, tracked: Sequence[TrackedFace], info: FrameInfo) -> tuple[Region, ...]:
        """Nothing: the method runs in the render pass."""
        return ()


class _AllFrames:
    """A frame recorder that keeps every frame's tracked faces (kept people included)."""

    def __init__(self) -> None:
        self.faces: Faces = {}

    def record(self, info: FrameInfo, tracked: Sequence[TrackedFace]) -> None:
        """Keep the faces of frame ``info.index``."""
        self.faces[info.index] = list(tracked)


class _OwnFrames:
    """A frame recorder that passes the segment's own frames on to the audit report's collector."""

    def __init__(self, segment: Segment, audit: RunReport) -> None:
        self.segment = segment
        self.audit = audit

    def record(self, info: FrameInfo, tracked: Sequence[TrackedFace]) -> None:
        """Record frame ``info.index`` if it is the segment's."""
        if self.segment.start <= info.index < self.segment.end:
            self.audit.record(info, tracked)


def _add_pipeline_stats(stats: SegmentStats, anonymizer: Anonymizer, job: SegmentJob) -> None:
    """Copy what ``anonymizer`` counted into ``stats``: obscured own frames and why, busy seconds, detector runs."""
    segment = job.segment
    stats.obscured_frames = [index for index in anonymizer.obscured_frames if segment.start <= index < segment.end]
    if stats.obscured_frames:
        stats.failures = list(anonymizer.failures.values())
    for name, value in anonymizer.seconds.items():
        stats.seconds[name] = stats.seconds.get(name, 0.0) + value
    stats.detector_runs = dict(anonymizer.focus.passes) if anonymizer.focus is not None else {}
    stats.search = anonymizer.search_guarantee(*job.info.display_size, job.info.fps)


class _Run:
    """Decode frames ``first`` to ``until - 1`` of the job's input, hand them to a pipeline, encode the own ones."""

    def __init__(self, job: SegmentJob, first: int, until: int, encode: bool = True) -> None:
        self.job, self.first, self.until = job, first, until
        self.stats = SegmentStats(job.segment.number, seconds={"decode": 0.0, "encode": 0.0})
        self._encode = encode
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> _Run:
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _open(self) -> None:
        """Open the input, and (when encoding) the encoder, its converter and the packet file."""
        job = self.job
        self.container, self.video = open_input(job.input)
        self._stack.callback(self.container.close)
        self._stack.enter_context(opencv_threads(1))
        self.writer: Optional[PacketWriter] = None
        self.output: Optional[av.container.OutputContainer] = None
        if self._encode:
            self.output = av.open(io.BytesIO(), "w", format=job.container_format)
            self._stack.callback(_close_quietly, self.output)
            self.stream = add_video_stream(self.output, self.video, job.info, job.config.encoder)
            self.output.start_encoding()
            self.stats.extradata = self.stream.codec_context.extradata
            self.converter = converter_for(job.info, self.stream.codec_context.pix_fmt or job.info.pixel_format)
            self.writer = PacketWriter(job.packets)
        else:
            self.converter = converter_for(job.info, job.info.pixel_format)

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        try:
            if self.writer is not None:
                if kind is None:
                    self.writer.commit()
                else:
                    self.writer.discard()
        finally:
            self._stack.close()

    def pipe(self, push: Any, flush: Any) -> None:
        """Push every decoded frame of the range through ``push``, then ``flush``; encode the own frames they return."""
        self._timing: dict[int, tuple[int, int]] = {}
        self._stored: dict[int, Stored] = {}
        self._durations: dict[int, int] = {}
        for image, info in self._frames():
            self._hand_on(push(image, info))
        self._hand_on(flush())
        if self.writer is not None:
            self._write(self._encoded(None))
        segment = self.job.segment
        if self.stats.frames != segment.end - segment.start and self._encode:
            raise RunFailure(f"segment {segment.number}: {self.stats.frames} frames encoded of its {segment.end - segment.start}")

    def _frames(self) -> Iterator[tuple[Frame, FrameInfo]]:
        """The range's frames, upright RGB, with their place in the whole video; a gap is an error."""
        job = self.job
        info = job.info
        stamps = Timestamps(default_duration=max(1, round(1 / (info.fps * info.time_base))))
        self.container.seek(job.index.pts[job.index.keyframe_at_or_before(self.first)], stream=self.video)
        expected = self.first
        mark = time.perf_counter()
        for frame in self._decoded():
            stamps.add(frame)
            pts, duration = stamps.next()
            index = job.index.frame_at(pts)
            if index is None or index > expected:
                raise RunFailure(f"cannot cut {info.path} into segments: frame {expected} was not decoded where expected")
            if index < expected:  # before the range (warm-up decoding from the keyframe)
                mark = time.perf_counter()
                continue
            if self.job.segment.start <= index < self.job.segment.end:
                self.stats.corrupt += bool(frame.is_corrupt)
            stored = self.converter.keep(frame)
            image = self.converter.rgb(stored)
            self._timing[index], self._stored[index] = (pts, duration), stored
            self.stats.seconds["decode"] += time.perf_counter() - mark
            yield turned(image, info.rotation), FrameInfo(index, float(pts * info.time_base), *info.display_size)
            expected = index + 1
            if expected >= self.until:
                return
            mark = time.perf_counter()
        if expected < self.until:
            raise RunFailure(f"cannot cut {info.path} into segments: it ends at frame {expected}, not {self.until}")

    def _decoded(self) -> Iterator[av.VideoFrame]:
        """Decoded video frames from the seek point; a decoding error stops the run (one line)."""
        try:
            for packet in self.container.demux(self.video):
                yield from self.video.decode(packet)
        except av.error.FFmpegError as error:
            raise RunFailure(f"cannot decode {self.job.info.path} ({reason(error)})") from None

    def _hand_on(self, finished: Sequence[AnonymizedFrame]) -> None:
        segment = self.job.segment
        for image, info, changed in finished:
            timing, stored = self._timing.pop(info.index), self._stored.pop(info.index)
            if not segment.start <= info.index < segment.end or self.writer is None:
                continue
            started = time.perf_counter()
            frame = self.converter.frame(self.converter.merged(turned(image, -self.job.info.rotation), stored, changed))
            frame.pts, frame.time_base, frame.duration = timing[0], self.job.info.time_base, timing[1]
            self._durations[timing[0]] = timing[1]
            self._write(self._encoded(frame))
            self.stats.frames += 1
            self.stats.end_time = float((timing[0] + timing[1]) * self.job.info.time_base)
            self.stats.seconds["encode"] += time.perf_counter() - started

    def _encoded(self, frame: Optional[av.VideoFrame]) -> list[av.Packet]:
        try:
            return self.stream.encode(frame)
        except av.error.FFmpegError as error:
            raise RunFailure(f"the {self.stream.codec_context.name} encoder failed ({reason(error)})") from None

    def _write(self, packets: list[av.Packet]) -> None:
        assert self.writer is not None
        self.writer.write(with_durations(packets, self._durations))


def _close_quietly(output: av.container.OutputContainer) -> None:
    """Close the in-memory container the encoder was opened for (it holds no packets; its trailer does not matter)."""
    with contextlib.suppress(Exception):
        output.close()


def merged_seconds(parts: Sequence[dict[str, float]]) -> dict[str, float]:
    """Busy seconds per stage summed over the tasks."""
    total: dict[str, float] = defaultdict(float)
    for seconds in parts:
        for name, value in seconds.items():
            total[name] += value
    return dict(total)
