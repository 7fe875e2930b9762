"""RGB <-> YUV conversion between the decoder, the pipeline (RGB) and the encoder (YUV).

Two converters; :func:`converter_for` picks one per run.

* :class:`I420Converter`, the fast path, for the common case: 8-bit ``yuv420p`` in and out,
  limited range, even size, no display rotation. The decoded I420 array is what is kept of a
  frame until it is encoded (1.5 bytes a pixel); the pipeline gets RGB copies of it when it needs
  the pixels, gives them back while it holds the frame back, and only the regions it changed are
  converted back into the I420 array; every other pixel keeps its decoded YUV values exactly
  (and a frame converted again is the same RGB, bit for bit). Both directions use OpenCV's BT.601 limited-range pair, many times faster than the
  exact swscale path (figures: docs/benchmark.md, "Why the defaults are what they are").
* :class:`ExactConverter` for everything else (other formats, full range, odd sizes, 10 bit):
  swscale with the matrix and range the file states, both ways, with accurate rounding, so
  pixels the method did not touch come back as they were (measured on the 1080p facenet clip:
  mean luma error 0.01 levels, against a one-level darkening with swscale's fast default path).
"""

from __future__ import annotations

import weakref
from typing import Protocol, Sequence

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from anonfilter.types import Region
from ffmpeg_bridge.source import VideoInfo

