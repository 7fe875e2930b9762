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
  until the encoder takes it) and the encoder converts only the changed regions back into it,
  so every other pixel is written with its decoded YUV values;
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
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

import av
import av.container
import av.stream
import cv2
import numpy as np
from tqdm import tqdm

from anonfilter.errors import AnonfilterError
from anonfilter.types import Frame, FrameInfo, Region
from ffmpeg_bridge.colour import I420Converter, Stored, converter_for
from ffmpeg_bridge.encoder import EncoderSettings, add_video_stream
from ffmpeg_bridge.outputfile import check_output, partial_file
from ffmpeg_bridge.passthrough import copy_container_properties, copy_streams, warn
from ffmpeg_bridge.source import VideoInfo, describe, open_input
from ffmpeg_bridge.timestamps import REORDER_WINDOW, Timestamps

QUEUE_FRAMES = 3
"""Frames each queue holds at most (decoded, waiting for the processor; processed, waiting for the encoder)...

Few: the processor holds frames back anyway (the tracker's lookahead), and every frame in
flight is fresh memory at the start of a run, which the kernel must fault in and zero. On the
1080p facenet clip 3 instead of 8 took 2% less CPU (8 alternating rounds) and 50 MB less memory."""
QUEUE_BYTES = 64 << 20
"""... and at most about this many bytes of frames (two 4K frames), so memory stays flat for large videos."""

FrameOut = tuple[Frame, FrameInfo]


class FrameProcessor(Protocol):
    """What :func:`transcode` pushes frames through (:class:`anonfilter.pipeline.Anonymizer`).

    A processor may also have ``changed_regions(index) -> tuple[Region, ...]``: the regions of a
    frame it just returned that may differ from the frame pushed (asked once per frame, right
    after the ``push`` or ``flush`` that returned it). The fast colour path converts only those
    back to YUV. Without that method any pixel may have changed, and the whole frame is converted.
    A frame's array is the processor's from ``push`` until it returns it; after that it may
    hold the pixels of a later frame (the fast colour path reuses it), so keep copies, not views.
    """

    def push(self, frame: Frame, info: FrameInfo) -> list[FrameOut]:
        """Take the next frame; return the frames that are done, in order (maybe none yet)."""

    def flush(self) -> list[FrameOut]:
        """End of stream: return every frame still held back."""


@dataclass
class TranscodeResult:
    """What a finished transcode did: the input's video, frames written, seconds per stage.

    ``seconds`` has ``decode`` (decode, YUV -> RGB) and ``encode`` (RGB -> YUV, encode,
    mux), each the busy time of its thread, and ``total``, the wall time of the whole run.
    ``fast_colour`` says whether the fast colour path was taken (see the module docstring).
    """

    info: VideoInfo
    frames: int
    seconds: dict[str, float] = field(default_factory=dict)
    fast_colour: bool = False


def transcode(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    make_processor: Callable[[VideoInfo], FrameProcessor],
    encoder: EncoderSettings = EncoderSettings(),
    overwrite: bool = False,
    progress: bool = True,
    report: Callable[[str], None] = warn,
) -> TranscodeResult:
    """Write ``output_path``: the input's video through the processor, everything else copied.

    Frame count, size, timestamps (variable frame rate included), pixel format and colour
    properties of the video are kept; audio, subtitle, data and attachment streams are copied
    as packets; container and stream metadata and chapters are kept. The output is written to a
    temporary file beside it and renamed only when everything succeeded; on any failure it is
    removed. Bad input or output raises :class:`AnonfilterError` (one line for the user) before
    anything is written. ``progress`` shows a progress bar when stderr is a terminal;
    ``report`` receives one-line notes (streams that cannot be copied).
    """
    started = time.perf_counter()
    source_path, target_path = Path(input_path), Path(output_path)
    source, video = open_input(source_path)
    with contextlib.closing(source):
        info = describe(source_path, video)
        container_format = check_output(source_path, target_path, overwrite)
        encoder.codec_or_error()
        processor = make_processor(info)
        with partial_file(target_path) as temporary:
            output = av.open(str(temporary), "w", format=container_format)
            try:
                job = _Job(source, video, output, info, processor, encoder, report)
                with tqdm(
                    total=info.frames, unit="frame", desc="anonymizing", file=sys.stderr, dynamic_ncols=True,
                    disable=not (progress and sys.stderr.isatty()),
                ) as bar, opencv_threads(1):
                    job.run(bar)
            except BaseException:
                with contextlib.suppress(Exception):
                    output.close()
                raise
            output.close()
    seconds = {**job.seconds, "total": time.perf_counter() - started}
    return TranscodeResult(info, job.encoded, seconds, fast_colour=isinstance(job.converter, I420Converter))


