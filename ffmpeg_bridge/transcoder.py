"""Decode -> process -> encode, with every other stream copied, in three overlapping threads.

The reader thread demuxes the input, decodes the video to RGB (turned upright when the file has
a display rotation) and copies every other stream's packets straight into the output. The
calling thread pushes frames through the processor (the anonymizer) and asks it which regions
of each finished frame it changed. The encoder thread turns the processed frames back into the
input's pixel format and encodes them with the input's timestamps. Bounded queues between them
keep memory flat; FFmpeg, OpenCV and onnxruntime release the GIL, so the three stages run at
the same time (and the anonymizer runs its detector in a fourth thread when it searches only
every n-th frame, see :class:`anonfilter.pipeline.Anonymizer`).

The colour conversions (:mod:`ffmpeg_bridge.colour`) take one of two paths, chosen per run:

* fast, for 8-bit ``yuv420p`` in and out, limited range, even size, no rotation (most camera
  and web video): the reader keeps each decoded I420 array (in ``_Job.stored``, by frame index,
  until the processor is done with it), the processing thread converts it to RGB for the
  processor, again whenever a processor that held the frame back without its pixels asks for
  them (:class:`~anonfilter.types.FrameStore`), and converts only the changed regions back into
  it, so every other pixel is written with its decoded YUV values; frames wait in the queues and
  the processor's lookahead as I420 (1.5 bytes a pixel) instead of RGB beside it (4.5);
* exact, for everything else: the whole frame goes through swscale both ways, with the file's
  matrix and range.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional, Protocol, Sequence, runtime_checkable

import av
import av.container
import av.stream
import av.video.stream
import cv2
import numpy as np
from tqdm import tqdm

from anonfilter.errors import AnonfilterError, RunFailure
from anonfilter.types import AnonymizedFrame, Frame, FrameInfo, FrameStore
from ffmpeg_bridge.colour import I420Converter, Stored, converter_for
from ffmpeg_bridge.encoder import EncoderSettings, add_video_stream
from ffmpeg_bridge.outputfile import check_output, output_location
from ffmpeg_bridge.passthrough import copy_container_properties, copy_streams, warn
from ffmpeg_bridge.reading import Reader, open_reader
from ffmpeg_bridge.source import STDIO, VideoInfo, reason, turned
from ffmpeg_bridge.timestamps import REORDER_WINDOW, Timestamps

QUEUE_FRAMES = 3
"""Frames each queue holds at most (decoded, waiting for the processor; processed, waiting for the encoder)...

