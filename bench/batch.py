"""Time ``anonfilter batch`` on Ray against anonymizing the same files one by one in one process.

It cuts N short H.264 files from a shared clip, then times, taking turns within each round:

* ``serial``: :func:`anonfilter.anonymize` on each file in turn, in this process (the default
  settings: the detector's 2 onnxruntime threads; FFmpeg's decoder and encoder threads);
* ``ray-C``: :func:`anonfilter.batch.run_batch` on a local Ray started with C CPUs, one task per
  file holding one CPU (so C files at a time, the detector with one thread each). Ray's start-up
  is timed apart and not in the batch's time (it is paid once per batch, not per file).

It prints each one's median wall time over the rounds, frames per second, and the speed-up
against ``serial``, with each round's ratios below (all from this one run). Usage::

    .venv/bin/python bench/batch.py                          # 4 files of 2 s from the hamilton clip, 1 and 2 CPUs
    .venv/bin/python bench/batch.py --files 8 --cpus 1 2 4 8 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av

from anonfilter.api import anonymize
from anonfilter.batch import run_batch

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = Path(os.environ.get("ANONFILTER_SHARED_DATA", ROOT.parent / "shared" / "data")) / "videos"
DEFAULT_CLIP = SHARED_VIDEOS / "face_recognition_short_hamilton_clip.mp4"


def cut_files(source: Path, folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` H.264 files of ``seconds`` each, taken one after another from ``source`` (video only)."""
    files = []
    with av.open(str(source)) as input_:
        video_in = input_.streams.video[0]
        per_file = round(seconds * float(video_in.average_rate))
        frames = input_.decode(video_in)
        for index in range(count):
            path = folder / f"part{index}.mp4"
            with av.open(str(path), "w") as output:
                video = output.add_stream("libx264", rate=video_in.average_rate, options={"crf": "18", "preset": "veryfast"})
                video.width, video.height, video.pix_fmt = video_in.width, video_in.height, "yuv420p"
                for _, frame in zip(range(per_file), frames):
                    frame.pts = None
                    output.mux(video.encode(frame.reformat(format="yuv420p")))
                output.mux(video.encode(None))
            files.append(path)
    return files


def serial(files: list[Path], out: Path) -> tuple[float, int]:
    """Anonymize the files one by one in this process; (seconds, frames)."""
    start = time.perf_counter()
    frames = sum(anonymize(path, out / path.name, overwrite=True).frames for path in files)
    return time.perf_counter() - start, frames


def on_ray(files: list[Path], out: Path, cpus: int) -> tuple[float, int, float]:
    """The batch on a local Ray with ``cpus`` CPUs, one CPU a task; (seconds, frames, Ray's start-up seconds)."""
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    started = time.perf_counter() - start
    try:
        start = time.perf_counter()
        summary = run_batch([str(path) for path in files], out, overwrite=True, progress=False, notify=lambda line: None)
        seconds = time.perf_counter() - start
    finally:
        ray.shutdown()
    if not summary.ok:
        raise SystemExit(f"the batch failed: {summary.lines()}")
    return seconds, summary.totals()["frames"], started


def main() -> int:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP, help="clip the files are cut from (default: hamilton)")
    parser.add_argument("--files", type=int, default=4, help="number of files (default: 4)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each file (default: 2)")
    parser.add_argument("--cpus", type=int, nargs="+", default=[1, 2], help="CPUs of the local Ray, one run each (default: 1 2)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, the modes taking turns in each; medians reported (default: 1)")
    args = parser.parse_args()
    if not args.clip.is_file():
        print(f"clip not found: {args.clip} (the shared data: set ANONFILTER_SHARED_DATA)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="anonfilter-bench-batch-") as folder:
        work = Path(folder)
        (work / "in").mkdir()
        files = cut_files(args.clip, work / "in", args.files, args.seconds)
        modes = ["serial"] + [f"ray-{cpus}" for cpus in args.cpus]
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        startups: dict[str, list[float]] = {mode: [] for mode in modes}
        frames = 0
        for round_ in range(args.rounds):
            for mode in modes:
                out = work / mode
                out.mkdir(exist_ok=True)
                if mode == "serial":
                    seconds, frames = serial(files, out)
                else:
                    seconds, frames, started = on_ray(files, out, int(mode.split("-")[1]))
                    startups[mode].append(started)
                times[mode].append(seconds)
            ratios = ", ".join(f"{mode} {times['serial'][-1] / times[mode][-1]:.2f}x" for mode in modes[1:])
            print(f"round {round_ + 1}: speed-up against serial: {ratios}", flush=True)
    print(f"\n{args.files} files of {args.seconds:g} s from {args.clip.name}, {frames} frames; {os.cpu_count()} CPUs in the machine")
    print(f"{'mode':<10}{'seconds':>10}{'frames/s':>10}{'speed-up':>10}{'Ray start-up s':>16}")
    base = statistics.median(times["serial"])
    for mode in modes:
        seconds = statistics.median(times[mode])
        startup = f"{statistics.median(startups[mode]):.1f}" if startups[mode] else "-"
        print(f"{mode:<10}{seconds:>10.2f}{frames / seconds:>10.1f}{base / seconds:>9.2f}x{startup:>16}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
