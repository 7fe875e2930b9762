"""Measure a method's faceness, de-identification, stability and diversity on clips or photo folders.

The real pipeline (detector, tracker, method) anonymizes each input; sampled faces are compared
before and after with dlib's face recognizer (same person below a distance of 0.6):

  faceness           a detector still finds a face where the face was
  faceness (dlib)    dlib's HOG frontal-face detector finds it (a stricter judge of a
                     realistic face), over the samples where it finds the original
  de-identification  the anonymized face is >= 0.6 from the original
  stability          later samples of one identity key stay < 0.6 from its first
                     (photos: the photo shifted and scaled a little); "originals" is the same
                     measure on the real faces, the ceiling that head turns allow
  diversity          the replacements of two identity keys are >= 0.6 apart

Only faces that the reference detector (--face-threshold) also finds in the original frame are
scored, as in the seeds where every original is a face; the others (bodies, blurred heads that
the pipeline's more sensitive detector replaces as well) are counted as "unconfirmed".
--all-detections scores them too.

dlib costs about 95 ms per face: frames are sampled (--every) and capped (--max-faces).

examples:
  anonfilter evaluate clip.mp4 -m synthetic              one clip
  anonfilter evaluate a.mp4 b.mp4 photos/ -m decoupled   per input and pooled
  anonfilter evaluate clip.mp4 -m blur --every 5 --json result.json
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import reduce
from pathlib import Path
from typing import Optional

from anonfilter.assembly import build_anonymizer
from anonfilter.commands.pipeline_options import add_pipeline_arguments, config_from_args
from anonfilter.errors import AnonfilterError
from anonfilter.evaluation import Evaluation, Evaluator, Score
from anonfilter.plugins import PluginHost

TARGETS = {"faceness": 0.95, "deidentification": 0.95, "stability": 0.95}
"""Issue 4's acceptance targets (on held-out clips)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Inputs, sampling, output, and the pipeline's own options."""
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="video clip, or folder of photos (searched recursively)")
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--every", type=int, default=10, metavar="N", help="sample every N-th frame of a clip (default: 10)")
    sampling.add_argument("--frames", type=int, default=0, metavar="N", help="read at most N frames of each clip (default: 0, all)")
    sampling.add_argument("--max-faces", type=int, default=40, metavar="N", help="at most N sampled faces per input (default: 40)")
    sampling.add_argument("--min-size", type=float, default=40.0, metavar="PX", help="only faces at least this large (default: 40)")
    sampling.add_argument(
        "--face-threshold",
        type=float,
        default=0.5,
        help="reference detector score that counts as a face, in the original and for faceness (default: 0.5)",
    )
    sampling.add_argument(
        "--all-detections",
        action="store_true",
        help="also score faces the reference detector does not find in the original frame (default: leave them out)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH ('-': stdout, instead of the table)")
    # Only faces the detector saw in a sampled frame are scored (their place is exact), so the
    # detector runs on every frame here unless asked otherwise.
    add_pipeline_arguments(parser, live=False, detect_every=1)
    parser.epilog = __doc__.split("\n\n", 1)[1]


def _cell(score: Score, target: Optional[float] = None) -> str:
    if score.value is None:
        return "n/a"
    mark = "" if target is None else (" ok" if score.value >= target else " LOW")
    return f"{score.value:.3f} ({score.passed}/{score.total}){mark}"


def table(method: str, results: list[Evaluation]) -> str:
    """The results as a text table, one row per input and a pooled row when there are several."""
    rows = results + ([reduce(lambda a, b: a + b, results)] if len(results) > 1 else [])
    header = (
        "input",
        "faces",
        "unconfirmed",
        "keys",
        "faceness",
        "faceness (dlib)",
        "de-identification",
        "stability",
        "(originals)",
        "diversity",
        "ms/face",
    )
    lines = [tuple(header)]
    for result in rows:
        cost = "n/a" if result.ms_per_face is None else f"{result.ms_per_face:.2f}"
        lines.append(
            (
                result.name,
                str(result.faces),
                str(result.unconfirmed),
                str(result.keys),
                _cell(result.faceness, TARGETS["faceness"]),
                _cell(result.faceness_dlib),
                _cell(result.deidentification, TARGETS["deidentification"]),
                _cell(result.stability, TARGETS["stability"]),
                _cell(result.original_stability),
                _cell(result.diversity),
                cost,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [f"method: {method} (targets: " + ", ".join(f"{k} >= {v}" for k, v in TARGETS.items()) + ")"]
    text += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    detector = [r.detector_ms_per_frame for r in results if r.detector_ms_per_frame is not None]
    if detector:
        text.append(f"detector: {sum(detector) / len(detector):.1f} ms/frame (ms/face is the method's time per face, masks included)")
    return "\n".join(text)


def run(args: argparse.Namespace) -> int:
    """Evaluate the method on every input; print the table (and JSON)."""
    config = config_from_args(args)
    for path in args.inputs:
        if not path.exists():
            raise AnonfilterError(f"input not found: {path}")
    host = PluginHost()
    for problem in host.problems:
        print(f"anonfilter: {problem}", file=sys.stderr)
    host.method_spec(args.method)  # an unknown method fails before the recognizer loads
    evaluator = Evaluator(
        lambda fps: build_anonymizer(config, host, fps),
        every=args.every,
        frames=args.frames,
        min_size=args.min_size,
        max_faces=args.max_faces,
        face_threshold=args.face_threshold,
        seed=args.seed,
        confirmed_only=not args.all_detections,
    )
    results = []
    for path in args.inputs:
        if sys.stderr.isatty():
            print(f"evaluating {args.method} on {path} ...", file=sys.stderr)
        results.append(evaluator.evaluate(path))
    document = {"method": args.method, "targets": TARGETS, "inputs": [result.to_dict() for result in results]}
    if len(results) > 1:
        document["pooled"] = reduce(lambda a, b: a + b, results).to_dict()
    if args.json == "-":
        print(json.dumps(document, indent=2))
    else:
        print(table(args.method, results))
        if args.json:
            Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0
