"""Bad files, signals, full disks and races: one clear line, the right exit code, nothing half-written.

Everything runs on real FFmpeg (PyAV) with clips made here; the full disk is a real 2 MB tmpfs
(see :func:`tests.clips.small_disk` for the fallback where mounting is impossible). The CLI
cases that need the real anonymizer run it on tiny clips; the others call the transcoder with
the test processor of test_bridge, which marks every frame it sees, so a test can see that no
written frame skipped it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import av
import av.video.stream
import numpy as np
import pytest

from anonfilter.cli import build_parser, main, stop_signals_interrupt
from anonfilter.config import Config
from anonfilter.errors import AnonfilterError, RunFailure
from ffmpeg_bridge import EncoderSettings, probe, transcode
from ffmpeg_bridge.source import ffmpeg_location, is_url
from tests.clips import cut, files_in, remux, small_disk
from tests.data import shared_path
from tests.test_bridge import LaggingMarker, frame_times, write_clip

ANONFILTER = [sys.executable, "-m", "anonfilter.cli"]


def marked_frames(path: Path) -> list[bool]:
    """For each decoded frame of ``path``: does it carry the test processor's mark (so went through it)?"""
    with av.open(str(path)) as container:
        return [bool(frame.to_ndarray(format="rgb24")[1:7, 1:7].min() > 240) for frame in container.decode(video=0)]


def one_line(err: str) -> str:
    """The single ``anonfilter:`` line of stderr (asserts there is exactly one and no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anonfilter: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def clip(tmp_path) -> Path:
    """Twenty 160x120 frames with AAC audio, in its own folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "clip.mp4"
    write_clip(path, list(range(0, 800, 40)), audio=True)
    return path


# Inputs whose first frame cannot be decoded.


def flat_clip(path: Path, frames: int, setup: Callable[[av.video.stream.VideoStream], None]) -> Path:
    """``frames`` flat grey 96x64 H.264 frames, the stream set up by ``setup`` first (flags, display matrix)."""
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        setup(stream)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((64, 96, 3), index * 50, np.uint8), format="rgb24")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def garble_first(index: int, packet: av.Packet) -> bytes:
    return bytes(255 - byte for byte in bytes(packet)) if index == 0 else bytes(packet)


