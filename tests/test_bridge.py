"""ffmpeg_bridge on real FFmpeg (PyAV): timing, size, colours, streams, metadata, failure clean-up.

The clips are made here with PyAV, a few frames each. The processor is a small stand-in for the
anonymizer with the same push/flush contract: it holds frames back like the tracker's lookahead
and paints a mark on each frame, so a test can see that every written frame went through it.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from anonfilter.errors import AnonfilterError
from anonfilter.pipeline import Anonymizer
from anonfilter.tracking.base import TrackedFace
from anonfilter.types import AnonymizedFrame, Detections, FrameInfo, Region
from ffmpeg_bridge import EncoderSettings, VideoInfo, probe, transcode
from ffmpeg_bridge.colour import I420Converter
from ffmpeg_bridge.reading import upright_frames
from tests.data import shared_path

MARK = 255


class LaggingMarker:
    """Returns each frame ``lag`` frames late, with a white 8x8 square in its top-left corner."""

    def __init__(self, lag: int = 3, fail_at: int | None = None, error: type[BaseException] = RuntimeError) -> None:
        self.lag, self.fail_at, self.error = lag, fail_at, error
        self.held: list[AnonymizedFrame] = []

    def push(self, frame: np.ndarray, info: FrameInfo) -> list[AnonymizedFrame]:
        if info.index == self.fail_at:
            raise self.error("processor failed")
        frame[:8, :8] = MARK
        self.held.append(AnonymizedFrame(frame, info, self.changed(info)))
        ready, self.held = self.held[: max(0, len(self.held) - self.lag)], self.held[max(0, len(self.held) - self.lag) :]
        return ready

    def flush(self) -> list[AnonymizedFrame]:
        ready, self.held = self.held, []
        return ready

    def changed(self, info: FrameInfo) -> tuple[Region, ...]:
        """The regions declared changed: the whole frame (anything may have changed)."""
        return (Region(0, 0, info.width, info.height),)


def gradient(width: int, height: int, index: int) -> np.ndarray:
    """A smooth test picture that moves a little per frame."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    return np.stack(
        [np.broadcast_to(x * 200 + index, (height, width)), np.broadcast_to(y * 200, (height, width)), (x + y) * 100 + 20], axis=-1
    ).astype(np.uint8)


def write_clip(
    path: Path,
    pts: list[int],
    time_base: Fraction = Fraction(1, 1000),
    size: tuple[int, int] = (160, 120),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    subtitles: Path | None = None,
    attachment: bytes | None = None,
    chapters: bool = False,
    color_range: int = 1,
) -> None:
    """A clip with frames at ``pts`` (VFR when irregular), BT.709 tags, and the extras asked for."""
    width, height = size
    with av.open(str(path), "w") as output:
        video = output.add_stream(codec, rate=25)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = video.codec_context.time_base = time_base
        context = video.codec_context
        context.color_range, context.colorspace, context.color_primaries, context.color_trc = color_range, 1, 1, 1
        video.metadata.update({"title": "camera one", "language": "fra"})
        audio_stream = None
        if audio:
            audio_stream = output.add_stream("aac", rate=48000, layout="mono")
            audio_stream.metadata.update({"title": "commentary", "language": "eng"})
        if subtitles is not None:
            subtitle_input = av.open(str(subtitles))
            subtitle_stream = output.add_stream_from_template(subtitle_input.streams.subtitles[0])
            subtitle_stream.metadata.update({"language": "deu", "title": "Untertitel"})
        if attachment is not None:
            output.add_attachment("notes.txt", "text/plain", attachment)
        output.metadata.update({"title": "A test clip", "comment": "made by test_bridge"})
        if chapters:
            output.set_chapters(
                [
                    {"id": 1, "start": 0, "end": 300, "time_base": Fraction(1, 1000), "metadata": {"title": "Opening"}},
                    {"id": 2, "start": 300, "end": 600, "time_base": Fraction(1, 1000), "metadata": {"title": "Ending"}},
                ]
            )
        for index, stamp in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(gradient(width, height, index), format="rgb24").reformat(
                format=pix_fmt, dst_colorspace="ITU709", dst_color_range=color_range
            )
            frame.pts, frame.time_base = stamp, time_base
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        if audio_stream is not None:
            seconds = float(pts[-1] * time_base) + 0.1
            samples = (0.1 * np.sin(np.arange(int(seconds * 48000)) * 0.05)).astype(np.float32)
            for start in range(0, len(samples), 1024):
                frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
                output.mux(audio_stream.encode(frame))
            output.mux(audio_stream.encode(None))
        if subtitles is not None:
            for packet in subtitle_input.demux(subtitle_input.streams.subtitles[0]):
                if packet.size:
                    packet.stream = subtitle_stream
                    output.mux(packet)
            subtitle_input.close()


