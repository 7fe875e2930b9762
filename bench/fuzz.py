"""The fuzz test (tests/test_fuzz.py) at length: more cases, any seed, a summary of how they ended.

Usage::

    .venv/bin/python bench/fuzz.py                       # 2000 cases, seed 1
    .venv/bin/python bench/fuzz.py --cases 10000 --seed 7

Stops at the first case that breaks a rule (an exception other than a one-line error, output
left behind, a frame that did not go through the processor, a hang), naming the case, its seed
and its mutation, so it can be replayed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.data import SHARED_DATA  # noqa: E402
from tests.fuzzing import fuzz, seed_clips  # noqa: E402


def main() -> None:
    """Run the cases and print how they ended."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    hamilton = SHARED_DATA / "videos/face_recognition_short_hamilton_clip.mp4"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        clips = seed_clips(Path(folder) / "seeds", hamilton if hamilton.exists() else None)
        outcomes = fuzz(clips, args.cases, args.seed, Path(folder) / "cases")
    refusals = Counter(outcome.line.split(" /")[0].split(":")[0] for outcome in outcomes if not outcome.written)
    written = sum(outcome.written for outcome in outcomes)
    print(
        f"{args.cases} cases (seed {args.seed}) in {time.perf_counter() - started:.1f} s: {written} written, "
        f"{args.cases - written} refused in one line, no rule broken"
    )
    for line, count in refusals.most_common():
        print(f"  {count:6d}  {line}")


if __name__ == "__main__":
    main()
