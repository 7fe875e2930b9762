"""Read an input in file order: decoded video frames and the other streams' packets.

Damage does not stop the run: a video packet the decoder refuses is counted and skipped (its
frame is simply missing from the output, never passed on undecoded), and a demuxer error ends
the input there. :class:`InputDamage` keeps the count and where it happened, so the caller can
report it or, with ``--strict``, refuse the result.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from typing import Iterator, Optional, Union

import av
import av.container
import av.video.stream
import numpy as np

from anonfilter.errors import AnonfilterError
from ffmpeg_bridge.source import STDIO, VideoInfo, describe, frame_rotation, open_input, reason, turned

Item = Union[av.Packet, av.VideoFrame]
"""What :class:`Reader` yields: a packet of another stream, or a decoded frame of the video."""

MISSING_FRAMES_TOLERATED = 2
"""Frames a sound file may decode fewer than its container counts (an edit list that starts
after the first frames: the MOT17 and MOT20 clips decode 748 of 750 and 125 of 127)."""
PIPE_HINT = (
    "; an MP4 or MOV read from a pipe needs its index at the start (ffmpeg -movflags +faststart),"
    " else give its path, or pipe Matroska or MPEG-TS"
)
"""Added when standard input gives no frame: an MP4 whose index is at its end cannot be read from a pipe."""
MISSING_SECONDS_TOLERATED = 0.5
"""Where the container states only a duration: seconds the decoded video may end before it."""


@dataclass
class InputDamage:
    """Damage found while reading the input's video (all zero/None for a sound file)."""

    undecodable: int = 0
    """Video packets the decoder refused: their frames are missing from the output."""
    corrupt: int = 0
    """Frames the decoder returned but flagged as corrupt (concealed errors); they are anonymized as any other."""
    unmuxable: int = 0
    """Packets of other streams (audio, subtitles) left out because the muxer refused them (broken timestamps)."""
    first_problem: Optional[str] = None
    """Where and why the first packet was refused, e.g. ``at 1.20 s: Invalid data found ...``."""
    stopped: Optional[str] = None
    """Why reading stopped before the end of the input (a demuxer error), with where."""
    decoded: int = 0
    end: float = 0.0
    """Time (seconds from the start of the video) just after the last decoded frame."""

    def summary(self, info: VideoInfo) -> Optional[str]:
        """One line on what is wrong with the input, or None when nothing is."""
        parts = []
        if self.undecodable:
            parts.append(f"{self.undecodable} video packets could not be decoded (first {self.first_problem})")
        if self.corrupt:
            parts.append(f"{self.corrupt} frames were decoded with errors concealed")
        if self.unmuxable:
            parts.append(f"{self.unmuxable} packets of other streams had timestamps the output cannot take and were left out")
        if self.stopped:
            parts.append(f"reading stopped {self.stopped}")
        if info.frames and info.frames_declared and self.decoded < info.frames - MISSING_FRAMES_TOLERATED:
            parts.append(f"only {self.decoded} of the {info.frames} frames the container declares were decoded, up to {self.end:.2f} s")
        elif info.duration and self.end < info.duration - MISSING_SECONDS_TOLERATED:
            parts.append(f"the video ends at {self.end:.2f} s of the {info.duration:.2f} s the container declares ({self.decoded} frames)")
        return f"damaged input {info.path}: " + "; ".join(parts) if parts else None

    def as_dict(self, info: VideoInfo) -> dict[str, object]:
        """The counts for the audit report."""
        return {
            "frames_decoded": self.decoded,
            "frames_declared": info.frames if info.frames_declared else None,
            "undecodable_packets": self.undecodable,
            "corrupt_frames": self.corrupt,
            "other_packets_left_out": self.unmuxable,
            "first_problem": self.first_problem,
            "stopped": self.stopped,
            "video_end_seconds": round(self.end, 3),
            "summary": self.summary(info),
        }


