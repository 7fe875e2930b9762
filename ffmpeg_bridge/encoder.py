"""The video encoder: settings, the output pixel format, and the output video stream."""

from __future__ import annotations

from dataclasses import dataclass

import av
import av.container
import av.video.stream
from av.codec.context import Flags

from anonfilter.errors import AnonfilterError
from ffmpeg_bridge.source import VideoInfo

X264_FAMILY = ("libx264", "libx264rgb", "libx265")
"""Encoders that take ``crf`` and ``preset``."""
FIELD_PROGRESSIVE = 1
"""FFmpeg's ``AV_FIELD_PROGRESSIVE``; larger values are field orders of interlaced video."""
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")


@dataclass(frozen=True)
class EncoderSettings:
    """How the anonymized video is encoded (every other stream is copied as it is).

    The defaults: libx264 at CRF 18 (visually transparent: the face regions change anyway,
    everything else should look as it did) with preset ``veryfast``, the fastest preset before
    the files grow (figures in docs/benchmark.md, "Why the defaults are what they are").
    """

    codec: str = "libx264"
    crf: int = 18
    preset: str = "veryfast"

    def codec_or_error(self) -> av.Codec:
        """The encoder, checked with its options; a bad one is an :class:`AnonfilterError` before any work."""
        try:
            codec = av.Codec(self.codec, "w")
        except (av.error.FFmpegError, ValueError):
            raise AnonfilterError(f"unknown video encoder '{self.codec}'") from None
        if codec.type != "video":
            raise AnonfilterError(f"'{self.codec}' is not a video encoder")
        if self.codec in X264_FAMILY and self.preset not in PRESETS:
            raise AnonfilterError(f"unknown preset '{self.preset}'; presets: {', '.join(PRESETS)}")
        if self.codec in X264_FAMILY and not 0 <= self.crf <= 51:
            raise AnonfilterError(f"--crf must be 0 to 51, not {self.crf}")
        return codec

    def options(self) -> dict[str, str]:
        """Encoder options for FFmpeg."""
        if self.codec in X264_FAMILY:
            return {"crf": str(self.crf), "preset": self.preset}
        if self.codec == "mjpeg":  # limited-range YUV, as the input has it (ffmpeg's -strict unofficial)
            return {"strict": "unofficial"}
        return {}


def output_pixel_format(info: VideoInfo, codec: av.Codec) -> str:
    """The pixel format to encode in: the input's, if the encoder takes it and it can hold the frame size.

    4:2:0 and 4:2:2 cannot represent an odd width (4:2:0 an odd height either), and H.264 cannot
    crop a single pixel there, so an odd-sized frame is encoded in 4:4:4 at its exact size
    rather than padded or cropped.
    """
    supported = [fmt.name for fmt in codec.video_formats or ()]
    wanted = info.pixel_format
    try:
        depth = av.VideoFormat(wanted).components[0].bits
    except (ValueError, IndexError):  # a format FFmpeg does not name (hardware, unknown)
        wanted, depth = "yuv420p", 8
    if supported and wanted not in supported:
        wanted = _closest(supported, depth)
    if _fits(wanted, info.width, info.height):
        return wanted
    full = "yuv444p10le" if depth > 8 else "yuv444p"
    if supported and full not in supported:
        raise AnonfilterError(
            f"encoder {codec.name} cannot keep the odd frame size {info.width}x{info.height} "
            f"(it has no 4:4:4 format); choose another with --codec"
        )
    return full


def _closest(supported: list[str], depth: int) -> str:
    """The encoder's format closest to a ``depth``-bit input: YUV of that depth, then of the other, then its first."""
    eight, ten = ("yuv420p", "yuv422p", "yuv444p"), ("yuv420p10le", "yuv422p10le", "yuv444p10le")
    for name in (*ten, *eight) if depth > 8 else (*eight, *ten):
        if name in supported:
            return name
    return supported[0]  # an RGB-only encoder such as libx264rgb


def _fits(pixel_format: str, width: int, height: int) -> bool:
    """True when the chroma planes of ``pixel_format`` subsample ``width`` x ``height`` exactly."""
    fmt = av.VideoFormat(pixel_format)
    step_x, step_y = 1024 // fmt.chroma_width(1024), 1024 // fmt.chroma_height(1024)
    return width % step_x == 0 and height % step_y == 0


def add_video_stream(
    output: av.container.OutputContainer, source: av.video.stream.VideoStream, info: VideoInfo, settings: EncoderSettings
) -> av.video.stream.VideoStream:
    """Add the encoded video stream to ``output``: input's size, display matrix, interlacing, timing, colours, metadata."""
    codec = settings.codec_or_error()
    try:
        stream = output.add_stream(codec.name, rate=source.average_rate or source.guessed_rate or None)
    except ValueError as error:
        raise AnonfilterError(f"cannot write {settings.codec} video into {output.format.name}: {error}") from None
    context = stream.codec_context
    context.width, context.height = info.width, info.height
    context.pix_fmt = output_pixel_format(info, codec)
    context.time_base = info.time_base
    stream.time_base = info.time_base
    if source.codec_context.sample_aspect_ratio:
        context.sample_aspect_ratio = source.codec_context.sample_aspect_ratio
    for name in ("color_range", "colorspace", "color_primaries", "color_trc"):
        setattr(context, name, getattr(info, name))
    if av.VideoFormat(context.pix_fmt).is_rgb:  # an RGB encoder (libx264rgb): say so, or players read it as YUV
        context.colorspace, context.color_range = 0, 2  # AVCOL_SPC_RGB, AVCOL_RANGE_JPEG
    if info.interlaced or info.field_order > FIELD_PROGRESSIVE:  # encoded as fields, in the input's order
        context.flags |= Flags.interlaced_dct | Flags.interlaced_me
        context.field_order = info.field_order
    context.options = settings.options()
    # As the ffmpeg command line does: frame and slice threads allowed, so libx264 uses frame
    # threads: faster than PyAV's default (slice threads only) for the same CPU time (figures:
    # docs/benchmark.md, "Why the defaults are what they are").
    context.thread_type = "AUTO"
    if info.display_matrix:  # rotation and flips, as the input has them
        stream.set_display_matrix(info.display_matrix)
    stream.metadata.update(source.metadata)
    stream.disposition = source.disposition.value
    return stream