def frame_times(path: Path) -> list[float]:
    """Presentation time of every decoded video frame."""
    with av.open(str(path)) as container:
        return [float(frame.pts * frame.time_base) for frame in container.decode(video=0)]


def packet_digests(path: Path, kind: str) -> list[tuple[float, str]]:
    """(time, md5) of each packet of the first stream of ``kind``."""
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [
            (float(packet.pts * packet.time_base), hashlib.md5(bytes(packet)).hexdigest())
            for packet in container.demux(stream)
            if packet.size
        ]


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in ``folder`` other than ``keep`` (a temporary file left behind shows up here)."""
    return sorted(name.name for name in folder.iterdir() if name.name not in keep)


def test_variable_frame_rate_timestamps_and_colours_are_kept(tmp_path):
    pts = [0, 40, 80, 200, 233, 266, 300, 420, 460, 700, 740, 780]
    source, target = tmp_path / "vfr.mkv", tmp_path / "out.mkv"
    write_clip(source, pts)
    result = transcode(source, target, lambda info: LaggingMarker(), progress=False)
    assert result.frames == len(pts)
    assert frame_times(target) == pytest.approx(frame_times(source), abs=1e-6)
    info_in, info_out = probe(source), probe(target)
    assert (info_out.width, info_out.height, info_out.pixel_format) == (160, 120, "yuv420p")
    assert (info_out.color_range, info_out.colorspace, info_out.color_primaries, info_out.color_trc) == (1, 1, 1, 1)
    assert info_out.duration == pytest.approx(info_in.duration, abs=0.002)
    assert set(result.seconds) == {"decode", "convert", "encode", "total"}


def test_every_frame_goes_through_the_processor_and_the_rest_is_unchanged(tmp_path):
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(source, list(range(0, 400, 40)))
    transcode(source, target, lambda info: LaggingMarker(lag=4), encoder=EncoderSettings(crf=10), progress=False)
    with av.open(str(source)) as before, av.open(str(target)) as after:
        pairs = list(zip(before.decode(video=0), after.decode(video=0), strict=True))
    for original, written in pairs:
        image, reference = written.to_ndarray(format="rgb24").astype(int), original.to_ndarray(format="rgb24").astype(int)
        assert image[1:7, 1:7].min() > 240  # the processor's mark
        assert np.abs(image[16:, 16:] - reference[16:, 16:]).mean() < 1.0  # colours survive RGB and back


def test_odd_frame_size_is_kept_exactly(tmp_path):
    source, target = tmp_path / "odd.mkv", tmp_path / "odd_out.mkv"
    write_clip(source, list(range(0, 200, 40)), size=(161, 121), codec="ffv1")
    transcode(source, target, lambda info: LaggingMarker(), progress=False)
    info = probe(target)
    assert (info.width, info.height) == (161, 121)
    assert info.pixel_format == "yuv444p"  # 4:2:0 cannot hold an odd size; no padding, no crop
    assert len(frame_times(target)) == 5


def test_streams_metadata_chapters_and_attachments_are_copied(tmp_path):
    subtitles = tmp_path / "subs.srt"
    subtitles.write_text("1\n00:00:00,100 --> 00:00:00,300\nHallo\n\n2\n00:00:00,400 --> 00:00:00,600\nWelt\n")
    source, target = tmp_path / "full.mkv", tmp_path / "full_out.mkv"
    write_clip(source, list(range(0, 680, 40)), audio=True, subtitles=subtitles, attachment=b"font or notes", chapters=True)
    transcode(source, target, lambda info: LaggingMarker(), progress=False)
    for kind in ("audio", "subtitles"):
        assert packet_digests(target, kind) == packet_digests(source, kind)
    with av.open(str(source)) as before, av.open(str(target)) as after:
        tags = {key.lower(): value for key, value in after.metadata.items()}  # Matroska writes some in capitals
        assert tags["title"] == "A test clip" and tags["comment"] == "made by test_bridge"
        assert [(c["start"], c["end"], c["metadata"]) for c in after.chapters()] == [
            (c["start"], c["end"], c["metadata"]) for c in before.chapters()
        ]
        assert [stream.type for stream in after.streams] == [stream.type for stream in before.streams]
        for old, new in zip(before.streams, after.streams):
            for key in ("title", "language", "filename", "mimetype"):
                assert new.metadata.get(key) == old.metadata.get(key)
        assert after.streams.attachments[0].data == b"font or notes"


def test_mp4_output_leaves_out_a_stream_it_cannot_hold_and_says_so(tmp_path):
    subtitles = tmp_path / "subs.srt"
    subtitles.write_text("1\n00:00:00,100 --> 00:00:00,300\nHallo\n")
    source, target = tmp_path / "subs.mkv", tmp_path / "out.mp4"
    write_clip(source, list(range(0, 400, 40)), audio=True, subtitles=subtitles)
    notes: list[str] = []
    transcode(source, target, lambda info: LaggingMarker(), progress=False, report=notes.append)
    assert len(notes) == 1 and "subtitle stream #2" in notes[0] and ".mkv" in notes[0]
    with av.open(str(target)) as output:
        assert [stream.type for stream in output.streams] == ["video", "audio"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_midway_leaves_no_output_and_no_temporary_file(tmp_path, error):
    source = tmp_path / "in.mp4"
    write_clip(source, list(range(0, 800, 40)))
    target = tmp_path / "out.mp4"
    with pytest.raises(error):
        transcode(source, target, lambda info: LaggingMarker(fail_at=12, error=error), progress=False)
    assert leftovers(tmp_path, {"in.mp4"}) == []


def test_a_processor_that_loses_frames_fails_closed(tmp_path):
    class Dropper(LaggingMarker):
        def flush(self):
            return []  # the held-back frames never come out

    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(source, list(range(0, 400, 40)))
    with pytest.raises(RuntimeError, match="decoded but"):
        transcode(source, target, lambda info: Dropper(), progress=False)
    assert leftovers(tmp_path, {"in.mp4"}) == []


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path):
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(source, list(range(0, 200, 40)))
    target.write_bytes(b"keep me")
    with pytest.raises(AnonfilterError, match="--overwrite"):
        transcode(source, target, lambda info: LaggingMarker(), progress=False)
    assert target.read_bytes() == b"keep me"
    transcode(source, target, lambda info: LaggingMarker(), overwrite=True, progress=False)
    assert len(frame_times(target)) == 5


def test_probe_describes_the_video(tmp_path):
    source = tmp_path / "in.mkv"
    write_clip(source, list(range(0, 400, 40)))
    info = probe(source)
    assert isinstance(info, VideoInfo)
    assert (info.width, info.height, info.codec, info.pixel_format) == (160, 120, "h264", "yuv420p")
    assert info.fps == pytest.approx(25, rel=0.05) and info.duration == pytest.approx(0.4, abs=0.05)


def test_a_rotated_video_is_processed_upright_and_keeps_its_rotation(tmp_path):
    source, target = tmp_path / "portrait.mp4", tmp_path / "out.mp4"
    with av.open(str(source), "w") as output:  # stored 160x96, shown 96x160 (a phone's portrait video)
        stream = output.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.set_display_rotation(90)
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(gradient(160, 96, index), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    seen: list[tuple[int, ...]] = []

    class Recorder(LaggingMarker):
        def push(self, frame, info):
            seen.append((*frame.shape, info.width, info.height))
            return super().push(frame, info)

    transcode(source, target, lambda info: Recorder(), progress=False)
    assert set(seen) == {(160, 96, 3, 96, 160)}  # upright: 96 wide, 160 high
    assert probe(target).rotation == 90
    with av.open(str(target)) as output:
        frames = [frame.to_ndarray(format="rgb24") for frame in output.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (96, 160, 3)
    assert all(frame[1:7, -7:-1].min() > 240 for frame in frames)  # shown top-left = stored top-right
    with av.open(str(target)) as output:  # the audit and evaluate decode through the same helper, upright too
        shown = [frame for frame, _time in upright_frames(output, output.streams.video[0], str(target))]
    assert len(shown) == 5 and shown[0].shape == (160, 96, 3) and all(frame[1:7, 1:7].min() > 240 for frame in shown)


def test_a_data_stream_is_copied_packet_for_packet(tmp_path):
    source, target = tmp_path / "klv.ts", tmp_path / "out.ts"
    with av.open(str(source), "w") as output:  # MPEG-TS with a KLV metadata stream, as drones write
        video = output.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        data = output.add_data_stream("klv")
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(gradient(64, 48, index), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            output.mux(video.encode(frame))
            packet = av.Packet(b"klv payload %d" % index)
            packet.stream, packet.pts, packet.dts, packet.time_base = data, index * 40, index * 40, Fraction(1, 1000)
            output.mux(packet)
        output.mux(video.encode(None))
    transcode(source, target, lambda info: LaggingMarker(), progress=False)
    assert packet_digests(target, "data") == packet_digests(source, "data")
    assert len(packet_digests(target, "data")) == 5


def test_timestamps_a_file_attaches_to_the_wrong_frames_come_out_in_order(tmp_path):
    """This AVI (packed B-frames) decodes with times 0.04, 0.08, 0.16, 0.12, ...: players sort them, so do we."""
    source = shared_path("videos/mmaction2_test_makeup_occlusion.avi")
    target = tmp_path / "out.mkv"
    transcode(source, target, lambda info: LaggingMarker(), progress=False)
    times = frame_times(source)
    assert times != sorted(times)
    assert frame_times(target) == pytest.approx(sorted(times), abs=1e-6)


# The fast colour path (yuv420p, limited range, even size, no rotation): only changed regions go back to YUV.

LOSSLESS = EncoderSettings(crf=0)
"""libx264 at CRF 0 is lossless for 8-bit video, so written YUV values can be compared exactly."""


class RegionPainter(LaggingMarker):
    """Paints ``painted`` white in every frame but declares only ``declared`` as changed (a processor that lies)."""

    def __init__(self, painted: list[Region], declared: tuple[Region, ...]) -> None:
        super().__init__()
        self.painted, self.declared = painted, declared

    def push(self, frame, info):
        for region in self.painted:
            frame[region.slices] = MARK
        return super().push(frame, info)

    def changed(self, info: FrameInfo) -> tuple[Region, ...]:
        return self.declared


def i420_frames(path: Path) -> list[np.ndarray]:
    """Every decoded frame of the first video stream as stored (an I420 array for yuv420p)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray() for frame in container.decode(video=0)]