class Reader:
    """The input's decoded video frames and other packets, in file order; damage is counted, not fatal.

    :meth:`first_frame` decodes ahead to the first frame (what :func:`describe` needs); iterating
    yields everything from the start, that frame included.
    """

    def __init__(self, container: av.container.InputContainer, video: av.video.stream.VideoStream, name: str) -> None:
        self.container, self.video, self.name = container, video, name
        self.damage = InputDamage()
        self._start = float(video.start_time * video.time_base) if video.start_time is not None and video.time_base else 0.0
        self._items = self._read()
        self._ahead: deque[Item] = deque()

    def first_frame(self) -> av.VideoFrame:
        """Decode up to the first video frame (kept for iteration); an :class:`AnonfilterError` if there is none."""
        for item in self._items:
            self._ahead.append(item)
            if isinstance(item, av.VideoFrame):
                return item
        cause = self.damage.first_problem or self.damage.stopped or "it holds no frame"
        hint = PIPE_HINT if self.name == STDIO else ""
        raise AnonfilterError(f"no video frame could be decoded from {self.name}: {cause}{hint}")

    def __iter__(self) -> Iterator[Item]:
        while self._ahead:
            yield self._ahead.popleft()
        yield from self._items

    def _read(self) -> Iterator[Item]:
        packets = self.container.demux()
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.error.FFmpegError, OSError) as error:
                self.damage.stopped = f"at {self.damage.end:.2f} s ({reason(error)})"
                yield from self._decode(None)  # the frames the decoder still holds
                return
            if packet.stream.index == self.video.index:
                yield from self._decode(packet)
            else:
                yield packet

    def _decode(self, packet: Optional[av.Packet]) -> Iterator[av.VideoFrame]:
        try:
            frames = self.video.decode(packet)
        except av.error.FFmpegError as error:
            self.damage.undecodable += 1
            if self.damage.first_problem is None:
                where = float(packet.pts * packet.time_base) if packet is not None and packet.pts is not None else self.damage.end
                self.damage.first_problem = f"at {where:.2f} s: {reason(error)}"
            return
        for frame in frames:
            self.damage.decoded += 1
            self.damage.corrupt += bool(frame.is_corrupt)
            if frame.pts is not None and frame.time_base:
                duration = frame.duration if frame.duration and frame.duration > 0 else 0
                self.damage.end = max(self.damage.end, float((frame.pts + duration) * frame.time_base) - self._start)
            yield frame


def upright_frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, name: str
) -> Iterator[tuple[np.ndarray, float]]:
    """``stream``'s frames as RGB arrays the way they are shown (display rotation applied), with
    their time in seconds; damaged input is one :class:`AnonfilterError` line naming ``name``.

    Decoding is the transcoder's own (:class:`Reader`, which counts damage) and so is the turn
    (:func:`turned`); only the conversion differs. The transcoder converts with its converter
    (``ffmpeg_bridge.colour``: reused arrays, I420 planes kept for the encoder), which a check or a
    score does not need, so the conversion stays out of the shared part. Where the transcoder
    counts damage and goes on, a check or a score must not quietly see fewer frames: it stops.
    """
    reader = Reader(container, stream, name)
    for item in reader:
        _refuse_damage(reader)
        if isinstance(item, av.VideoFrame):
            yield turned(item.to_ndarray(format="rgb24"), frame_rotation(item)), float(item.time or 0.0)
    _refuse_damage(reader)


def _refuse_damage(reader: Reader) -> None:
    damage = reader.damage
    if damage.undecodable or damage.stopped:
        raise AnonfilterError(f"cannot decode {reader.name} ({damage.first_problem or damage.stopped})")


def open_reader(path: str | os.PathLike[str]) -> tuple[Reader, VideoInfo]:
    """Open ``path`` (path, URL or ``-``) and decode its first frame; the reader yields from the start."""
    container, video = open_input(path)
    reader = Reader(container, video, str(path))
    try:
        info = describe(path, video, reader.first_frame())
    except BaseException:
        container.close()
        raise
    return reader, info


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the first video stream of ``path`` (one-line :class:`AnonfilterError` on bad input)."""
    reader, info = open_reader(path)
    reader.container.close()
    return info