@contextlib.contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """OpenCV uses ``count`` threads per call inside the block (its own setting is restored after).

    A transcode keeps every core busy with its own threads (decoding, the processor, the
    detector, encoding), so OpenCV's worker pool only competes with them: with one thread per
    call the 1080p facenet clip took 4.5% less time and CPU (8.47 -> 8.09 CPU seconds, four
    alternating rounds on 2 cores).
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
        source: av.container.InputContainer,
        video: av.stream.Stream,
        output: av.container.OutputContainer,
        info: VideoInfo,
        processor: FrameProcessor,
        settings: EncoderSettings,
        report: Callable[[str], None],
    ) -> None:
        self.source, self.video, self.output, self.info, self.processor = source, video, output, info, processor
        self.encoded_video = add_video_stream(output, video, info, settings)
        self.copies = copy_streams(source, output, video, report)
        copy_container_properties(source, output)
        try:
            output.start_encoding()
        except (ValueError, av.error.FFmpegError) as error:
            raise AnonfilterError(f"cannot write {output.format.name} output: {error}") from None
        self.converter = converter_for(info, self.encoded_video.codec_context.pix_fmt)
        video.thread_type = "AUTO"
        # An RGB frame, plus its decoded I420 copy (half as large) on the fast colour path.
        frame_bytes = info.width * info.height * (9 if isinstance(self.converter, I420Converter) else 6) // 2
        frames = max(2, min(QUEUE_FRAMES, QUEUE_BYTES // frame_bytes))
        self.decoded: queue.Queue[Any] = queue.Queue(maxsize=frames)
        self.processed: queue.Queue[Any] = queue.Queue(maxsize=frames)
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.mux_lock = threading.Lock()
        self.timing: dict[int, tuple[int, int]] = {}
        """Frame index -> (pts, duration) in the video's time base, from reader to encoder."""
        self.stored: dict[int, Stored] = {}
        """Frame index -> what the converter kept of the decoded frame, from reader to encoder."""
        self.whole_frame = (Region(0, 0, *info.display_size),)
        self.changed_regions: Callable[[int], tuple[Region, ...]] = getattr(
            processor, "changed_regions", lambda index: self.whole_frame
        )
        self.seconds = {"decode": 0.0, "encode": 0.0}
        self.decoded_count = 0
        self.encoded = 0

    def run(self, bar: tqdm) -> None:
        """Run the reader and encoder threads and push frames through the processor in this one."""
        threads = [threading.Thread(target=self._guard, args=(work,), daemon=True) for work in (self._read, self._encode)]
        for thread in threads:
            thread.start()
        try:
            self._process(bar)
            threads[1].join()  # the encoder drains what is left
        except _Stopped:  # a thread failed: its error is raised below
            pass
        finally:
            self.stop.set()  # after success the threads are done; otherwise they stop at their next queue
            for thread in threads:
                thread.join()
        if self.errors:
            raise self.errors[0]
        if self.decoded_count == 0:
            raise AnonfilterError(f"no video frame could be decoded from {self.info.path}")
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
        with self.mux_lock:
            self.output.mux(packets)

    # The three stages.

    def _read(self) -> None:
        stamps = Timestamps(default_duration=max(1, round(1 / (self.info.fps * self.info.time_base))))
        waiting: deque[tuple[np.ndarray, Stored]] = deque()  # decoded frames whose timestamp may still be sorted
        for packet in self.source.demux():
            if self.stop.is_set():
                raise _Stopped
            if packet.stream.index == self.video.index:
                started = time.perf_counter()
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as error:
                    raise AnonfilterError(f"cannot decode the video of {self.info.path}: {error}") from None
                for frame in frames:
                    if (frame.width, frame.height) != (self.info.width, self.info.height):
                        raise AnonfilterError(
                            f"the frame size changes mid-stream in {self.info.path} "
                            f"({self.info.width}x{self.info.height} to {frame.width}x{frame.height}); not supported"
                        )
                    stamps.add(frame)
                    image, stored = self.converter.to_rgb(frame)
                    waiting.append((self._upright(image), stored))
                self.seconds["decode"] += time.perf_counter() - started
                while len(waiting) > REORDER_WINDOW:
                    self._hand_decoded(*waiting.popleft(), stamps.next())
            elif packet.stream.index in self.copies and packet.size:
                packet.stream = self.copies[packet.stream.index]
                self._mux([packet])
        while waiting:
            self._hand_decoded(*waiting.popleft(), stamps.next())
        self._put(self.decoded, _END)

    def _hand_decoded(self, image: np.ndarray, stored: Stored, timing: tuple[int, int]) -> None:
        index = self.decoded_count
        self.timing[index] = timing
        self.stored[index] = stored
        self.decoded_count += 1
        self._put(self.decoded, (image, FrameInfo(index, float(timing[0] * self.info.time_base), *self.info.display_size)))

    def _upright(self, image: np.ndarray) -> np.ndarray:
        """Turn a stored frame the way it is shown, so the processor sees faces upright."""
        return np.ascontiguousarray(np.rot90(image, self.info.rotation // 90)) if self.info.rotation else image

    def _as_stored(self, image: np.ndarray) -> np.ndarray:
        """Turn a processed frame back to how the input stores it (its display rotation is kept)."""
        return np.ascontiguousarray(np.rot90(image, -self.info.rotation // 90)) if self.info.rotation else image

    def _process(self, bar: tqdm) -> None:
        while (item := self._get(self.decoded)) is not _END:
            self._hand_on(self.processor.push(*item), bar)
        self._hand_on(self.processor.flush(), bar)
        self._put(self.processed, _END)

    def _hand_on(self, finished: list[FrameOut], bar: tqdm) -> None:
        for image, info in finished:
            self._put(self.processed, (image, info, self.changed_regions(info.index)))
        bar.update(len(finished))

    def _encode(self) -> None:
        stream = self.encoded_video
        width, height = self.info.display_size
        shape = (height, width, 3)
        durations: dict[int, int] = {}
        while (item := self._get(self.processed)) is not _END:
            image, frame_info, changed = item
            if frame_info.index != self.encoded:
                raise RuntimeError(f"the processor returned frame {frame_info.index} where frame {self.encoded} was due")
            if image.shape != shape or image.dtype != np.uint8:
                raise RuntimeError(f"the processor returned a {image.shape} {image.dtype} frame, not {shape} uint8")
            started = time.perf_counter()
            pts, duration = self.timing.pop(frame_info.index)
            frame = self.converter.from_rgb(self._as_stored(image), self.stored.pop(frame_info.index), changed)
            frame.pts, frame.time_base, frame.duration = pts, self.info.time_base, duration
            durations[pts] = duration
            self._mux(_with_durations(stream.encode(frame), durations))
            self.encoded += 1
            self.seconds["encode"] += time.perf_counter() - started
        started = time.perf_counter()
        self._mux(_with_durations(stream.encode(None), durations))
        self.seconds["encode"] += time.perf_counter() - started


def _with_durations(packets: list[av.Packet], durations: dict[int, int]) -> list[av.Packet]:
    """Give each encoded packet its frame's duration (the encoder does not always carry it over)."""
    for packet in packets:
        if packet.pts is not None and packet.pts in durations:
            packet.duration = durations.pop(packet.pts)
    return packets