@pytest.mark.parametrize("case", ["text_named_jpg", "corrupt_first_packet"])
def test_an_input_whose_first_frame_cannot_be_decoded_is_one_line_and_exit_2(case, tmp_path, clip, capsys):
    if case == "text_named_jpg":
        source = tmp_path / "x.jpg"
        source.write_text("not a picture\n" * 20)
    else:  # one keyframe only (libx264 makes one every 250 frames), and it is garbled: nothing after it decodes either
        single = flat_clip(tmp_path / "single.mkv", 5, lambda stream: None)
        source = remux(single, tmp_path / "bad.mkv", garble_first)
    before = files_in(tmp_path)
    assert main(["-i", str(source), "-o", str(tmp_path / "out.mp4"), "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(source) in line and ("decoded" in line or "not a video" in line)
    assert files_in(tmp_path) == before


# Damaged input: counted, reported, never passed through; --strict makes it an error.


def test_an_mp4_cut_in_half_is_written_with_the_frames_that_decode_and_reported(tmp_path, clip):
    faststart = remux(clip, tmp_path / "faststart.mp4", options={"movflags": "faststart"})  # index first, as web video
    source, target = cut(faststart, tmp_path / "cut.mp4", 0.5), tmp_path / "out.mp4"
    notes: list[str] = []
    result = transcode(source, target, lambda info: LaggingMarker(), progress=False, report=notes.append)
    assert 0 < result.frames < 20
    assert [note for note in notes if "damaged input" in note] == [
        f"damaged input {source}: only {result.frames} of the 20 frames the container declares were decoded, "
        f"up to {result.frames * 0.04:.2f} s"
    ]
    assert result.damage["frames_declared"] == 20 and result.damage["frames_decoded"] == result.frames
    assert all(marked_frames(target)) and len(marked_frames(target)) == result.frames


def test_an_mkv_cut_in_half_says_where_the_video_ends(tmp_path):
    whole = tmp_path / "whole.mkv"
    write_clip(whole, list(range(0, 2000, 40)), audio=True)
    source, target = cut(whole, tmp_path / "cut.mkv", 0.5), tmp_path / "out.mkv"
    notes: list[str] = []
    result = transcode(source, target, lambda info: LaggingMarker(), progress=False, report=notes.append)
    assert len(notes) == 1
    assert re.search(rf"the video ends at 1\.\d\d s of the 2\.\d\d s the container declares \({result.frames} frames\)", notes[0])
    assert all(marked_frames(target))


def test_a_whole_mkv_whose_video_starts_after_its_audio_is_not_called_damaged(tmp_path):
    """Matroska states one duration for all streams, from the earliest start: a video that starts
    0.85 s after its audio ends 0.85 s short of it, whole. Measured from the video's own start it
    was reported as damaged (and refused with --strict)."""
    late = tmp_path / "late.mkv"
    write_clip(late, list(range(850, 2850, 40)), audio=True)
    notes: list[str] = []
    result = transcode(late, tmp_path / "out.mkv", lambda info: LaggingMarker(), progress=False, report=notes.append)
    assert result.frames == 50 and not [note for note in notes if "damaged" in note], notes
    assert probe(late).duration == pytest.approx(2.0, abs=0.15)


def test_undecodable_packets_are_counted_and_their_frames_left_out(tmp_path):
    whole = tmp_path / "whole.mkv"
    write_clip(whole, list(range(0, 800, 40)))
    damaged = remux(whole, tmp_path / "damaged.mkv", lambda index, packet: b"\x00\x00\x01" * 9 if index in (7, 12) else bytes(packet))
    target = tmp_path / "out.mkv"
    notes: list[str] = []
    result = transcode(damaged, target, lambda info: LaggingMarker(), progress=False, report=notes.append)
    assert result.damage["undecodable_packets"] + result.damage["corrupt_frames"] >= 1 or result.frames < 20
    assert len(notes) == 1 and notes[0].startswith(f"damaged input {damaged}: ")
    assert all(marked_frames(target)) and len(marked_frames(target)) == result.frames


def test_strict_makes_damaged_input_an_error_and_writes_nothing(tmp_path, clip, capsys):
    source = cut(remux(clip, tmp_path / "fs.mp4", options={"movflags": "faststart"}), tmp_path / "cut.mp4", 0.5)
    before = files_in(tmp_path)
    with pytest.raises(RunFailure, match="only .* of the 20 frames .*--strict"):
        transcode(source, tmp_path / "out.mp4", lambda info: LaggingMarker(), progress=False, strict=True)
    assert files_in(tmp_path) == before


# Full disk, a folder removed mid-run, a file that appears at the target during the run.


class Hook(LaggingMarker):
    """The test processor, calling ``action`` once when frame ``at`` arrives."""

    def __init__(self, at: int, action) -> None:
        super().__init__()
        self.at, self.action = at, action

    def push(self, frame, info):
        if info.index == self.at:
            self.action()
        return super().push(frame, info)


def noise_clip(path: Path, frames: int = 30) -> Path:
    """Random 320x240 frames: they do not compress, so CRF 0 writes about 115 KB a frame (3.4 MB)."""
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=25, options={"crf": "0", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (240, 320, 3), np.uint8), format="rgb24")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def test_a_full_disk_is_one_run_failure_line_and_leaves_nothing(tmp_path):
    source = noise_clip(tmp_path / "noise.mkv")
    disk = tmp_path / "disk"
    with small_disk(disk) as how:
        with pytest.raises(RunFailure) as caught:
            transcode(source, disk / "out.mkv", lambda info: LaggingMarker(), encoder=EncoderSettings(crf=0), progress=False)
        assert caught.value.exit_code == 1
        assert str(disk / "out.mkv") in str(caught.value)
        assert ("No space left on device" if how == "tmpfs" else "too large") in str(caught.value)
        assert files_in(disk) == []


def test_a_full_disk_through_the_command_is_exit_1_and_one_line(tmp_path, capsys):
    source = noise_clip(tmp_path / "noise.mkv")
    disk = tmp_path / "disk"
    with small_disk(disk):
        assert main(["-i", str(source), "-o", str(disk / "out.mkv"), "--crf", "0", "-q"]) == 1
        assert one_line(capsys.readouterr().err).startswith(f"anonfilter: cannot write {disk / 'out.mkv'} (")
        assert files_in(disk) == []


def test_the_output_folder_removed_mid_run_is_a_run_failure(tmp_path, clip):
    folder = tmp_path / "out"
    folder.mkdir()

    def remove() -> None:
        for name in os.listdir(folder):
            os.unlink(folder / name)
        folder.rmdir()

    with pytest.raises(RunFailure, match="removed during the run"):
        transcode(clip, folder / "out.mp4", lambda info: Hook(5, remove), progress=False)
    assert not folder.exists()


@pytest.mark.parametrize("temporary", ["unnamed", "named"])
def test_a_file_that_appears_at_the_target_during_the_run_is_not_replaced(temporary, tmp_path, clip, monkeypatch):
    if temporary == "named":  # as on a file system without O_TMPFILE
        monkeypatch.setattr("ffmpeg_bridge.outputfile.unnamed_file", lambda folder: None)
    target = tmp_path / "out.mp4"
    with pytest.raises(AnonfilterError, match="appeared during the run") as caught:
        transcode(clip, target, lambda info: Hook(5, lambda: target.write_bytes(b"theirs")), progress=False)
    assert caught.value.exit_code == 2
    assert target.read_bytes() == b"theirs" and files_in(tmp_path) == ["in", "out.mp4"]
    transcode(clip, target, lambda info: Hook(5, lambda: target.write_bytes(b"theirs")), overwrite=True, progress=False)
    assert all(marked_frames(target)) and len(marked_frames(target)) == 20


def test_where_an_unnamed_file_cannot_be_named_the_hidden_temporary_file_is_used(tmp_path, clip, monkeypatch):
    def refuse(handle: int, folder: int, name: str) -> None:  # as in sandboxes that refuse linkat through /proc
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr("ffmpeg_bridge.outputfile._give_name", refuse)
    seen: list[list[str]] = []
    transcode(clip, tmp_path / "out.mp4", lambda info: Hook(3, lambda: seen.append(files_in(tmp_path))), progress=False)
    assert len(seen[0]) == 2 and seen[0][0].startswith(".out.") and seen[0][0].endswith(".partial.mp4")
    assert files_in(tmp_path) == ["in", "out.mp4"] and all(marked_frames(tmp_path / "out.mp4"))


def test_two_runs_to_one_target_one_wins_the_other_is_refused(tmp_path, clip):
    target = tmp_path / "out.mp4"
    both_started = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        try:
            transcode(clip, target, lambda info: Hook(3, both_started.wait), progress=False)
            outcomes.append("written")
        except AnonfilterError as error:
            outcomes.append(f"exit {error.exit_code}")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["exit 2", "written"]
    assert files_in(tmp_path) == ["in", "out.mp4"] and all(marked_frames(target))


def test_stale_temporary_files_of_earlier_runs_are_reported_not_deleted(tmp_path, clip):
    stale, fresh = tmp_path / ".out.x1y2z3.partial.mp4", tmp_path / ".out.a1b2c3.partial.mp4"
    for path in (stale, fresh):
        path.write_bytes(b"left over")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    notes: list[str] = []
    transcode(clip, tmp_path / "out.mp4", lambda info: LaggingMarker(), progress=False, report=notes.append)
    assert len(notes) == 1 and "1 unfinished output file(s)" in notes[0] and str(stale) in notes[0]
    assert stale.exists() and fresh.exists()


# Signals: SIGTERM and SIGHUP as Ctrl-C.


def writing_into(pid: int, folder: Path) -> bool:
    """Whether process ``pid`` has a file in ``folder`` open that has no name yet (or a temporary one)."""
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                path = os.readlink(f"/proc/{pid}/fd/{fd}")
                if path.startswith(str(folder)) and ("(deleted)" in path or ".partial" in path):
                    return True
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_mid_run_leaves_nothing(signum, tmp_path, clip):
    target = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt), stop_signals_interrupt():
        transcode(clip, target, lambda info: Hook(5, lambda: os.kill(os.getpid(), signum)), progress=False)
    assert files_in(tmp_path) == ["in"]
    assert signal.getsignal(signum) is not None  # the previous handler is back


