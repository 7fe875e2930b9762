"""Open an input file and describe its video stream, with one-line errors for bad input."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional

import av
import av.container
import av.video.stream

from anonfilter.errors import AnonfilterError


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline and the encoder need to know about the input's (first) video stream.

    ``frames`` is the frame count stored in the container, or an estimate from duration and
    rate, or None when neither is known. ``duration`` is in seconds (None when unknown). The
    colour properties are FFmpeg's enum values as the file states them (``AVCOL_RANGE_*``,
    ``AVCOL_SPC_*``, ``AVCOL_PRI_*``, ``AVCOL_TRC_*``; 2 or 0 when unspecified), named like the
    attributes of PyAV's codec context so they can be copied onto the encoder. ``rotation`` is
    the display rotation the file asks for (counter-clockwise degrees: 0, 90, 180 or 270; phones
    store portrait video this way): frames are stored ``width`` x ``height`` and shown turned.
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

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as the video is shown, after its rotation."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


def open_input(path: str | os.PathLike[str]) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``path`` for reading; returns the container and its first video stream.

    Raises :class:`AnonfilterError` when the file is missing, unreadable, not something FFmpeg
    can read, or has no video stream.
    """
    name = str(path)
    if not os.path.exists(name):
        raise AnonfilterError(f"input file not found: {name}")
    if os.path.isdir(name):
        raise AnonfilterError(f"input is a folder, not a video file: {name}")
    if not os.access(name, os.R_OK):
        raise AnonfilterError(f"cannot read input file (permission denied): {name}")
    try:
        container = av.open(name, "r")
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise AnonfilterError(f"not a video file FFmpeg can read: {name} ({_reason(error)})") from None
    videos = [stream for stream in container.streams.video if not _is_cover_art(stream)]
    if not videos:
        container.close()
        raise AnonfilterError(f"no video stream in {name}")
    return container, videos[0]


def describe(path: str | os.PathLike[str], stream: av.video.stream.VideoStream) -> VideoInfo:
    """The :class:`VideoInfo` of an opened video stream."""
    context = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 25.0
    time_base = stream.time_base or Fraction(1, 90000)
    duration: Optional[float] = None
    if stream.duration:
        duration = float(stream.duration * time_base)
    elif stream.container.duration:
        duration = stream.container.duration / av.time_base
    frames: Optional[int] = stream.frames or None
    if frames is None and duration:
        frames = round(duration * fps)
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
        rotation=display_rotation(path, stream.index),
    )


def display_rotation(path: str | os.PathLike[str], stream_index: int) -> int:
    """The display rotation of a video stream, read from its first frame (0 when it has none)."""
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams[stream_index]):
            return round((frame.rotation or 0) / 90) % 4 * 90
    return 0


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the first video stream of ``path`` (one-line :class:`AnonfilterError` on bad input)."""
    container, stream = open_input(Path(path))
    try:
        return describe(path, stream)
    finally:
        container.close()


def _is_cover_art(stream: av.stream.Stream) -> bool:
    """An attached picture (cover art) is a one-image 'video' stream, not the video."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)