def test_fast_path_writes_only_the_declared_regions_and_keeps_every_other_pixel_bit_exact(tmp_path):
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(source, list(range(0, 200, 40)))  # 160x120
    declared = Region(41, 31, 73, 61)  # odd corners: converted as the even block 40..74 x 30..62
    painter = RegionPainter([declared, Region(100, 80, 120, 100)], (declared,))
    result = transcode(source, target, lambda info: painter, encoder=LOSSLESS, progress=False)
    assert result.fast_colour
    written, original = i420_frames(target), i420_frames(source)
    assert len(written) == len(original) == 5
    changed = np.zeros((120, 160), bool)
    changed[30:62, 40:74] = True
    for image, reference in zip(written, original):
        y, y_ref = image[:120], reference[:120]
        assert np.array_equal(y[~changed], y_ref[~changed])  # the undeclared square and the mark are dropped
        assert (y[31:61, 41:73] >= 234).all()  # white in limited range
        for plane in (slice(120, 150), slice(150, 180)):  # U, V: 60x80 each, stored as 30 rows of 160
            chroma, chroma_ref = image[plane].reshape(60, 80), reference[plane].reshape(60, 80)
            outside = ~changed[::2, ::2]
            assert np.array_equal(chroma[outside], chroma_ref[outside])
            assert (np.abs(chroma[16:30, 21:36].astype(int) - 128) <= 2).all()  # white has no colour


