"""Open an input and describe its video stream, with one-line errors for bad input.

An input is a local path (handed to FFmpeg as a ``file:`` location, so a name such as
``10:30.mp4`` is never taken for a protocol), a URL written as one (:data:`URL_SCHEMES`), or
``-`` for standard input.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import av
import av.container
import av.video.stream
import numpy as np

from anonfilter.errors import AnonfilterError, RunFailure

STDIO = "-"
"""The name of standard input (``-i -``) and standard output (``-o -``)."""
URL_SCHEMES = ("http", "https", "rtmp", "rtmps", "rtsp", "srt", "udp", "tcp")
"""Network inputs accepted when written as URLs (``scheme://...``); anything else is a local path."""
_URL = re.compile(rf"^({'|'.join(URL_SCHEMES)})://", re.IGNORECASE)


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline and the encoder need to know about the input's (first) video stream.

    ``frames`` is the frame count stored in the container, or an estimate from duration and
    rate, or None when neither is known; ``frames_declared`` says it is the stored count.
    ``duration`` is in seconds (None when unknown). The
    colour properties are FFmpeg's enum values as the file states them (``AVCOL_RANGE_*``,
    ``AVCOL_SPC_*``, ``AVCOL_PRI_*``, ``AVCOL_TRC_*``; 2 or 0 when unspecified), named like the
    attributes of PyAV's codec context so they can be copied onto the encoder. ``rotation`` is
    the display rotation the file asks for (counter-clockwise degrees: 0, 90, 180 or 270; phones
    store portrait video this way): frames are stored ``width`` x ``height`` and shown turned.
    ``display_matrix`` is the file's whole display matrix (rotation and flips, nine integers as
    FFmpeg stores them), None when it has none. ``interlaced`` says the first frame is
    interlaced, ``field_order`` is FFmpeg's ``AVFieldOrder`` of the stream (0 unknown, 1
    progressive, 2 top field first, 3 bottom first, 4 and 5 mixed).
    """

    path: str
    width: int
    height: int
    fps: float
    frames: Optional[int]
    duration: Optional[float]
    codec: str
    pixel_format: str
    color_range: int
    colorspace: int
    color_primaries: int
    color_trc: int
    time_base: Fraction
    rotation: int = 0
    display_matrix: Optional[tuple[int, ...]] = None
    interlaced: bool = False
    field_order: int = 0
    frames_declared: bool = False

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as the video is shown, after its rotation."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


def is_url(name: str) -> bool:
    """True for a network location written as a URL (``https://...``, ``srt://...``, see :data:`URL_SCHEMES`)."""
    return bool(_URL.match(name))


def ffmpeg_location(name: str, stdio: str) -> str:
    """What FFmpeg is given for ``name``: the URL itself, ``stdio`` (``pipe:0``/``pipe:1``) for ``-``, else ``file:PATH``."""
    if name == STDIO:
        return stdio
    return name if is_url(name) else "file:" + os.path.abspath(name)


def open_input(path: str | os.PathLike[str]) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``path`` (a local path, a URL or ``-``) for reading; returns the container and its first video stream.

    Raises :class:`AnonfilterError` when the file is missing, unreadable, not something FFmpeg
    can read, or has no video stream.
    """
    name = str(path)
    if name != STDIO and not is_url(name):
        check_local_input(name)
    try:
        container = av.open(ffmpeg_location(name, "pipe:0"), "r")
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as error:
        if is_url(name) and isinstance(error, OSError):  # the network, not the file: a failure while running
            raise RunFailure(f"cannot open {name} ({reason(error)})") from None
        raise AnonfilterError(f"not a video file FFmpeg can read: {name} ({reason(error)})") from None
    videos = [stream for stream in container.streams.video if not _is_cover_art(stream)]
    if not videos:
        container.close()
        raise AnonfilterError(f"no video stream in {name}")
    videos[0].thread_type = "AUTO"
    return container, videos[0]


def check_local_input(name: str) -> None:
    """Refuse a local input that is missing, a folder or unreadable, before FFmpeg sees it."""
    if not os.path.exists(name):
        hint = " (URLs must be written as scheme://...)" if ":" in name else ""
        raise AnonfilterError(f"input file not found: {name}{hint}")
    if os.path.isdir(name):
        raise AnonfilterError(f"input is a folder, not a video file: {name}")
    if not os.access(name, os.R_OK):
        raise AnonfilterError(f"cannot read input file (permission denied): {name}")


def container_span(stream: av.video.stream.VideoStream) -> float:
    """Seconds from ``stream``'s first timestamp to the end the container states for all its streams.

    A container's duration (Matroska keeps no per-stream one) runs from its earliest stream's start:
    a video that starts 0.85 s after its audio spans 0.85 s less of it.
    """
    container = stream.container
    end = (container.duration + (container.start_time or 0)) / av.time_base
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else 0.0
    return end - start


def describe(path: str | os.PathLike[str], stream: av.video.stream.VideoStream, first: av.VideoFrame) -> VideoInfo:
    """The :class:`VideoInfo` of an opened video stream whose ``first`` frame has been decoded."""
    context = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 25.0
    time_base = stream.time_base or Fraction(1, 90000)
    duration: Optional[float] = None
    if stream.duration:
        duration = float(stream.duration * time_base)
    elif stream.container.duration:
        duration = container_span(stream)
    frames: Optional[int] = stream.frames or None
    declared = frames is not None
    if frames is None and duration:
        frames = round(duration * fps)
    matrix = display_matrix(first)
    return VideoInfo(
        path=str(path),
        width=context.width,
        height=context.height,
        fps=fps,
        frames=frames,
        duration=duration,
        codec=context.name,
        pixel_format=context.format.name if context.format else "unknown",
        color_range=int(context.color_range),
        colorspace=int(context.colorspace),
        color_primaries=int(context.color_primaries),
        color_trc=int(context.color_trc),
        time_base=time_base,
        rotation=frame_rotation(first),
        display_matrix=matrix,
        interlaced=bool(first.interlaced_frame),
        field_order=int(context.field_order),
        frames_declared=declared,
    )


def display_matrix(frame: av.VideoFrame) -> Optional[tuple[int, ...]]:
    """The display matrix (rotation and flips) a decoded frame carries, or None."""
    for data in frame.side_data:
        if data.type.name == "DISPLAYMATRIX":
            return struct.unpack("<9i", bytes(data)[:36])
    return None


def frame_rotation(frame: av.VideoFrame) -> int:
    """The display rotation a decoded frame asks for: 0, 90, 180 or 270 degrees counter-clockwise."""
    return round((frame.rotation or 0) / 90) % 4 * 90 if display_matrix(frame) else 0


def turned(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` turned ``rotation`` degrees counter-clockwise (negative: clockwise), as a contiguous array."""
    return np.ascontiguousarray(np.rot90(image, rotation // 90)) if rotation % 360 else image


def _is_cover_art(stream: av.stream.Stream) -> bool:
    """An attached picture (cover art) is a one-image 'video' stream, not the video."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def reason(error: BaseException) -> str:
    """The short cause of an FFmpeg or OS error (its strerror, else its text)."""
    return getattr(error, "strerror", None) or str(error)
