"""``anonfilter live --record OUT``: a video file of exactly the frames the engine publishes.

Every frame the engine writes into the bridge's output slot is also encoded here, in the same
order, timed by its source frame number (camera frames the engine skipped show as longer
frames, and a recording of a video file played as a camera lines up with the file frame by
frame; the container's ``source_first_frame`` metadata gives the source frame number of the
first recorded frame). A live output can then be audited like a file (``anonfilter check``,
the live benchmark). The
file is written beside ``OUT`` under a temporary name and named when the engine stops (as a transcode's output: never over a file that appeared meanwhile, unless -y); every
frame in it had been anonymized, so a recording cut short by an error is still kept.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import av

from anonfilter.errors import RunFailure
from anonfilter.types import Frame
from ffmpeg_bridge import EncoderSettings
from ffmpeg_bridge.outputfile import check_output, new_partial, publish, publish_errors, remove_partial
from ffmpeg_bridge.source import STDIO, ffmpeg_location

TIME_BASE = Fraction(1, 1000)
"""Timestamps in milliseconds since the first recorded frame, from the source's frame numbers."""


class LiveRecorder:
    """Encodes the engine's published frames into a video file."""

    def __init__(
        self, path: Path, width: int, height: int, fps: float, overwrite: bool = False, encoder: EncoderSettings = EncoderSettings()
    ) -> None:
        fmt = check_output(STDIO, str(path), overwrite)  # a camera is no file the recording could overwrite
        self.path = path
        self.overwrite = overwrite
        self._temporary = new_partial(path)
        self._output = av.open(ffmpeg_location(str(self._temporary), "pipe:1"), "w", format=fmt)
        self._stream = self._output.add_stream(encoder.codec, rate=Fraction(round(fps * 1000), 1000))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        self._stream.time_base = TIME_BASE
        self._stream.codec_context.time_base = TIME_BASE
        self._stream.codec_context.options = encoder.options()
        self.fps = fps
        self._first_index: int | None = None
        self._last_pts = -1
        self.frames = 0

    def write(self, frame: Frame, source_index: int) -> None:
        """Encode one published RGB frame, the source's frame number ``source_index``."""
        if self._first_index is None:
            self._first_index = source_index
            self._output.metadata["source_first_frame"] = str(source_index)
        pts = max(self._last_pts + 1, round((source_index - self._first_index) * 1000 / self.fps))
        self._last_pts = pts
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts, video_frame.time_base = pts, TIME_BASE
        try:
            self._output.mux(self._stream.encode(video_frame))
        except OSError as error:
            self.discard()
            raise RunFailure(f"cannot write the recording {self.path}: {error.strerror or error}") from None
        self.frames += 1

    def close(self) -> None:
        """Finish the file and give it its name (a recording of no frame is not kept)."""
        if self.frames == 0:
            self.discard()
            return
        try:
            self._output.mux(self._stream.encode(None))
            self._output.close()
        except OSError as error:
            self.discard()
            raise RunFailure(f"cannot write the recording {self.path}: {error.strerror or error}") from None
        try:
            with publish_errors(self.path):  # never over a file that appeared meanwhile, unless -y
                publish(self._temporary, self.path, self.overwrite)
        except BaseException:
            remove_partial(self._temporary)
            raise

    def discard(self) -> None:
        """Drop the recording (the temporary file is removed)."""
        with contextlib.suppress(Exception):
            self._output.close()
        remove_partial(self._temporary)