def test_fast_path_reuses_the_arrays_and_the_frame_the_encoder_is_done_with(tmp_path):
    source = tmp_path / "in.mp4"
    write_clip(source, [0, 120])
    frames = i420_frames(source)
    converter = I420Converter(160, 120)
    decoded = [av.VideoFrame.from_ndarray(frame, format="yuv420p") for frame in frames]
    stored = converter.keep(decoded[0])
    assert np.array_equal(stored, frames[0])
    image = converter.rgb(stored)
    written = converter.frame(converter.merged(image, stored, ()))
    assert np.array_equal(written.to_ndarray(), frames[0])
    again = converter.keep(decoded[1])
    assert again is stored and np.array_equal(again, frames[1])
    again_image = converter.rgb(again)
    assert again_image is image  # the RGB array too
    assert np.array_equal(written.to_ndarray(), frames[0])  # the frame to encode has its own copy
    assert converter.frame(converter.merged(again_image, again, ())) is written  # ... and is refilled for the next one
    assert np.array_equal(written.to_ndarray(), frames[1])


def test_fast_path_gives_a_released_frame_back_exactly_as_decoded(tmp_path):
    """A processor holding frames back gives their RGB arrays back meanwhile (FrameStore); the
    array then holds another frame, and the frame asked for again is the same, bit for bit."""
    source = tmp_path / "in.mp4"
    write_clip(source, [0, 120])
    first, second = (I420Converter(160, 120).keep(av.VideoFrame.from_ndarray(frame, format="yuv420p")) for frame in i420_frames(source))
    converter = I420Converter(160, 120)
    image = converter.rgb(first)
    expected = image.copy()
    converter.release(image)
    other = converter.rgb(second)
    assert other is image and not np.array_equal(other, expected)  # the released array was reused
    assert np.array_equal(converter.rgb(first), expected)


