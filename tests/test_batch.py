"""``anonfilter batch``: inputs, one Ray task per file, a bad file among good ones, resume, a node that dies.

The Ray tests share one local cluster (:mod:`tests.ray_session`); the clips are tiny ones made
here (``write_clip``) or a few frames of a shared face clip.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePosixPath

import pytest

from anonfilter.api import Report, anonymize
from anonfilter.batch import BatchItem, TaskSettings, anonymize_file, discover, ray_map, run_batch
from anonfilter.batch.inputs import fingerprint
from anonfilter.batch.raytools import too_small
from anonfilter.batch.records import finished, options_hash, report_path
from anonfilter.batch.summary import BatchSummary
from anonfilter.batch.task import FileResult, resourced
from anonfilter.cli import main
from anonfilter.commands import batch as batch_command
from anonfilter.config import Config, DetectionConfig, IdentityConfig
from anonfilter.errors import AnonfilterError
from anonfilter.plugins import PluginHost
from tests.clips import files_in, looped
from tests.data import shared_path
from tests.ray_session import ray_cluster  # noqa: F401  (a fixture)
from tests.test_bridge import frame_times, write_clip
from tests.test_reproducible import lossless_cut
from tests.test_segments import CLIP as SEGMENTED_CLIP
from tests.test_segments import assert_same_frames

FRAMES = list(range(0, 800, 40))
"""Twenty frames of 160x120, 25 fps."""


def one_line(err: str) -> str:
    """The single ``anonfilter:`` line of stderr."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anonfilter: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def archive(tmp_path) -> Path:
    """Three short clips, two in a subfolder, and a damaged file named like a video; also a text file (not an input)."""
    root = tmp_path / "archive"
    (root / "cam2" / "day1").mkdir(parents=True)
    write_clip(root / "a.mp4", FRAMES)
    write_clip(root / "cam2" / "b.mkv", FRAMES, audio=True)
    write_clip(root / "cam2" / "day1" / "c.mov", FRAMES[:10])
    (root / "cam2" / "broken.mp4").write_text("not a video\n" * 20)
    (root / "notes.txt").write_text("not an input\n")
    return root


# Inputs: no Ray needed.


def test_folders_give_their_video_files_recursively_with_their_relative_paths(archive, tmp_path):
    items = discover([str(archive)])
    assert [str(item.relative) for item in items] == ["a.mp4", "cam2/b.mkv", "cam2/broken.mp4", "cam2/day1/c.mov"]
    assert discover([str(archive / "cam2" / "b.mkv")]) == [BatchItem(str(archive / "cam2" / "b.mkv"), PurePosixPath("b.mkv"))]
    assert [str(item.relative) for item in discover([str(archive)], exclude=archive / "cam2")] == ["a.mp4"]  # --out inside
    assert [item.relative for item in discover([f"file://{archive}/cam2/day1"])] == [PurePosixPath("c.mov")]


def test_a_list_keeps_relative_paths_as_written_and_names_absolute_ones(archive, tmp_path):
    listing = archive / "todo.txt"
    listing.write_text(f"# two files\ncam2/b.mkv\n\n{archive / 'cam2' / 'day1' / 'c.mov'}\ncam2/day1\n")
    items = discover([f"@{listing}"])
    assert [(item.source, str(item.relative)) for item in items] == [
        (str(archive / "cam2" / "b.mkv"), "cam2/b.mkv"),
        (str(archive / "cam2" / "day1" / "c.mov"), "c.mov"),
    ]  # cam2/day1 would write c.mov to cam2/day1/c.mov: another output, but the same source is one input
    assert len(discover([str(archive), str(archive / "a.mp4")])) == 4  # a file named twice is one input


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (["{root}/missing.mp4"], "input not found: {root}/missing.mp4"),
        (["@{root}/missing.txt"], "cannot read the input list {root}/missing.txt"),
        (["{root}/notes.txt-folder"], "no video files found in {root}/notes.txt-folder"),
        (["{root}/a.mp4", "{root}/other/a.mp4"], "would both be written to a.mp4"),
        (["nosuchscheme://bucket/x.mp4"], "no fsspec backend for nosuchscheme://bucket/x.mp4"),
    ],
)
def test_inputs_that_cannot_work_are_one_line(inputs, message, archive):
    (archive / "notes.txt-folder").mkdir()
    (archive / "other").mkdir()
    write_clip(archive / "other" / "a.mp4", FRAMES[:2])
    with pytest.raises(AnonfilterError, match=message.format(root=archive)):
        discover([name.format(root=archive) for name in inputs])


