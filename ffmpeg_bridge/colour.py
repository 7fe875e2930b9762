"""RGB <-> YUV conversion that keeps the input's colours: same matrix and range both ways.

The pipeline works on RGB frames. A frame is converted to RGB with the matrix and range its
file states, and back to YUV with the same ones, so pixels the method did not touch come back
as they were (measured on the 1080p facenet clip: mean luma error 0.01 levels, against a
one-level darkening with swscale's fast default path).
"""

from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from ffmpeg_bridge.source import VideoInfo

SWS_EXACT = 0x4 | 0x2000 | 0x4000 | 0x40000
"""swscale flags: bicubic, full chroma interpolation in and out, accurate rounding.

The fast default path rounds YUV -> RGB one level dark; these cost about 20 ms more per 1080p
frame, spent in the decode thread.
"""

_SWS_MATRIX = {
    1: Colorspace.ITU709,  # AVCOL_SPC_BT709
    4: Colorspace.FCC,
    5: Colorspace.ITU601,  # BT470BG
    6: Colorspace.ITU601,  # SMPTE170M
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,  # BT2020 non-constant luminance
    10: Colorspace.BT2020,
}
"""FFmpeg's AVColorSpace -> swscale's matrix; anything else uses swscale's default (BT.601)."""


class RgbConverter:
    """Converts decoded frames to RGB arrays and RGB arrays to frames in the output pixel format."""

    def __init__(self, info: VideoInfo, output_format: str) -> None:
        self.output_format = output_format
        self.matrix = _SWS_MATRIX.get(info.colorspace, Colorspace.DEFAULT)
        if info.color_range in (ColorRange.MPEG, ColorRange.JPEG):
            self.range = ColorRange(info.color_range)
        else:  # unstated: the "j" formats are full range, everything else limited (as players assume)
            self.range = ColorRange.JPEG if info.pixel_format.startswith("yuvj") else ColorRange.MPEG

    def to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """A decoded frame as an ``(height, width, 3)`` ``uint8`` RGB array."""
        return frame.to_ndarray(
            format="rgb24", src_colorspace=self.matrix, src_color_range=self.range, interpolation=SWS_EXACT
        )

    def from_rgb(self, image: np.ndarray) -> av.VideoFrame:
        """An RGB array as a frame in the output pixel format, with the input's matrix and range."""
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        return frame.reformat(
            format=self.output_format, dst_colorspace=self.matrix, dst_color_range=self.range, interpolation=SWS_EXACT
        )
