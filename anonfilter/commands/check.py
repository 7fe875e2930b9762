"""Check an anonymized video against its input: list frames where a face is still structurally the same.

A reference detector (CenterFace on the full-size frame, low threshold) finds the faces in IN;
each one is compared with the same region of OUT. Exit code 0 when no face leaks, 1 when some do,
2 when the files cannot be compared.

examples:
  anonfilter check in.mp4 out.mp4                 summary and the leaking frames
  anonfilter check in.mp4 out.mp4 --json -        the same as JSON on stdout
  anonfilter check in.mp4 out.mp4 --json leaks.json   the summary, and every leak in leaks.json
  anonfilter check in.mp4 out.mp4 -D tiles=2 --embedding   small faces too; dlib distance of each leak
  anonfilter check in.mp4 out.mp4 --report run.json        also what the run's detection schedule guaranteed
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from anonfilter.audit import REFERENCE_DETECTOR, REFERENCE_THRESHOLD, SSIM_THRESHOLD, AuditResult, AuditSettings, find_leaks
from anonfilter.detection.guarantee import SearchGuarantee
from anonfilter.errors import AnonfilterError
from ffmpeg_bridge.source import STDIO

SHOWN_LEAKS = 50
"""Leaks listed in the text output (``--json PATH`` lists all)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input, output and how strict the check is."""
    parser.add_argument("input", metavar="IN", help="the original video")
    parser.add_argument("output", metavar="OUT", help="the anonymized video to check")
    parser.add_argument(
        "--ssim",
        type=float,
        default=SSIM_THRESHOLD,
        help=f"similarity from which a face counts as unchanged (default: {SSIM_THRESHOLD}; see docs/benchmark.md)",
    )
    parser.add_argument(
        "-D",
        "--detector-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"option for the reference detector, {REFERENCE_DETECTOR} at full precision and full size (repeatable; "
        f"default threshold={REFERENCE_THRESHOLD}; tiles=N with N >= 2 also searches N x N tiles, for small faces, slower; "
        f"see `anonfilter plugins`)",
    )
    parser.add_argument("--every", type=int, default=1, help="check every N-th frame only (default: every frame)")
    parser.add_argument(
        "--embedding", action="store_true", help="add a dlib face-recognition distance to each leak (below 0.6: same person)"
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="RUN.json",
        help="the --report of the run that wrote OUT: also say what its detection schedule guaranteed "
        "(smallest face searched for, longest a new face went unsearched)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH ('-': stdout, instead of the summary)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.epilog = __doc__.split("\n\n", 2)[2]


def summary(result: AuditResult) -> str:
    """The human-readable result: one summary line, then the leaks."""
    lines = [
        f"checked {result.checked} faces in {result.frames_checked} of {result.frames} frames; "
        f"{result.leaked} still structurally the same ({100 * result.leaked_fraction:.2f}%) "
        f"in {len(result.leaking_frames)} frames"
        + (f" ({result.featureless} featureless detections not checked)" if result.featureless else "")
    ]
    for leak in result.leaks[:SHOWN_LEAKS]:
        distance = "" if leak.distance is None else f", dlib distance {leak.distance:.2f}"
        lines.append(f"  frame {leak.frame} ({leak.time:.2f} s): box {leak.box}, similarity {leak.ssim:.2f}{distance}")
    if result.leaked > SHOWN_LEAKS:
        lines.append(f"  ... and {result.leaked - SHOWN_LEAKS} more (--json PATH lists all)")
    return "\n".join(lines)


def run_guarantee(report: Path, input: str, output: str) -> Optional[SearchGuarantee]:
    """What the run that wrote ``report`` guaranteed (None for a report of a version that did not record it).

    The report must be of a run from a file named as ``input`` to one named as ``output`` (the
    folders may differ: files move; standard input or output is not compared): another run's
    report is an :class:`AnonfilterError`, not a guarantee quietly claimed for these files.
    """
    try:
        run = json.loads(report.read_text())["run"]
        search, ran_from, ran_to = run.get("search"), run["input"]["path"], run["output"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AnonfilterError(f"cannot read the run report {report}: {error}") from None
    for given, recorded in ((input, ran_from), (output, ran_to)):
        if STDIO not in (given, recorded) and Path(given).name != Path(str(recorded)).name:
            raise AnonfilterError(f"the run report {report} is of a run from {ran_from} to {ran_to}, not of {input} to {output}")
    return None if search is None else SearchGuarantee.from_dict(search)


def run(args: argparse.Namespace) -> int:
    """Audit OUT against IN; exit 0 when nothing leaks, 1 when something does."""
    guarantee = run_guarantee(args.report, str(args.input), str(args.output)) if args.report is not None else None
    settings = AuditSettings(
        ssim_threshold=args.ssim,
        every=max(1, args.every),
        embedding=args.embedding,
        detector_options=tuple(args.detector_option),
    )
    bar = tqdm(unit="frame", desc="checking", disable=args.quiet or not sys.stderr.isatty(), leave=False)
    with bar:
        result = find_leaks(args.input, args.output, settings, progress=bar.update)
    document = json.dumps({**result.to_dict(), **({"search": guarantee.to_dict()} if guarantee else {})}, indent=2)
    if args.json == "-":
        print(document)
    else:
        print(summary(result))
        if args.report is not None:
            print(f"the run: {guarantee.describe()}" if guarantee else "the run: its report does not say what its search guaranteed")
        if args.json:
            Path(args.json).write_text(document + "\n")
    return 1 if result.leaked else 0