SWS_EXACT = 0x4 | 0x2000 | 0x4000 | 0x40000
"""swscale flags: bicubic, full chroma interpolation in and out, accurate rounding.

The fast default path rounds YUV -> RGB one level dark; these cost more per frame (docs/benchmark.md),
spent in the decode thread.
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

Stored = np.ndarray
"""What a converter keeps of a decoded frame until its processed frame is encoded (the fast path's
I420 array, the exact path's RGB array)."""


class Converter(Protocol):
    """Keeps decoded frames until they are encoded, gives their pixels as RGB, and turns processed RGB back into frames.

    A frame goes through :meth:`keep` (reader thread), :meth:`rgb` and :meth:`release` as often
    as the processor needs its pixels, :meth:`merged` once it is processed (processing thread),
    and :meth:`frame` (encoder thread).
    """

    def keep(self, frame: av.VideoFrame) -> Stored:
        """What to keep of a decoded frame until it is encoded."""

    def rgb(self, stored: Stored) -> np.ndarray:
        """The kept frame as an ``(height, width, 3)`` ``uint8`` RGB array (as decoded, whenever asked)."""

    def release(self, image: np.ndarray) -> None:
        """``image``, from :meth:`rgb`, is no longer used: its memory may hold another frame's pixels."""

    def merged(self, image: np.ndarray, stored: Stored, changed: Sequence[Region]) -> Stored:
        """The processed ``image`` (only ``changed`` differs from the decoded frame) as what to encode; takes ``image`` back."""

    def frame(self, stored: Stored) -> av.VideoFrame:
        """What :meth:`merged` gave, as a frame in the output format to encode at once."""


def converter_for(info: VideoInfo, output_format: str) -> Converter:
    """The fast :class:`I420Converter` where it applies, else :class:`ExactConverter`.

    Display rotation is the caller's: it turns the exact path's RGB arrays upright and back (the
    fast path is not used for a rotated video, whose regions would be in turned coordinates).
    """
    if I420Converter.handles(info, output_format):
        return I420Converter(info.width, info.height)
    return ExactConverter(info, output_format)


class ExactConverter:
    """swscale both ways, with the input's matrix and range; the whole frame is converted back."""

    def __init__(self, info: VideoInfo, output_format: str) -> None:
        self.output_format = output_format
        self.matrix = _SWS_MATRIX.get(info.colorspace, Colorspace.DEFAULT)
        if info.color_range in (ColorRange.MPEG, ColorRange.JPEG):
            self.range = ColorRange(info.color_range)
        else:  # unstated: the "j" formats are full range, everything else limited (as players assume)
            self.range = ColorRange.JPEG if info.pixel_format.startswith("yuvj") else ColorRange.MPEG

    def keep(self, frame: av.VideoFrame) -> Stored:
        """The decoded frame as an RGB array: the pixels themselves are what is kept."""
        return frame.to_ndarray(format="rgb24", src_colorspace=self.matrix, src_color_range=self.range, interpolation=SWS_EXACT)

    def rgb(self, stored: Stored) -> np.ndarray:
        """The kept RGB array itself."""
        return stored

    def release(self, image: np.ndarray) -> None:
        """Nothing to do: the RGB array is the frame itself."""

    def merged(self, image: np.ndarray, stored: Stored, changed: Sequence[Region]) -> Stored:
        """The processed RGB array: the whole of it is converted."""
        return image

    def frame(self, stored: Stored) -> av.VideoFrame:
        """The whole RGB array as a frame in the output pixel format, with the input's matrix and range."""
        frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
        return frame.reformat(format=self.output_format, dst_colorspace=self.matrix, dst_color_range=self.range, interpolation=SWS_EXACT)


class I420Converter:
    """The fast path for limited-range 8-bit 4:2:0 in and out: only changed regions go back to YUV.

    Both directions use OpenCV's pair (BT.601, limited range), also when the file states BT.709:
    the pipeline then sees slightly shifted hues (invisible to the detector), but a pixel the
    method leaves as it was inside a region (its feathered edge, the rest of the rectangle)
    round-trips to within rounding. Mixing matrices, e.g. swscale's BT.709 to RGB and OpenCV's
    BT.601 back, would shift the colours of every converted region and draw a visible box around
    each face; so the matrix pair must match, even if it is not the file's own.
    """

    FORMAT = "yuv420p"

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._free: list[np.ndarray] = []
        """I420 arrays the encoder is done with, for the decoder to fill again."""
        self._free_rgb: list[np.ndarray] = []
        """RGB arrays nobody uses any more, for :meth:`rgb` to convert the next frames into."""
        self._own_rgb: dict[int, weakref.ref[np.ndarray]] = {}
        """The RGB arrays :meth:`rgb` made and that still exist, by ``id``: only these are
        reused (a processor may hand back arrays of its own)."""
        self._frame = av.VideoFrame(width, height, self.FORMAT)
        """The frame handed to the encoder, refilled for every frame.

        Fresh memory costs the kernel a page fault per page and zeroing it (NumPy asks for 2 MiB
        pages for arrays from 4 MiB, such as a 1080p RGB frame), and on a virtual machine the
        host may have to back it first. Reusing these arrays and this frame, and copying the
        planes directly (PyAV's ``to_ndarray`` and ``from_ndarray`` make an extra copy each
        way), cuts page faults and CPU time (figures: docs/benchmark.md, "Why the defaults are
        what they are"). What is left is mostly the first
        use of the arrays: about 40 I420 frames are in flight at once (queues, the tracker's
        lookahead), and a few RGB ones (docs/benchmark.md, "Memory of the small-face default")."""

    @classmethod
    def handles(cls, info: VideoInfo, output_format: str) -> bool:
        """True for ``yuv420p`` in and out, limited or unstated range, even width and height, no rotation."""
        return (
            info.rotation == 0
            and info.pixel_format == output_format == cls.FORMAT
            and info.color_range in (ColorRange.UNSPECIFIED, ColorRange.MPEG)
            and info.width % 2 == 0
            and info.height % 2 == 0
        )

    def keep(self, frame: av.VideoFrame) -> Stored:
        """The decoded frame's planes in one I420 array (``height * 3/2`` x ``width``), reused where one is free."""
        if frame.format.name != self.FORMAT:  # a stream that changes format mid-way
            frame = frame.reformat(format=self.FORMAT)
        try:
            stored = self._free.pop()
        except IndexError:
            stored = np.empty((self.height * 3 // 2, self.width), np.uint8)
        for source, target in zip(_plane_arrays(frame), self._planes(stored)):
            target[:] = source
        return stored

    def rgb(self, stored: Stored) -> np.ndarray:
        """The kept frame converted to RGB, into an array :meth:`release` or :meth:`merged` gave back where there is one."""
        if self._free_rgb:
            return cv2.cvtColor(stored, cv2.COLOR_YUV2RGB_I420, dst=self._free_rgb.pop())
        image = cv2.cvtColor(stored, cv2.COLOR_YUV2RGB_I420)
        key = id(image)
        self._own_rgb[key] = weakref.ref(image, lambda _: self._own_rgb.pop(key, None))
        return image

    def release(self, image: np.ndarray) -> None:
        """Take ``image`` back for later :meth:`rgb` calls, if this converter made it (a processor may hand back arrays of its own)."""
        own = self._own_rgb.get(id(image))
        if own is not None and own() is image:
            self._free_rgb.append(image)

    def merged(self, image: np.ndarray, stored: Stored, changed: Sequence[Region]) -> Stored:
        """The kept I420 array with each changed region of ``image`` converted into it.

        ``image`` is taken back (:meth:`release`): nothing may use it afterwards.
        """
        for region in changed:
            self._convert_into(stored, image, region)
        self.release(image)
        return stored

    def frame(self, stored: Stored) -> av.VideoFrame:
        """The I420 array as a frame to encode; the array is taken back for later :meth:`keep` calls.

        The frame is refilled by the next call: encode it before then. Where the encoder still
        holds the previous one (FFmpeg's frame-threaded encoders do; libx264 copies each frame at
        once), ``make_writable`` gives the frame new memory first.
        """
        frame = self._frame
        frame.make_writable()
        for source, target in zip(self._planes(stored), _plane_arrays(frame)):
            target[:] = source
        self._free.append(stored)
        return frame

    def _planes(self, i420: np.ndarray) -> list[np.ndarray]:
        """Views of the Y, U and V planes of an I420 array of this converter's size."""
        return [i420[: self.height]] + [_chroma_plane(i420, self.width, self.height, plane) for plane in range(2)]

    def _convert_into(self, stored: np.ndarray, image: np.ndarray, region: Region) -> None:
        """Write ``image`` inside ``region`` (grown to even coordinates, clipped) into the I420 array."""
        width, height = self.width, self.height
        x0, y0 = max(0, region.x0) & ~1, max(0, region.y0) & ~1
        x1, y1 = min(width, region.x1 + region.x1 % 2), min(height, region.y1 + region.y1 % 2)
        if x1 <= x0 or y1 <= y0:
            return
        part = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2YUV_I420)
        rows, cols = y1 - y0, x1 - x0
        stored[y0:y1, x0:x1] = part[:rows]
        for plane in range(2):  # U, then V
            whole = _chroma_plane(stored, width, height, plane)
            whole[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] = _chroma_plane(part, cols, rows, plane)


def _plane_arrays(frame: av.VideoFrame) -> list[np.ndarray]:
    """Writable ``(height, width)`` views of a frame's planes, without the padding at the end of each line."""
    return [np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width] for plane in frame.planes]


def _chroma_plane(i420: np.ndarray, width: int, height: int, plane: int) -> np.ndarray:
    """A view of the U (``plane`` 0) or V (1) plane, ``height/2`` x ``width/2``, of an I420 array."""
    size = (width // 2) * (height // 2)
    start = width * height + plane * size
    return i420.reshape(-1)[start : start + size].reshape(height // 2, width // 2)