def test_sigterm_to_the_command_exits_143_with_one_line_and_nothing_left(tmp_path):
    source = tmp_path / "long.mp4"
    write_clip(source, list(range(0, 40 * 400, 40)), size=(320, 240))
    process = subprocess.Popen([*ANONFILTER, "-i", str(source), "-o", str(tmp_path / "out.mp4")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not writing_into(process.pid, tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in one_line(err)
    assert files_in(tmp_path) == ["long.mp4"]


# Inputs: paths are paths, URLs only as URLs, standard input and output.


def test_a_relative_input_with_a_colon_is_a_path(tmp_path, clip, monkeypatch):
    (tmp_path / "10:30.mp4").write_bytes(clip.read_bytes())
    monkeypatch.chdir(tmp_path)
    transcode("10:30.mp4", "11:00.mkv", lambda info: LaggingMarker(), progress=False)
    assert len(frame_times(tmp_path / "11:00.mkv")) == 20
    with pytest.raises(AnonfilterError, match="input file not found: nosuch:x.mp4"):
        probe("nosuch:x.mp4")


def test_only_urls_written_as_urls_are_handed_to_ffmpeg_as_such():
    assert is_url("https://example.org/a.mp4") and is_url("SRT://host:9000") and is_url("udp://239.0.0.1:1234")
    assert not is_url("10:30.mp4") and not is_url("concat:a.mp4|b.mp4") and not is_url("file.mp4")
    assert ffmpeg_location("concat:a.mp4|b.mp4", "pipe:0") == "file:" + os.path.abspath("concat:a.mp4|b.mp4")
    assert ffmpeg_location("-", "pipe:0") == "pipe:0"
    with pytest.raises(RunFailure, match=r"cannot open http://127\.0\.0\.1:9/a\.mp4 \(Connection refused\)"):
        probe("http://127.0.0.1:9/a.mp4")  # nothing listens on the discard port here: a network failure, exit 1


@pytest.mark.parametrize("container", ["matroska", "mpegts", "mp4"])
def test_anonfilter_sits_in_a_pipe_from_standard_input_to_standard_output(container, tmp_path):
    source = tmp_path / "in.mkv"
    write_clip(source, list(range(0, 400, 40)), audio=True)
    with source.open("rb") as stdin:
        done = subprocess.run([*ANONFILTER, "-i", "-", "-o", "-", "-f", container, "-q"], stdin=stdin, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    (tmp_path / "out").write_bytes(done.stdout)
    with av.open(str(tmp_path / "out")) as output:
        assert container in output.format.name.split(",")
        assert [stream.type for stream in output.streams] == ["video", "audio"]
    assert len(frame_times(tmp_path / "out")) == 10
    assert files_in(tmp_path) == ["in.mkv", "out"]


def test_an_mp4_with_its_index_at_the_end_piped_in_says_what_to_do_instead():
    """A real 10 s MP4 whose index (moov) is at the end, as most cameras write it (a clip of a
    few frames would fit in the demuxer's probe buffer and be read anyway)."""
    with shared_path("videos/mmaction2_demo_armwrestling.mp4").open("rb") as stdin:
        done = subprocess.run([*ANONFILTER, "-i", "-", "-o", "-", "-q"], stdin=stdin, capture_output=True, timeout=120)
    assert done.returncode == 2 and not done.stdout
    line = one_line(done.stderr.decode())
    assert line.startswith("anonfilter: no video frame could be decoded from -: ") and "ffmpeg -movflags +faststart" in line


# The command line: usage errors and unexpected errors as one line.


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["chek", "a.mp4", "b.mp4"], "unknown subcommand 'chek'; did you mean 'check'? subcommands: batch, check,"),
        (["-i", "a.mp4", "-o", "b.mp4", "--methd", "blur"], "did you mean --method?"),
        (["-i", "-face.mp4", "-o", "b.mp4"], "written as ./-NAME"),
        (["-o", "b.mp4"], "required: -i/--input"),
        (["-i", "a.mp4", "-o", "b.mp4", "-f", "nosuch"], None),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv, expected, capsys):
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err)
    if expected:
        assert expected in line


def test_an_unexpected_error_is_one_line_exit_1_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    def broken(args):
        raise OSError(5, "Input/output error", "/dev/sdz")

    monkeypatch.setattr("anonfilter.commands.plugins.run", broken)  # stands in for a failing disk, which cannot be made here
    assert main(["plugins"]) == 1
    assert one_line(capsys.readouterr().err) == "anonfilter: Input/output error: /dev/sdz"
    assert main(["plugins", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1] == "anonfilter: Input/output error: /dev/sdz"


def test_the_report_stores_the_settings_that_ran(tmp_path):
    source, report = tmp_path / "in.mp4", tmp_path / "run.json"
    write_clip(source, list(range(0, 200, 40)))
    assert main(["-i", str(source), "-o", str(tmp_path / "out.mkv"), "-q", "--report", str(report), "--codec", "ffv1"]) == 0
    run = json.loads(report.read_text())["run"]
    settings = run["settings"]
    assert not {"run", "debug", "quiet", "report", "input", "output"} & set(settings)
    assert settings["detection"]["every"] == 1 and settings["detection"]["mode"] == "whole"  # 160x120: searched whole
    assert settings["encoder"] == {"codec": "ffv1", "crf": None, "preset": None}
    ran = Config.from_dict(settings | {"encoder": {"codec": "ffv1"}})  # the stored settings are a Config
    assert ran.detection.every == 1 and ran.encoder.codec == "ffv1"
    assert run["input_damage"]["frames_decoded"] == 5 and run["input_damage"]["summary"] is None


# Streams the output cannot hold, encoders with formats of their own.


def test_a_font_attachment_is_left_out_of_an_mp4_with_a_note(tmp_path):
    source, target = tmp_path / "font.mkv", tmp_path / "out.mp4"
    write_clip(source, list(range(0, 400, 40)), audio=True, attachment=b"a font")
    notes: list[str] = []
    transcode(source, target, lambda info: LaggingMarker(), progress=False, report=notes.append)
    assert len(notes) == 1 and "left out attachment stream #2" in notes[0] and "mp4 files cannot hold it" in notes[0]
    with av.open(str(target)) as output:
        assert [stream.type for stream in output.streams] == ["video", "audio"]


@pytest.mark.parametrize("codec", ["libx264rgb", "mjpeg", "prores_ks"])
def test_encoders_without_the_inputs_pixel_format_get_their_closest_one(codec, tmp_path):
    source, target = tmp_path / "in.mp4", tmp_path / "out.mkv"
    write_clip(source, list(range(0, 200, 40)))
    transcode(source, target, lambda info: LaggingMarker(), encoder=EncoderSettings(codec=codec), progress=False)
    assert marked_frames(target) == [True] * 5
    with av.open(str(source)) as before, av.open(str(target)) as after:
        for original, written in zip(before.decode(video=0), after.decode(video=0), strict=True):
            difference = np.abs(written.to_ndarray(format="rgb24")[16:, 16:].astype(int) - original.to_ndarray(format="rgb24")[16:, 16:])
            assert difference.mean() < 8  # the colours survive the other format (mjpeg at its default bit rate is lossy)


def test_an_encoder_the_container_cannot_hold_is_one_clear_line(tmp_path, capsys):
    source = tmp_path / "in.mp4"
    write_clip(source, list(range(0, 200, 40)))
    assert main(["-i", str(source), "-o", str(tmp_path / "out.mp4"), "--codec", "prores_ks", "-q"]) == 2
    assert "cannot write prores_ks video into mp4" in one_line(capsys.readouterr().err)
    assert files_in(tmp_path) == ["in.mp4"]


def test_aac_priming_is_kept_so_timestamps_match_the_input_to_the_sample(tmp_path, clip):
    target = tmp_path / "out.mkv"
    transcode(clip, target, lambda info: LaggingMarker(), progress=False)
    assert frame_times(target) == pytest.approx(frame_times(clip), abs=1e-6)  # not shifted by the 21 ms of priming
    with av.open(str(clip)) as before, av.open(str(target)) as after:
        first_in = next(packet for packet in before.demux(audio=0) if packet.size)
        first_out = next(packet for packet in after.demux(audio=0) if packet.size)
        assert float(first_in.pts * first_in.time_base) == pytest.approx(-1024 / 48000)
        assert float(first_out.pts * first_out.time_base) == pytest.approx(-1024 / 48000, abs=0.001)  # Matroska counts ms


def test_interlaced_video_stays_interlaced_in_its_field_order(tmp_path):
    source, target = tmp_path / "interlaced.mkv", tmp_path / "out.mkv"

    def interlace(stream: av.video.stream.VideoStream) -> None:  # libx264 with interlaced DCT: field-coded
        stream.codec_context.flags |= av.codec.context.Flags.interlaced_dct

    flat_clip(source, 4, interlace)
    info = probe(source)
    assert info.interlaced and info.field_order > 1
    transcode(source, target, lambda info: LaggingMarker(), progress=False)
    written = probe(target)
    assert written.interlaced and written.field_order == info.field_order
    assert marked_frames(target) == [True] * 4


def test_the_whole_display_matrix_is_kept_rotation_and_flip(tmp_path):
    source, target = tmp_path / "mirrored.mp4", tmp_path / "out.mp4"
    # Shown turned 90 degrees and mirrored (ffmpeg -display_rotation 90 -display_hflip).
    flat_clip(source, 3, lambda stream: stream.set_display_rotation(90, hflip=True))
    info = probe(source)
    transcode(source, target, lambda info: LaggingMarker(), progress=False)
    assert info.display_matrix is not None and probe(target).display_matrix == info.display_matrix
    assert probe(target).rotation == 90


@contextlib.contextmanager
def as_unprivileged_user(owned: Path) -> Iterator[None]:
    """Run the block as user 'nobody' when this is root (root writes into any folder whatever its mode); ``owned`` becomes theirs."""
    if os.geteuid() != 0:
        yield
        return
    nobody = pwd.getpwnam("nobody")
    os.chown(owned, nobody.pw_uid, nobody.pw_gid)
    os.setegid(nobody.pw_gid)
    os.seteuid(nobody.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.mark.parametrize("temporary", ["unnamed", "named"])
def test_an_output_folder_made_read_only_mid_run_fails_in_one_line(temporary, tmp_path, capsys, monkeypatch):
    if temporary == "named":  # a file system without O_TMPFILE (FAT, some network ones), which cannot be mounted here
        monkeypatch.setattr("ffmpeg_bridge.outputfile.unnamed_file", lambda folder: None)
    base = Path(tempfile.mkdtemp(dir="/tmp"))  # outside pytest's root-only folder, so 'nobody' can reach it
    try:
        base.chmod(0o755)
        source, folder = base / "in.mp4", base / "out"
        write_clip(source, list(range(0, 400, 40)))
        folder.mkdir()
        with as_unprivileged_user(folder), pytest.raises(RunFailure, match=r"out\.mp4 \(Permission denied\); nothing was written"):
            transcode(source, folder / "out.mp4", lambda info: Hook(3, lambda: folder.chmod(0o555)), progress=False)
        left, err = files_in(folder), capsys.readouterr().err.strip()
        if temporary == "unnamed":  # it never had a name: nothing to leave
            assert left == [] and err == ""
        else:  # a read-only folder keeps a named file (no one but its owner may remove it): one extra line names it
            assert len(left) == 1 and left[0].endswith(".partial.mp4")
            assert err == f"anonfilter: could not remove the unfinished output {folder / left[0]} (Permission denied); delete it by hand"
    finally:
        (base / "out").chmod(0o755)
        shutil.rmtree(base)


def test_help_lists_every_subcommand_with_what_it_does(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in ("check", "evaluate", "live", "obs", "plugins", "new-plugin"):
        assert re.search(rf"^  {name} +\S", out, re.M), name


def test_check_and_evaluate_take_json_path_and_detector_options_alike():
    for name in ("check", "evaluate"):
        actions = {action.dest: action for action in build_parser(name)._actions}
        assert actions["json"].metavar == "PATH" and actions["detector_option"].option_strings == ["-D", "--detector-option"], name
