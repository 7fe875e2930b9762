"""Live coverage by face size: the small-face clips played in real time through ``anonfilter live``.

Each clip of bench/small_faces.py (real faces of 12-64 px pasted at known places, appearing and
leaving at random) is played as a camera, in real time, by ``anonfilter live --camera CLIP
--record OUT``; the recording holds exactly the frames the engine showed, each at its source
frame's number. Every shown face-frame is checked against the clip's true boxes by fine-detail
correlation (no detector), as for files. Frames the engine skipped were never shown (the output
kept showing the previous anonymized frame), so they are counted as skipped, not checked.

    .venv/bin/python bench/live_coverage.py                         # 720p and 1080p, no delay and --delay 1.5
    .venv/bin/python bench/live_coverage.py --size 1920x1080 --delay 0 -- -D resolution=960
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_faces import GUARANTEED_SIZE, LEAK_CORRELATION, Clip, Coverage, clip_in, detail_correlation, parse_size  # noqa: E402

ANONFILTER = Path(sys.executable).with_name("anonfilter")
FACES = 30
"""Faces pasted per clip (as bench/small_faces.py's default)."""


def play_live(clip: Clip, record: Path, delay: float, options: list[str]) -> str:
    """Play ``clip`` once through ``anonfilter live`` in real time, recording what it shows; returns its summary line."""
    loops_frames = clip.frames + round(delay * 25) + 10  # long enough for one whole loop to come out
    command = [
        str(ANONFILTER),
        "live",
        "--bridge",
        str(record.with_suffix(".bridge")),
        "--create",
        f"{clip.width}x{clip.height}",
        "--camera",
        str(clip.path),
        "--record",
        str(record),
        "-y",
        "--delay",
        f"{delay:g}",
        "--frames",
        str(loops_frames),
        *options,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"anonfilter live failed: {result.stderr.strip()}")
    return next((line for line in result.stderr.splitlines() if "per-frame latency" in line), result.stderr.strip())


def live_coverage(clip: Clip, record: Path) -> tuple[Coverage, int, int]:
    """Coverage of the shown face-frames, and how many source frames of one loop were shown and skipped."""
    with av.open(str(clip.path)) as container:
        originals = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    result, shown = Coverage(), set()
    with av.open(str(record)) as container:
        first = int(container.metadata.get("SOURCE_FIRST_FRAME", container.metadata.get("source_first_frame", "0")))
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            index = first + round(float(frame.pts * stream.time_base) * 25)
            if index >= clip.frames:  # one loop only: later loops repeat the same faces
                break
            shown.add(index)
            after = frame.to_ndarray(format="gray")
            for number, (x0, y0, x1, y1) in clip.truth(index):
                x0, y0, x1, y1 = max(0, x0), max(0, y0), min(clip.width, x1), min(clip.height, y1)
                value = detail_correlation(originals[index][y0:y1, x0:x1], after[y0:y1, x0:x1])
                if value is not None:
                    result.add(x1 - x0, value >= LEAK_CORRELATION, index, number)
    return result, len(shown), clip.frames - len(shown)


def main() -> int:
    """Make (or reuse) the clips, play each live with each delay, print coverage by face size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", action="append", type=parse_size, help="frame size (repeatable; default 720p and 1080p)")
    parser.add_argument("--delay", action="append", type=float, help="engine delay in seconds (repeatable; default 0 and 1.5)")
    parser.add_argument("--frames", type=int, default=150, help="frames per clip (default: 150, 6 s at 25 fps)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="folder for clips and recordings (default: a temporary folder)")
    parser.add_argument("options", nargs="*", help="more `anonfilter live` options after --")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="anonfilter-live-coverage-"))
    out.mkdir(parents=True, exist_ok=True)
    for width, height in args.size or [(1280, 720), (1920, 1080)]:
        clip = clip_in(out, width, height, args.frames, FACES, args.seed, pan=0.0)
        path = clip.path
        for delay in args.delay or [0.0, 1.5]:
            record = out / f"{path.stem}.live_d{delay:g}.mkv"
            summary = play_live(clip, record, delay, args.options)
            result, shown, skipped = live_coverage(clip, record)
            print(
                f"{width}x{height}, delay {delay:g} s, options {' '.join(args.options) or '(defaults)'}: "
                f"{shown} of {clip.frames} frames shown ({skipped} skipped)"
            )
            print(f"  {result.table()}")
            for low in (24, 32):
                print(f"  coverage of faces >= {low} px: {result.fraction(low):.4f}")
            print(f"  {re.sub(r'^anonfilter live: ', '', summary)}")
    print(f"(leak: fine-detail correlation >= {LEAK_CORRELATION}; guaranteed size for files: {GUARANTEED_SIZE} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
