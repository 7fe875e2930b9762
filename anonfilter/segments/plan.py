"""Planning a long video into segments: the packet index, the borders, each task's frame ranges.

One pass over the video's packets (demuxed, never decoded) gives every frame's presentation
timestamp and the keyframes. Segments start at keyframes; each task decodes from the keyframe
at or before its warm-up point, feeds the pipeline from the warm-up point on (so the detection
schedule and the tracker reach the state a single run has at the segment's start) up to one
tracker look-ahead past its end (so its last frames are final as they are in a single run), and
encodes only its own frames.
"""

from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Union

from anonfilter.config import Config
from anonfilter.errors import AnonfilterError
from anonfilter.tracking.settings import TrackerSettings
from ffmpeg_bridge.source import open_input

WARMUP_SECONDS = 2.0
"""A segment's pipeline starts at least this long before its first own frame, beyond the
tracker's look-ahead: time for tracks that run across the border to be found and confirmed..."""
WARMUP_DETECTOR_RUNS = 40
"""... and at least this many detector runs before it, for their motion models to settle: a
track's Kalman filter forgets where it started by a factor of about 0.88 per detection, so two
filters started 40 detections apart differ by about 0.004 px (measured: docs/scaling.md, "One
long file in segments"). Focused detection's crops around the expected faces depend on them."""
MIN_AUTO_SECONDS = 30.0
"""``segment_seconds="auto"`` never plans segments shorter than this: each one pays for a
warm-up and a look-ahead (a few seconds of frames decoded and searched twice)."""
SEGMENTS_PER_WORKER = 2
"""``auto`` plans about this many segments per worker, so a slow segment does not leave the others idle."""
WORKERS_ENV = "ANONFILTER_WORKERS"
"""Environment variable with the worker count ``auto`` plans for (default: the CPU count)."""

SegmentLength = Union[float, str]
"""Seconds per segment, or ``"auto"``."""


@dataclass(frozen=True)
class PacketIndex:
    """Every frame of the video as the packets say, in presentation order."""

    pts: tuple[int, ...]
    """Presentation timestamp of frame ``i`` (the stream's time base), rising."""
    keyframes: tuple[int, ...]
    """Frame indices of the keyframes, rising."""
    time_base: Fraction

    @property
    def frames(self) -> int:
        """How many frames the video has."""
        return len(self.pts)

    def frame_at(self, pts: int) -> Optional[int]:
        """The index of the frame with timestamp ``pts`` (None when no packet has it)."""
        position = bisect.bisect_left(self.pts, pts)
        return position if position < len(self.pts) and self.pts[position] == pts else None

    def keyframe_at_or_before(self, index: int) -> int:
        """The last keyframe at or before frame ``index`` (the first frame when none is)."""
        position = bisect.bisect_right(self.keyframes, index) - 1
        return self.keyframes[position] if position >= 0 else 0


def index_packets(path: Union[str, os.PathLike[str]]) -> Optional[PacketIndex]:
    """The :class:`PacketIndex` of ``path``'s video from one pass over its packets (no decoding).

    None when the packets cannot be planned on: a packet without a timestamp, two with the
    same one, or no keyframe at the first frame (a damaged or unusual file; it is then run in
    one piece).
    """
    container, video = open_input(path)
    stamps: list[int] = []
    keys: list[int] = []
    try:
        for packet in container.demux(video):
            if not packet.size or packet.is_discard:
                continue
            if packet.pts is None:
                return None
            stamps.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
        time_base = video.time_base or Fraction(1, 90000)
    finally:
        container.close()
    ordered = sorted(stamps)
    if not ordered or len(set(ordered)) != len(ordered) or not keys or min(keys) != ordered[0]:
        return None
    keyframes = tuple(sorted(bisect.bisect_left(ordered, pts) for pts in keys))
    return PacketIndex(tuple(ordered), keyframes, time_base)


@dataclass(frozen=True)
class Segment:
    """One task's frames (indices in presentation order): ``start`` to ``end`` are its own."""

    number: int
    start: int
    end: int
    """Its own frames are ``start`` to ``end - 1``; ``start`` is a keyframe of the input."""
    warm_from: int
    """The first frame pushed into its pipeline (frames before ``start`` are warm-up, not written);
    decoding starts at the keyframe at or before it."""
    until: int
    """One past the last frame pushed: ``end`` plus the tracker's look-ahead, or the video's end."""


def tracker_lookahead(config: Config, fps: float) -> int:
    """Frames the offline tracker of ``config`` holds back at ``fps`` (none for ``--tracker none``)."""
    if config.tracking.tracker == "none":
        return 0
    settings = TrackerSettings(fps=fps, max_gap=config.tracking.max_gap, extend_before=config.tracking.extend_before)
    return settings.lookahead


def warmup_frames(fps: float, lookahead: int, detect_every: int) -> int:
    """Frames a segment's pipeline starts before its first own frame: the look-ahead, then
    :data:`WARMUP_SECONDS` or :data:`WARMUP_DETECTOR_RUNS` detector runs, whichever is longer."""
    return lookahead + max(TrackerSettings(fps=fps).frames(WARMUP_SECONDS), WARMUP_DETECTOR_RUNS * detect_every)


def plan_segments(index: PacketIndex, segment_frames: int, warmup: int, lookahead: int, detect_every: int) -> list[Segment]:
    """Segments of about ``segment_frames`` frames, each starting at the first keyframe at or after its nominal start.

    ``warmup`` frames before each start are pushed too, from a multiple of ``detect_every``
    (so the first frame pushed is a detector frame in a single run as well); ``lookahead``
    frames after each end.
    """
    starts = sorted({index.keyframes[bisect.bisect_left(index.keyframes, nominal)] for nominal in _nominal(index, segment_frames)})
    ends = [*starts[1:], index.frames]
    segments = []
    for number, (start, end) in enumerate(zip(starts, ends)):
        warm_from = max(0, start - warmup) // detect_every * detect_every
        segments.append(Segment(number, start, end, warm_from, min(index.frames, end + lookahead)))
    return segments


def _nominal(index: PacketIndex, segment_frames: int) -> list[int]:
    """Nominal segment starts (every ``segment_frames`` frames) that have a keyframe at or after them."""
    last_key = index.keyframes[-1]
    return [start for start in range(0, index.frames, max(1, segment_frames)) if start <= last_key]


def check_segment_length(length: SegmentLength) -> None:
    """Refuse a segment length that is neither a positive number of seconds nor ``"auto"`` (an :class:`AnonfilterError`)."""
    if length == "auto":
        return
    if not isinstance(length, (int, float)) or isinstance(length, bool) or not math.isfinite(length) or length <= 0:
        raise AnonfilterError(f"segment length {length!r}: must be a positive number of seconds or 'auto'")


def segment_frames(length: SegmentLength, frames: int, fps: float, workers: Optional[int] = None) -> int:
    """Frames per segment for ``length`` (seconds, or ``"auto"``) on a video of ``frames`` at ``fps``.

    ``auto``: about :data:`SEGMENTS_PER_WORKER` segments per worker (``workers``, else
    :data:`WORKERS_ENV`, else the CPU count), never shorter than :data:`MIN_AUTO_SECONDS`.
    Raises :class:`AnonfilterError` for a length that is neither.
    """
    check_segment_length(length)
    if isinstance(length, str):
        count = workers or int(os.environ.get(WORKERS_ENV) or 0) or os.cpu_count() or 1
        seconds = max(MIN_AUTO_SECONDS, frames / fps / (count * SEGMENTS_PER_WORKER))
    else:
        seconds = float(length)
    return max(1, round(seconds * fps))