def test_a_list_path_may_not_leave_the_output_folder(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("../x.mp4\n")
    with pytest.raises(AnonfilterError, match="may not go up"):
        discover([f"@{listing}"])


# The per-file task, without Ray.


def test_the_task_threads_and_provider_follow_the_resources_unless_given():
    host = PluginHost()
    config = Config(detection=DetectionConfig(options=("threshold=0.3",)))
    assert resourced(config, TaskSettings("out", "h", cpus=3), host).detection.options == ("threshold=0.3", "threads=3")
    gpu = resourced(config, TaskSettings("out", "h", gpus=0.5), host).detection.options
    assert gpu == ("threshold=0.3", "threads=1", "provider=cuda")
    given = Config(detection=DetectionConfig(options=("threads=2",)))
    assert resourced(given, TaskSettings("out", "h", cpus=4), host).detection.options == ("threads=2",)


def test_a_remote_input_is_copied_and_the_marker_is_written_last(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    local = tmp_path / "clip.mp4"
    write_clip(local, FRAMES[:5])
    fsspec.filesystem("memory").pipe("/bucket/cams/clip.mp4", local.read_bytes())
    (item,) = discover(["memory://bucket/cams"])
    assert item.source.startswith("memory://") and item.source.endswith("bucket/cams/clip.mp4")
    assert item.relative == PurePosixPath("clip.mp4")
    digest = options_hash(Config(), check=False)
    result = anonymize_file(item, Config(), TaskSettings(str(tmp_path / "out"), digest))
    assert (result.status, result.frames, result.error) == ("done", 5, None)
    source = fingerprint(item.source)
    assert source["size"] == local.stat().st_size
    assert finished(Path(result.report), digest, source)["result"]["frames"] == 5
    assert finished(Path(result.report), options_hash(Config(method="pixelate"), check=False), source) is None
    assert finished(Path(result.report), digest, {**source, "size": 1}) is None
    assert json.loads(Path(result.report).read_text())["run"]["settings"]["detection"]["options"] == ["threads=1"]


def test_cuda_where_onnxruntime_lacks_it_is_one_line_not_a_cpu_run(tmp_path, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    write_clip(tmp_path / "in.mp4", FRAMES[:3])
    assert main(["-i", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "out.mp4"), "-D", "provider=cuda", "-q"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "provider=cuda needs onnxruntime's CUDAExecutionProvider" in line and "anonfilter[gpu]" in line
    assert files_in(tmp_path) == ["in.mp4"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--segment-seconds", "-1"], "must be a positive number of seconds or auto"),
        (["--resume", "--overwrite"], "--resume and --overwrite contradict"),
        (["--cpus-per-task", "0"], "--cpus-per-task must be at least 1"),
        (["--margin", "99"], "--margin 99"),
    ],
)
def test_batch_usage_errors_are_one_line_exit_2_before_anything_runs(extra, message, archive, tmp_path, capsys):
    assert main(["batch", str(archive / "a.mp4"), "--out", str(tmp_path / "out"), *extra]) == 2
    assert message in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_tasks_no_node_can_run_are_found_before_they_wait_for_ever():
    nodes = [{"Alive": True, "Resources": {"CPU": 16.0}}, {"Alive": False, "Resources": {"CPU": 8.0, "GPU": 1.0}}]
    assert too_small(nodes, 4, 0) is None
    assert too_small(nodes, 1, 0.25) == (
        "a file's task needs 1 CPUs and 0.25 GPUs (--cpus-per-task, --gpus-per-task), but the largest Ray node has 16 CPUs and 0 GPUs"
    )
    assert "needs 32 CPUs" in too_small(nodes, 32, 0)


def test_without_ray_the_batch_is_one_line_saying_how_to_install_it(archive, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if not installed
    assert main(["batch", str(archive), "--out", str(tmp_path / "out")]) == 2
    assert "anonfilter batch needs Ray: pip install 'anonfilter[ray]'" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


# On Ray.


def test_a_batch_does_every_good_file_reports_the_bad_one_and_exits_1(ray_cluster, archive, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["batch", str(archive), "--out", str(out), "-q", "--seed", "1"]) == 1
    err = capsys.readouterr().err
    assert f"failed: not a video file FFmpeg can read: {archive / 'cam2' / 'broken.mp4'}" in err
    for relative, frames in (("a.mp4", 20), ("cam2/b.mkv", 20), ("cam2/day1/c.mov", 10)):
        assert len(frame_times(out / relative)) == frames
        report = json.loads((out / f"{relative}.report.json").read_text())
        assert report["summary"]["frames"] == frames and report["batch"]["result"]["status"] == "done"
        assert (out / f"{relative}.report.html").is_file()
    assert not (out / "cam2" / "broken.mp4").exists() and not (out / "cam2" / "broken.mp4.report.json").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"] | {"seconds": 0, "frames_per_second": 0} == {
        "files": 4,
        "done": 3,
        "skipped": 0,
        "failed": 1,
        "frames": 50,
        "frames_with_faces": 0,
        "faces": 0,
        "frames_obscured": 0,
        "seconds": 0,
        "frames_per_second": 0,
    }
    assert [file["status"] for file in summary["files"]] == ["done", "done", "failed", "done"]
    assert 'href="cam2/b.mkv.report.html"' in (out / "summary.html").read_text()
    assert not [name for name in files_in(out) + files_in(out / "cam2") if "partial" in name]

    # again: the outputs are there, so without --resume or --overwrite nothing runs
    assert main(["batch", str(archive), "--out", str(out), "-q"]) == 2
    assert "3 outputs exist already" in one_line(capsys.readouterr().err)

    # --resume: the done files are skipped, the broken one is tried again; a file whose marker is gone is redone
    marker = out / "cam2" / "b.mkv.report.json"
    data = json.loads(marker.read_text())
    del data["batch"]  # as when the worker died after the run but before the marker
    marker.write_text(json.dumps(data))
    (out / "cam2" / "day1" / "c.mov").unlink()  # its marker is there, but the output is not: redone
    before = (out / "a.mp4").stat().st_mtime_ns
    resumed = run_batch([str(archive)], out, Config(identity=IdentityConfig(seed=1)), resume=True, progress=False)
    assert [(Path(file.source).name, file.status) for file in resumed.files] == [
        ("a.mp4", "skipped"),
        ("b.mkv", "done"),
        ("broken.mp4", "failed"),
        ("c.mov", "done"),
    ]
    assert (out / "a.mp4").stat().st_mtime_ns == before
    assert resumed.totals()["frames"] == 50 and not resumed.ok

    # --resume redoes a file whose input changed since
    write_clip(archive / "a.mp4", FRAMES[:5])
    changed_input = run_batch([str(archive / "a.mp4")], out, Config(identity=IdentityConfig(seed=1)), resume=True, progress=False)
    assert [(file.status, file.frames) for file in changed_input.files] == [("done", 5)]

    # --resume with other options redoes every file
    changed = run_batch([str(archive / "a.mp4")], out, Config(method="pixelate"), resume=True, progress=False)
    assert [file.status for file in changed.files] == ["done"] and (out / "a.mp4").stat().st_mtime_ns != before
    assert changed.ok and json.loads((out / "summary.json").read_text())["totals"]["done"] == 1

    # nothing left to do: no Ray is started or joined
    def no_ray(address):
        raise AssertionError("Ray was connected with nothing to run")

    monkeypatch.setattr("anonfilter.batch.driver.connected", no_ray)
    monkeypatch.setattr("anonfilter.batch.driver._run_tasks", no_ray)
    nothing = run_batch([str(archive / "a.mp4")], out, Config(method="pixelate"), resume=True, progress=False)
    assert [file.status for file in nothing.files] == ["skipped"]


def test_segment_seconds_runs_a_long_file_in_segments_on_ray_as_the_single_run_writes_it(ray_cluster, tmp_path, capsys):
    """--segment-seconds: the segments are Ray tasks; with a lossless encoder the output equals the single run's."""
    clip = looped(shared_path(SEGMENTED_CLIP), tmp_path / "long.mkv", times=2, width=96, keyframe_every=10, step=4)
    options = ["--codec", "ffv1", "--seed", "1"]
    assert main(["-i", str(clip), "-o", str(tmp_path / "single.mkv"), "-q", *options]) == 0
    write_clip(tmp_path / "short.mp4", FRAMES)  # one segment: a task of its own, as without --segment-seconds
    out = tmp_path / "out"
    assert main(["batch", str(clip), str(tmp_path / "short.mp4"), "--out", str(out), "--segment-seconds", "4", "-q", *options]) == 0
    err = capsys.readouterr().err
    assert f"anonfilter: {clip}: 4 segments of about 4 s" in err.splitlines() and "one piece" not in err, err
    assert len(frame_times(out / "short.mp4")) == len(FRAMES)
    output = out / "long.mkv"
    assert_same_frames(output, tmp_path / "single.mkv")
    report = json.loads(report_path(output).read_text())
    assert report["batch"]["result"]["status"] == "done" and report["summary"]["frames"] == len(frame_times(output))
    assert not [name for name in files_in(out) if "partial" in name]


def test_check_audits_each_output_and_counts_faces(ray_cluster, tmp_path):
    clip = lossless_cut(shared_path("videos/liveportrait_d0.mp4"), tmp_path / "face.mkv", 8)
    summary = run_batch([str(clip)], tmp_path / "out", check=True, progress=False)
    (result,) = summary.files
    assert (result.status, result.frames, result.frames_with_faces, result.leaks) == ("done", 8, 8, 0)
    assert result.faces == 1 and summary.ok
    assert summary.totals()["leaks"] == 0 and summary.totals()["files_leaking"] == 0


def test_check_finds_an_output_that_leaks_and_the_batch_exits_1(tmp_path, monkeypatch, capsys):
    # No method of ours can be made to leak, so the engine here (a stand-in at that boundary) runs
    # the real anonymization and then puts the input's pixels back, as a broken writer would.
    clip = lossless_cut(shared_path("videos/liveportrait_d0.mp4"), tmp_path / "face.mkv", 8)

    def leaking(source: str, output: Path, config: Config, report: Path, notify) -> Report:
        ran = anonymize(source, output, config, overwrite=True, audit_report=report, notify=notify)
        shutil.copyfile(source, output)
        return ran

    settings = TaskSettings(str(tmp_path / "out"), options_hash(Config(), check=True), check=True)
    (item,) = discover([str(clip)])
    result = anonymize_file(item, Config(), settings, leaking)
    assert result.status == "done" and result.leaks == 8
    summary = BatchSummary(str(tmp_path / "out"), [result], check=True)
    assert not summary.ok
    assert summary.lines()[1] == f"  leaks: {clip}: 8 faces still recognisable (anonfilter check)"
    monkeypatch.setattr(batch_command, "run_batch", lambda *args, **kwargs: summary)
    assert main(["batch", str(clip), "--out", str(tmp_path / "out"), "--check", "-q"]) == 1


def test_a_failed_file_is_named_once():
    failed = FileResult(
        "in/broken.mp4", "out/broken.mp4", "out/broken.mp4.json", "failed", error="not a video file FFmpeg can read: in/broken.mp4 (x)"
    )
    other = FileResult("in/b.mp4", "out/b.mp4", "out/b.mp4.json", "failed", error="its task failed: worker died")
    lines = BatchSummary("out", [failed, other]).lines()
    assert lines[1:] == [
        "  failed: not a video file FFmpeg can read: in/broken.mp4 (x)",
        "  failed: in/b.mp4: its task failed: worker died",
    ]


def test_a_file_whose_node_dies_mid_task_is_retried_elsewhere_and_leaves_no_partial(ray_cluster, tmp_path):
    import ray

    clip = tmp_path / "in" / "cams" / "long.mp4"
    clip.parent.mkdir(parents=True)
    write_clip(clip, list(range(0, 24000, 40)))  # 600 frames: still running when its node goes, on a quiet machine too
    release = tmp_path / "release"

    def hold(flag: str) -> None:  # keeps the head's CPUs busy, so the file's task starts on the new node
        while not os.path.exists(flag):
            time.sleep(0.05)

    blocker = ray.remote(hold).options(num_cpus=2).remote(str(release))
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 0, "the blocker to start")
    head = ray.get_runtime_context().get_node_id()
    node = ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    out = tmp_path / "out"
    results = []
    batch = threading.Thread(target=lambda: results.append(run_batch([str(tmp_path / "in")], out, progress=False)))
    batch.start()
    wait_for(lambda: (out / "cams").is_dir(), "the task to start on the new node")  # the task makes the output's folder
    time.sleep(0.5)
    ray_cluster.remove_node(node)
    release.touch()
    ray.get(blocker)
    batch.join(timeout=120)
    (result,) = results[0].files
    assert (result.status, result.frames, result.node) == ("done", 600, head)
    assert len(frame_times(out / "cams" / "long.mp4")) == 600
    assert files_in(out / "cams") == ["long.mp4", "long.mp4.report.html", "long.mp4.report.json"]


def wait_for(condition, what: str, timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_ray_map_runs_a_function_over_items_in_order(ray_cluster):
    assert ray_map(abs, [-3, 1, -2]) == [3, 1, 2]
    assert ray_map(functools.partial(pow, 2), [3, 1], num_cpus=0.5) == [8, 2]


def test_batch_help_explains_and_gives_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["batch", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "--resume" in text and "done-marker" in text


def test_sigterm_to_a_batch_exits_143_with_one_line_stops_its_ray_and_leaves_nothing(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'anonfilter[ray]')")
    source = tmp_path / "in" / "cams" / "long.mp4"
    source.parent.mkdir(parents=True)
    write_clip(source, list(range(0, 40 * 400, 40)), size=(320, 240))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "anonfilter.cli", "batch", str(tmp_path / "in"), "--out", str(out)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for(lambda: (out / "cams").is_dir(), "the file's task to start")  # the embedded Ray is up, the task runs
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in one_line(err)
    assert files_in(out / "cams") == []
    wait_for(lambda: not in_group(process.pid), "Ray's processes to end", timeout=20)


def in_group(group: int) -> list[int]:
    """The processes still in process group ``group`` (the batch's embedded Ray: GCS, raylet, agents)."""
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) == group:
                members.append(int(name))
    return members