def test_fast_path_reuses_only_its_own_arrays(tmp_path):
    source = tmp_path / "in.mp4"
    write_clip(source, [0, 120])
    frames = i420_frames(source)
    converter = I420Converter(160, 120)
    stored = converter.keep(av.VideoFrame.from_ndarray(frames[0], format="yuv420p"))
    image = converter.rgb(stored)
    foreign = image.copy()  # a processor that hands back an array of its own
    converter.frame(converter.merged(foreign, stored, ()))
    again = converter.rgb(converter.keep(av.VideoFrame.from_ndarray(frames[1], format="yuv420p")))
    assert again is not foreign and again is not image
    del image, again  # arrays the processor dropped are forgotten, not kept for reuse
    assert not converter._own_rgb


def test_fast_path_does_not_overwrite_a_frame_the_encoder_still_holds(tmp_path):
    """libx264 copies each frame as it gets it; FFmpeg's frame-threaded encoders (here ffvhuff)
    keep a reference to it for a while, so the next frame must go into new memory."""
    source = tmp_path / "in.mp4"
    write_clip(source, [0, 120])
    frames = i420_frames(source)
    converter = I420Converter(160, 120)
    out = av.open(str(tmp_path / "out.nut"), "w")
    stream = out.add_stream("ffvhuff", rate=25)
    stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
    stream.thread_type, stream.thread_count = "FRAME", 2
    packets = []
    for frame in frames:
        stored = converter.keep(av.VideoFrame.from_ndarray(frame, format="yuv420p"))
        packets += stream.encode(converter.frame(converter.merged(converter.rgb(stored), stored, ())))
    out.mux(packets + stream.encode(None))
    out.close()
    written = i420_frames(tmp_path / "out.nut")
    assert len(written) == 2 and all(np.array_equal(a, b) for a, b in zip(written, frames))


