"""`anonfilter check`: a blurred output passes, unchanged frames are listed, bad inputs give one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from anonfilter.audit import AuditSettings, face_similarity, find_leaks, reference_detector, reference_faces
from anonfilter.cli import main
from anonfilter.detection.guarantee import search_guarantee
from anonfilter.pipeline import Anonymizer
from anonfilter.plugins import PluginHost
from anonfilter.tracking.perframe import PerFrameTracker
from anonfilter.types import FrameInfo
from tests.data import shared_path

FRAMES = 10
UNCHANGED = {3, 7}
"""Frames the 'partly anonymized' output leaves as they are."""


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames of a video as RGB arrays."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for _, frame in zip(range(count), container.decode(video=0))]


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    """Encode frames with libx264 (CRF 18) at 25 fps."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """A 10-frame input (hamilton clip, two faces), a blurred output, an unchanged and a partly blurred copy."""
    folder = tmp_path_factory.mktemp("audit")
    frames = read_frames(shared_path("videos/face_recognition_short_hamilton_clip.mp4"), FRAMES)
    source = write_video(folder / "in.mp4", frames)
    frames = read_frames(source, FRAMES)  # what a reader of the input sees
    blurrer = Anonymizer(reference_detector(AuditSettings()), PerFrameTracker(), PluginHost().create_method("blur", []), "blur")
    blurred = [frame.copy() for frame in frames]
    for index, frame in enumerate(blurred):
        blurrer.push(frame, FrameInfo(index, index / 25, frame.shape[1], frame.shape[0]))
    partly = [frames[i] if i in UNCHANGED else blurred[i] for i in range(FRAMES)]
    return {
        "in": source,
        "blurred": write_video(folder / "blurred.mp4", blurred),
        "copy": write_video(folder / "copy.mp4", frames),
        "partly": write_video(folder / "partly.mp4", partly),
        "short": write_video(folder / "short.mp4", frames[:-2]),
        "folder": folder,
    }


def test_a_blurred_output_passes(clips):
    result = find_leaks(clips["in"], clips["blurred"])
    assert result.checked >= FRAMES  # both faces of most frames
    assert result.leaked == 0 and result.leaking_frames == []


def test_an_unchanged_copy_leaks_every_face(clips):
    result = find_leaks(clips["in"], clips["copy"])
    assert result.checked > 0 and result.leaked == result.checked
    assert result.leaking_frames == list(range(FRAMES))


def test_the_leaking_frames_are_listed_and_the_exit_code_is_1(clips, capsys):
    reference = reference_faces(clips["in"])
    result = find_leaks(clips["in"], clips["partly"], reference=reference)
    assert result.leaking_frames == sorted(UNCHANGED)
    assert main(["check", str(clips["in"]), str(clips["partly"]), "--json", "-", "-q"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["leaking_frames"] == sorted(UNCHANGED)
    assert all(len(leak["box"]) == 4 for leak in report["leaks"])
    saved = clips["folder"] / "leaks.json"
    assert main(["check", str(clips["in"]), str(clips["blurred"]), "-q", "--json", str(saved), "-D", "threshold=0.2"]) == 0
    assert "0 still structurally the same (0.00%)" in capsys.readouterr().out
    assert json.loads(saved.read_text())["faces_leaked"] == 0


def test_with_the_run_report_check_says_what_the_search_guaranteed(clips, tmp_path, capsys):
    report = tmp_path / "run.json"
    guarantee = search_guarantee(1920, 1080, 25.0, detect_every=4, backfill_frames=4, focused=True)
    moved = f"/elsewhere/{clips['in'].name}"  # the folders may differ: files move
    run = {"input": {"path": moved}, "output": str(clips["blurred"]), "search": guarantee.to_dict()}
    report.write_text(json.dumps({"run": run}))
    assert main(["check", str(clips["in"]), str(clips["blurred"]), "-q", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "faces from 14 px" in out and "at most 3 frames (0.12 s), covered by the tracker's back-fill of 4 frames" in out
    assert main(["check", str(clips["in"]), str(clips["blurred"]), "-q", "--json", "-", "--report", str(report)]) == 0
    assert json.loads(capsys.readouterr().out)["search"]["holds"] is True


def test_check_refuses_another_runs_report(clips, tmp_path, capsys):
    report = tmp_path / "run.json"
    guarantee = search_guarantee(1920, 1080, 25.0, detect_every=4, backfill_frames=4, focused=True)
    report.write_text(json.dumps({"run": {"input": {"path": "street.mp4"}, "output": "street_anon.mp4", "search": guarantee.to_dict()}}))
    assert main(["check", str(clips["in"]), str(clips["blurred"]), "-q", "--report", str(report)]) == 2
    assert f"the run report {report} is of a run from street.mp4 to street_anon.mp4, not of {clips['in']}" in capsys.readouterr().err


def test_every_nth_frame(clips):
    result = find_leaks(clips["in"], clips["copy"], AuditSettings(every=3))
    assert result.frames == FRAMES and result.frames_checked == 4
    assert result.leaking_frames == [0, 3, 6, 9]


def test_similarity_is_one_for_identical_crops_and_low_for_noise():
    rng = np.random.default_rng(0)
    face = rng.integers(0, 255, (40, 30)).astype(np.uint8)
    assert face_similarity(face, face) == pytest.approx(1.0)
    assert face_similarity(face, rng.integers(0, 255, (40, 30)).astype(np.uint8)) < 0.2


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "input not found"),
        ("not_video", "input is not a readable video"),
        ("short", "frame count differs: input has 10 frames, output has 8"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_2(clips, case, message):
    folder = clips["folder"]
    (folder / "notes.txt").write_text("not a video")
    inputs = {
        "missing": (folder / "missing.mp4", clips["blurred"]),
        "not_video": (folder / "notes.txt", clips["blurred"]),
        "short": (clips["in"], clips["short"]),
    }[case]
    process = subprocess.run([sys.executable, "-m", "anonfilter.cli", "check", "-q", *map(str, inputs)], capture_output=True, text=True)
    assert process.returncode == 2
    assert process.stderr.strip().count("\n") == 0 and message in process.stderr


def test_an_output_of_another_size_is_refused(clips, tmp_path):
    smaller = write_video(tmp_path / "small.mp4", [frame[:-2, :-2] for frame in read_frames(clips["in"], FRAMES)])
    process = subprocess.run(
        [sys.executable, "-m", "anonfilter.cli", "check", "-q", str(clips["in"]), str(smaller)], capture_output=True, text=True
    )
    assert process.returncode == 2 and "frame size differs" in process.stderr


def test_embedding_distances_of_leaks_say_same_person(clips):
    result = find_leaks(clips["in"], clips["partly"], AuditSettings(every=7, embedding=True))
    assert result.leaking_frames == [7]
    assert all(leak.distance is not None and leak.distance < 0.6 for leak in result.leaks)


def test_a_flat_patch_the_reference_took_for_a_face_is_not_counted_as_a_leak():
    """Measured on the hamilton clip: a dark background patch (std 0.6) that no method can change."""
    from anonfilter.audit import _leaks_in_frame
    from anonfilter.types import Detections

    before = np.full((120, 160, 3), 30, np.uint8)
    before[20:60, 80:120] = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)  # a textured "face"
    after = before.copy()
    faces = Detections(np.array([[10, 10, 50, 50], [80, 20, 120, 60]], np.float32), np.array([0.3, 0.9], np.float32))
    checked, featureless, leaks = _leaks_in_frame(0, 0.0, before, after, faces, 0.85)
    assert (checked, featureless) == (1, 1)
    assert [leak.box for leak in leaks] == [(80, 20, 120, 60)]