Few: the processor holds frames back anyway (the tracker's lookahead), and every frame in
flight is fresh memory at the start of a run, which the kernel must fault in and zero: fewer
cost less CPU and memory (figures: docs/benchmark.md, "Why the defaults are what they are")."""
QUEUE_BYTES = 64 << 20
"""... and at most about this many bytes of frames (two 4K frames), so memory stays flat for large videos."""

FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
"""MP4 muxer options for a stream that is written once, front to back (standard output)."""


class FrameProcessor(Protocol):
    """What :func:`transcode` pushes frames through (:class:`anonfilter.pipeline.Anonymizer`).

    Each frame comes back as one :class:`~anonfilter.types.AnonymizedFrame`: with the regions
    that may differ from the frame pushed (the whole frame when any pixel may have changed). The
    fast colour path converts only those back to YUV.
    A frame's array is the processor's from ``push`` until it returns it; after that it may
    hold the pixels of a later frame (the fast colour path reuses it), so keep copies, not views.
    """

    def push(self, frame: Frame, info: FrameInfo) -> Sequence[AnonymizedFrame]:
        """Take the next frame; return the frames that are done, in order (maybe none yet)."""

    def flush(self) -> Sequence[AnonymizedFrame]:
        """End of stream: return every frame still held back."""


@runtime_checkable
class HoldingProcessor(FrameProcessor, Protocol):
    """A processor that holds frames back without their pixels (:class:`anonfilter.pipeline.Anonymizer`).

    It gets the transcoder's :class:`~anonfilter.types.FrameStore` in ``frame_store`` before the
    first frame and is fed frames without their pixels (``feed``): it asks for them when it
    needs them, may give a frame's array back while it holds the frame, and asks again when it
    finishes it. The transcoder takes the finished frames one by one from ``feed`` and ``drain``
    instead of ``push`` and ``flush``, so they need not all have their pixels at once.
    """

    frame_store: Optional[FrameStore]

    def feed(self, info: FrameInfo) -> Iterator[AnonymizedFrame]:
        """Take the next frame, whose pixels it asks ``frame_store`` for when it needs them; the
        frames that are done, in order, each finished as it is taken."""

    def drain(self) -> Iterator[AnonymizedFrame]:
        """End of stream: every frame still held back, each finished as it is taken."""


@dataclass
class TranscodeResult:
    """What a finished transcode did: the input's video, frames written, seconds per stage.

    ``seconds`` has ``decode`` (decode; on the exact colour path also YUV -> RGB) and ``encode``
    (encode, mux; on the exact path also RGB -> YUV), each the busy time of its thread,
    ``convert`` (the fast path's YUV -> RGB and changed regions back, in the processing thread)
    and ``total``, the wall time of the whole run.
    ``fast_colour`` says whether the fast colour path was taken (see the module docstring).
    ``damage`` counts what of the input could not be decoded (:meth:`InputDamage.as_dict`).
    """

    info: VideoInfo
    frames: int
    seconds: dict[str, float] = field(default_factory=dict)
    fast_colour: bool = False
    damage: dict[str, Any] = field(default_factory=dict)


def transcode(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    make_processor: Callable[[VideoInfo], FrameProcessor],
    encoder: EncoderSettings = EncoderSettings(),
    overwrite: bool = False,
    progress: bool | Callable[[int], None] = True,
    report: Callable[[str], None] = warn,
    strict: bool = False,
    container_format: Optional[str] = None,
) -> TranscodeResult:
    """Write ``output_path``: the input's video through the processor, everything else copied.

    Frame count, size, timestamps (variable frame rate included), pixel format and colour
    properties of the video are kept; audio, subtitle, data and attachment streams are copied
    as packets; container and stream metadata and chapters are kept. The output is written to a
    temporary file beside it and published only when everything succeeded (never replacing a
    file that appeared meanwhile, unless ``overwrite``); on any failure it is removed. Bad input
    or output raises :class:`AnonfilterError` (one line for the user) before anything is
    written, a failure while writing :class:`RunFailure`. ``progress`` True shows a progress bar
    when stderr is a terminal (a function instead is called with each number of frames finished); ``report`` receives one-line notes (streams that cannot be
    copied, damaged input). Damaged input (frames that cannot be decoded, a file that ends
    early) is reported, and with ``strict`` is an error. ``-`` reads standard input or writes
    standard output (in ``container_format``, Matroska by default); ``container_format`` also
    overrides what a file's extension picks.
    """
    started = time.perf_counter()
    input_name, output_name = str(input_path), str(output_path)
    reader, info = open_reader(input_name)
    with contextlib.closing(reader.container):
        format_name = check_output(input_name, output_name, overwrite, container_format)
        encoder.codec_or_error()
        processor = make_processor(info)
        with output_location(output_name, overwrite, report) as location:
            output = open_output(location, format_name, output_name)
            try:
                job = _Job(reader, output, info, processor, encoder, report, output_name)
                with (
                    tqdm(
                        total=info.frames,
                        unit="frame",
                        desc="anonymizing",
                        file=sys.stderr,
                        dynamic_ncols=True,
                        disable=not (progress is True and sys.stderr.isatty()),
                    ) as bar,
                    opencv_threads(1),
                ):
                    job.run(progress if callable(progress) else bar.update)
                check_damage(reader.damage.summary(info), strict, report)
            except BaseException:
                with contextlib.suppress(Exception):
                    output.close()
                raise
            with write_errors(output_name):
                output.close()
    seconds = {**job.seconds, "total": time.perf_counter() - started}
    return TranscodeResult(
        info, job.encoded, seconds, fast_colour=isinstance(job.converter, I420Converter), damage=reader.damage.as_dict(info)
    )


def open_output(location: str, format_name: str, output_name: str) -> av.container.OutputContainer:
    """The output container; MP4 and MOV to standard output are fragmented, since a pipe cannot seek back.

    Matroska keeps negative timestamps (AAC priming: the first audio packet of an MP4 starts
    1024 samples before zero) as ``ffmpeg -c copy`` does; FFmpeg's default would shift every
    stream, the video included, by that much instead.
    """
    options = dict(FRAGMENTED) if output_name == STDIO and format_name in ("mp4", "mov") else {}
    if format_name == "matroska":
        options["avoid_negative_ts"] = "disabled"
    with write_errors(output_name):
        return av.open(location, "w", format=format_name, options=options)


def start_encoding(output: av.container.OutputContainer, video: av.video.stream.VideoStream, info: VideoInfo, output_name: str) -> None:
    """Open the encoders and write the header; what the encoder or container refuses is one line."""
    try:
        output.start_encoding()
    except OSError as error:
        raise write_failure(output_name, error) from None
    except (ValueError, av.error.FFmpegError) as error:
        context = video.codec_context
        raise AnonfilterError(
            f"cannot write {info.width}x{info.height} {context.pix_fmt} video with the {context.name} encoder, "
            f"and the other streams, into {output.format.name} ({reason(error)}); try another --codec or container"
        ) from None


def check_damage(summary: Optional[str], strict: bool, report: Callable[[str], None]) -> None:
    """Report damaged input (``summary``, :meth:`InputDamage.summary`); with ``strict`` it is an error.

    Called before the output is published, so with ``strict`` nothing is written.
    """
    if summary is None:
        return
    if strict:
        raise RunFailure(f"{summary} (--strict)")
    report(summary)


@contextlib.contextmanager
def write_errors(output_name: str) -> Iterator[None]:
    """Turn FFmpeg's and the system's write errors (disk full, I/O, a closed pipe) into one :class:`RunFailure` line."""
    try:
        yield
    except (av.error.FFmpegError, OSError) as error:
        raise write_failure(output_name, error) from error


def write_failure(output_name: str, error: BaseException) -> RunFailure:
    """The one line for a failed write to ``output_name`` (a file, or ``-``: standard output).

    A system error (full disk, I/O, a closed pipe) is named as such; any other error is the
    muxer refusing what it was given, which only damaged input makes it do.
    """
    where = "standard output" if output_name == STDIO else output_name
    if isinstance(error, OSError):
        return RunFailure(f"cannot write {where} ({reason(error)})")
    return RunFailure(f"cannot write {where}: the muxer refused a packet ({reason(error)}); the input may be damaged")


@contextlib.contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """OpenCV uses ``count`` threads per call inside the block (its own setting is restored after).

    A transcode keeps every core busy with its own threads (decoding, the processor, the
    detector, encoding), so OpenCV's worker pool only competes with them: one thread per call
    is faster (figures: docs/benchmark.md, "Why the defaults are what they are").
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


class _Stopped(Exception):
    """Another thread failed or the run was interrupted: stop quietly."""


_END = object()


class _Job:
    """One transcode: the three threads and what they share."""

    def __init__(
        self,
        reader: Reader,
        output: av.container.OutputContainer,
        info: VideoInfo,
        processor: FrameProcessor,
        settings: EncoderSettings,
        report: Callable[[str], None],
        output_name: str,
    ) -> None:
        self.reader, self.output, self.info, self.processor = reader, output, info, processor
        self.output_name = output_name
        self.encoded_video = add_video_stream(output, reader.video, info, settings)
        self.copies = copy_streams(reader.container, output, reader.video, report)
        copy_container_properties(reader.container, output)
        start_encoding(output, self.encoded_video, info, output_name)
        self.converter = converter_for(info, self.encoded_video.codec_context.pix_fmt)
        # What a queue holds of a frame: the decoded I420 array on the fast colour path, else RGB.
        frame_bytes = info.width * info.height * (3 if isinstance(self.converter, I420Converter) else 6) // 2
        frames = max(2, min(QUEUE_FRAMES, QUEUE_BYTES // frame_bytes))
        self.decoded: queue.Queue[Any] = queue.Queue(maxsize=frames)
        self.processed: queue.Queue[Any] = queue.Queue(maxsize=frames)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.mux_lock = threading.Lock()
        self.timing: dict[int, tuple[int, int]] = {}
        """Frame index -> (pts, duration) in the video's time base, from reader to encoder."""
        self.stored: dict[int, Stored] = {}
        """Frame index -> what the converter kept of the decoded frame, from reader to the processor's finished frame."""
        self.seconds = {"decode": 0.0, "convert": 0.0, "encode": 0.0}
        self.decoded_count = 0
        self.encoded = 0
        if isinstance(processor, HoldingProcessor):
            processor.frame_store = self

    def run(self, advance: Callable[[int], None]) -> None:
        """Run the reader and encoder threads and push frames through the processor in this one."""
        threads = [threading.Thread(target=self._guard, args=(work,), daemon=True) for work in (self._read, self._encode)]
        for thread in threads:
            thread.start()
        try:
            self._process(advance)
            threads[1].join()  # the encoder drains what is left
        except _Stopped:  # a thread failed: its error is raised below
            pass
        finally:
            self.stop.set()  # after success the threads are done; otherwise they stop at their next queue
            for thread in threads:
                thread.join()
        if self.errors:
            raise self.errors[0]
        if self.encoded != self.decoded_count:  # fail closed: never end with frames missing
            raise RuntimeError(f"{self.decoded_count} frames decoded but {self.encoded} encoded")

    def _guard(self, work: Callable[[], None]) -> None:
        try:
            work()
        except _Stopped:
            pass
        except BaseException as error:  # handed to the main thread, which raises it
            self.errors.append(error)
            self.stop.set()

    def _get(self, source: queue.Queue[Any]) -> Any:
        while True:
            try:
                return source.get(timeout=0.1)
            except queue.Empty:
                if self.stop.is_set():
                    raise _Stopped from None

    def _put(self, target: queue.Queue[Any], item: Any) -> None:
        while True:
            try:
                target.put(item, timeout=0.1)
                return
            except queue.Full:
                if self.stop.is_set():
                    raise _Stopped from None

    def _mux(self, packets: Iterable[av.Packet]) -> None:
        with self.mux_lock, write_errors(self.output_name):
            self.output.mux(packets)

    def _copy(self, packet: av.Packet) -> None:
        """Mux a packet of another stream; one whose timestamps the muxer refuses (damaged input) is left out and counted."""
        try:
            with self.mux_lock:
                self.output.mux_one(packet)
        except OSError as error:
            raise write_failure(self.output_name, error) from error
        except (av.error.FFmpegError, ValueError):
            self.reader.damage.unmuxable += 1

    # The three stages.

    def _read(self) -> None:
        stamps = Timestamps(default_duration=max(1, round(1 / (self.info.fps * self.info.time_base))))
        waiting: deque[Stored] = deque()  # decoded frames whose timestamp may still be sorted
        mark = time.perf_counter()
        for item in self.reader:
            if self.stop.is_set():
                raise _Stopped
            if isinstance(item, av.VideoFrame):
                if (item.width, item.height) != (self.info.width, self.info.height):
                    raise AnonfilterError(
                        f"the frame size changes mid-stream in {self.info.path} "
                        f"({self.info.width}x{self.info.height} to {item.width}x{item.height}); not supported"
                    )
                stamps.add(item)
                waiting.append(self.converter.keep(item))
                self.seconds["decode"] += time.perf_counter() - mark
                while len(waiting) > REORDER_WINDOW:
                    self._hand_decoded(waiting.popleft(), stamps.next())
            elif item.stream.index in self.copies and item.size:
                item.stream = self.copies[item.stream.index]
                self._copy(item)
            mark = time.perf_counter()
        while waiting:
            self._hand_decoded(waiting.popleft(), stamps.next())
        self._put(self.decoded, _END)

    def _hand_decoded(self, stored: Stored, timing: tuple[int, int]) -> None:
        index = self.decoded_count
        self.timing[index] = timing
        self.stored[index] = stored
        self.decoded_count += 1
        self._put(self.decoded, FrameInfo(index, float(timing[0] * self.info.time_base), *self.info.display_size))

    def restore(self, index: int) -> Frame:
        """Frame ``index``'s pixels as decoded (RGB, upright), for the processor (:class:`~anonfilter.types.FrameStore`)."""
        started = time.perf_counter()
        image = self._upright(self.converter.rgb(self.stored[index]))
        self.seconds["convert"] += time.perf_counter() - started
        return image

    def release(self, index: int, frame: Frame) -> None:
        """The processor holds frame ``index`` without its pixels until it asks :meth:`restore` (:class:`~anonfilter.types.FrameStore`)."""
        self.converter.release(frame)

    def _upright(self, image: np.ndarray) -> np.ndarray:
        """Turn a stored frame the way it is shown, so the processor sees faces upright."""
        return turned(image, self.info.rotation)

    def _as_stored(self, image: np.ndarray) -> np.ndarray:
        """Turn a processed frame back to how the input stores it (its display rotation is kept)."""
        return turned(image, -self.info.rotation)

    def _process(self, advance: Callable[[int], None]) -> None:
        while (info := self._get(self.decoded)) is not _END:
            if isinstance(self.processor, HoldingProcessor):
                self._hand_on(self.processor.feed(info), advance)
            else:
                self._hand_on(self.processor.push(self.restore(info.index), info), advance)
        self._hand_on(self.processor.drain() if isinstance(self.processor, HoldingProcessor) else self.processor.flush(), advance)
        self._put(self.processed, _END)

    def _hand_on(self, finished: Iterable[AnonymizedFrame], advance: Callable[[int], None]) -> None:
        """Turn each finished frame into what the encoder needs (only its changed regions are converted back) and queue it."""
        width, height = self.info.display_size
        for image, info, changed in finished:
            if image.shape != (height, width, 3) or image.dtype != np.uint8:
                raise RuntimeError(f"the processor returned a {image.shape} {image.dtype} frame, not {(height, width, 3)} uint8")
            started = time.perf_counter()
            stored = self.converter.merged(self._as_stored(image), self.stored.pop(info.index), changed)
            self.seconds["convert"] += time.perf_counter() - started
            self._put(self.processed, (stored, info))
            advance(1)

    def _encoded(self, frame: Optional[av.VideoFrame]) -> list[av.Packet]:
        """Encode one frame (None: drain the encoder); an encoder failure is one :class:`RunFailure` line."""
        try:
            return self.encoded_video.encode(frame)
        except av.error.FFmpegError as error:
            raise RunFailure(f"the {self.encoded_video.codec_context.name} encoder failed ({reason(error)})") from None

    def _encode(self) -> None:
        durations: dict[int, int] = {}
        while (item := self._get(self.processed)) is not _END:
            stored, frame_info = item
            if frame_info.index != self.encoded:
                raise RuntimeError(f"the processor returned frame {frame_info.index} where frame {self.encoded} was due")
            started = time.perf_counter()
            pts, duration = self.timing.pop(frame_info.index)
            frame = self.converter.frame(stored)
            frame.pts, frame.time_base, frame.duration = pts, self.info.time_base, duration
            durations[pts] = duration
            self._mux(with_durations(self._encoded(frame), durations))
            self.encoded += 1
            self.seconds["encode"] += time.perf_counter() - started
        started = time.perf_counter()
        self._mux(with_durations(self._encoded(None), durations))
        self.seconds["encode"] += time.perf_counter() - started


def with_durations(packets: list[av.Packet], durations: dict[int, int]) -> list[av.Packet]:
    """Give each encoded packet its frame's duration (the encoder does not always carry it over)."""
    for packet in packets:
        if packet.pts is not None and packet.pts in durations:
            packet.duration = durations.pop(packet.pts)
    return packets