def test_opencv_runs_single_threaded_during_a_transcode_and_as_before_after(tmp_path):
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(source, [0, 40])
    seen = []

    class ThreadCounter(LaggingMarker):
        def push(self, frame, info):
            seen.append(cv2.getNumThreads())
            return super().push(frame, info)

    before = cv2.getNumThreads()
    transcode(source, target, lambda info: ThreadCounter(), progress=False)
    assert seen == [1, 1] and cv2.getNumThreads() == before


def test_fast_path_converts_the_whole_frame_for_a_processor_that_does_not_say_what_it_changed(tmp_path):
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(source, list(range(0, 200, 40)))

    class CornerMarker(LaggingMarker):  # declares the whole frame: anything may have changed
        def push(self, frame, info):
            frame[-8:, -8:] = MARK
            return super().push(frame, info)

    result = transcode(source, target, lambda info: CornerMarker(), encoder=LOSSLESS, progress=False)
    assert result.fast_colour
    for image in i420_frames(target):
        assert image[:8, :8].min() >= 234 and image[112:120, 152:160].min() >= 234


def test_fast_path_with_the_anonymizer_changes_the_face_region_and_obscures_a_failed_frame_whole(tmp_path):
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(source, list(range(0, 200, 40)))

    class OneFace:
        def detect(self, frame):
            return Detections(np.array([[40, 30, 80, 70]], np.float32), np.array([0.9], np.float32))

    class EveryFrame:
        def push(self, index, frame, detections):
            return [(index, [TrackedFace(1, 11, (40.0, 30.0, 80.0, 70.0), 0.9, "detected")])]

        def flush(self):
            return []

    class BlackOut:
        def anonymize(self, frame, faces, info):
            if info.index == 2:
                raise ValueError("bad frame")
            for face in faces:
                frame[face.region.slices] = 0

    def anonymizer(info: VideoInfo) -> Anonymizer:
        return Anonymizer(OneFace(), EveryFrame(), BlackOut(), "blackout", report=lambda message: None)

    result = transcode(source, target, anonymizer, encoder=LOSSLESS, progress=False)
    assert result.fast_colour
    written, original = i420_frames(target), i420_frames(source)
    for index, (image, reference) in enumerate(zip(written, original)):
        if index == 2:  # the method failed: the whole frame is obscured, also far from the face
            assert not np.array_equal(image[100:120, 120:160], reference[100:120, 120:160])
            continue
        assert (image[45:55, 55:65] <= 17).all()  # black inside the face
        assert np.array_equal(image[100:120], reference[100:120])  # untouched rows, bit for bit


@pytest.mark.parametrize(
    "clip",
    [
        {"size": (161, 121), "codec": "ffv1"},  # odd size: written as 4:4:4
        {"pix_fmt": "yuv444p"},
        {"pix_fmt": "yuvj420p", "color_range": 2},
        {"color_range": 2},  # yuv420p tagged full range
    ],
    ids=["odd-size", "yuv444p", "yuvj420p", "full-range"],
)
def test_other_formats_take_the_exact_path(tmp_path, clip):
    source, target = tmp_path / "in.mkv", tmp_path / "out.mkv"
    write_clip(source, list(range(0, 120, 40)), **clip)
    result = transcode(source, target, lambda info: LaggingMarker(), progress=False)
    assert not result.fast_colour
    assert result.frames == 3
