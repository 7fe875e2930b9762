"""One long file: a single run against the same file in segments on 1 and 2 (or more) local worker processes.

The long file is a shared clip looped (by default the talking-head clip sadtalker_WDA_KatieHill_000,
8 s, looped 6 times: 48 s at 320 px), made once into a temporary folder unless a file is given.
Each round runs the single run (:func:`anonfilter.api.anonymize`) and the segmented run
(:func:`anonfilter.segments.anonymize_segmented` with
:func:`~anonfilter.segments.process_pool_map`) at each worker count, taking turns; the table gives
the median wall seconds and the speed-up against the single run's median, and below it each
round's ratios (a shared machine's speed drifts between runs: compare ratios within one run).
Every output is checked to have the input's frame count.

    .venv/bin/python bench/segments.py                                 # 3 rounds, 1 and 2 workers
    .venv/bin/python bench/segments.py --workers 1 2 4 8 --rounds 5    # a larger machine
    .venv/bin/python bench/segments.py --input long.mp4 --segment-seconds auto -m pixelate
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anonfilter.api import anonymize  # noqa: E402
from anonfilter.commands.pipeline_options import add_pipeline_arguments, config_from_args  # noqa: E402
from anonfilter.config import Config  # noqa: E402
from anonfilter.segments import anonymize_segmented, process_pool_map  # noqa: E402
from tests.clips import looped  # noqa: E402

SHARED_VIDEOS = Path(os.environ.get("ANONFILTER_SHARED_DATA", ROOT.parent / "shared" / "data")) / "videos"
SOURCE = "sadtalker_WDA_KatieHill_000.mp4"


def frame_count(path: Path) -> int:
    """Frames of ``path``'s video, decoded."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def timed(run: Callable[[Path], object], output: Path) -> float:
    """Wall seconds of ``run(output)`` (the output removed first)."""
    output.unlink(missing_ok=True)
    started = time.perf_counter()
    run(output)
    return time.perf_counter() - started


def main() -> int:
    """Time the runs and print the table; 0 when every output has the input's frame count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, help="the long file (default: a shared clip looped, see --loops)")
    parser.add_argument("--loops", type=int, default=6, help="times the shared clip is looped (default: 6, 48 s)")
    parser.add_argument("--width", type=int, default=320, help="width of the looped clip (default: 320)")
    parser.add_argument("--segment-seconds", default="12", help="seconds per segment, or auto (default: 12)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default: 1 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, taking turns (default: 3)")
    add_pipeline_arguments(parser, live=False)
    args = parser.parse_args()
    config: Config = config_from_args(args)
    length = args.segment_seconds if args.segment_seconds == "auto" else float(args.segment_seconds)
    with tempfile.TemporaryDirectory(prefix="anonfilter-bench-segments-") as folder:
        work = Path(folder)
        clip = args.input or looped(SHARED_VIDEOS / SOURCE, work / "long.mp4", args.loops, args.width, keyframe_every=25)
        frames = frame_count(clip)
        runs: dict[str, Callable[[Path], object]] = {"single": lambda out: anonymize(clip, out, config)}
        for workers in args.workers:
            pool = functools.partial(process_pool_map, workers=workers)
            runs[f"segments, {workers} worker{'s' if workers > 1 else ''}"] = functools.partial(
                lambda out, pool, workers: anonymize_segmented(config, clip, out, length, pool, workers=workers), pool=pool, workers=workers
            )
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        complete = True
        for _ in range(args.rounds):
            for name, run in runs.items():
                output = work / f"out{clip.suffix}"
                seconds[name].append(timed(run, output))
                complete = complete and frame_count(output) == frames
        single = statistics.median(seconds["single"])
        print(f"{clip.name}: {frames} frames; {os.cpu_count()} CPUs; segments of {args.segment_seconds} s; {args.rounds} rounds")
        print(f"{'run':<22} {'median s':>9} {'frames/s':>9} {'speed-up':>9}")
        for name, values in seconds.items():
            median = statistics.median(values)
            print(f"{name:<22} {median:9.1f} {frames / median:9.1f} {single / median:8.2f}x")
        for name, values in seconds.items():
            if name != "single":
                ratios = ", ".join(f"{plain / ours:.2f}x" for plain, ours in zip(seconds["single"], values))
                print(f"  single / {name} in each round: {ratios}")
        print("every output has the input's frame count" if complete else "AN OUTPUT LOST FRAMES")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
