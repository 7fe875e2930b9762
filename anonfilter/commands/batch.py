"""Anonymize a whole archive on Ray, one task per file: on this machine, or on a Ray cluster.

Each file runs exactly as `anonfilter -i IN -o OUT --report` would, into --out with its path
below the folder it was found in, and gets NAME.EXT.report.json (and .html) beside its output,
written last: the done-marker --resume trusts. A file that fails does not stop the others; the
batch then exits 1 and lists it. summary.json and summary.html in --out add every file up.
docs/scaling.md has the details (clusters, KubeRay, GPUs).

examples:
  anonfilter batch archive/ --out anon/                  every video below archive/, on this machine's CPUs
  anonfilter batch a.mp4 b.mkv --out anon/ -m pixelate   two files, any per-file option
  anonfilter batch @todo.txt --out anon/ --resume        paths listed in todo.txt; skip the files already done
  anonfilter batch s3://bucket/cams/ --out anon/ --check audit each output for faces still recognisable
  RAY_ADDRESS=auto anonfilter batch /nfs/videos --out /nfs/anon --cpus-per-task 4   on the Ray cluster this node is in
  anonfilter batch videos/ --out anon/ --gpus-per-task 0.25   CenterFace on CUDA, four files per GPU
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Union

from anonfilter.batch import run_batch
from anonfilter.commands.pipeline_options import add_encoder_arguments, add_outcome_arguments, add_pipeline_arguments, file_config_from_args
from anonfilter.errors import AnonfilterError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Inputs, output folder, Ray and resume options, then every per-file option of ``anonfilter -i IN -o OUT``."""
    parser.epilog = __doc__.split("\n\n", 1)[1]
    batch = parser.add_argument_group("inputs, outputs and the batch")
    batch.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="a video file; a folder (its video files, recursively, by extension); @LIST, a text file with one path or URL "
        "a line; a URL fsspec can list (s3://, gs://, file://; its backend installed, e.g. s3fs)",
    )
    batch.add_argument(
        "--out", required=True, type=Path, metavar="DIR", help="output folder: each output keeps its input's path below the folder given"
    )
    batch.add_argument(
        "--resume",
        action="store_true",
        help="skip files whose report says they were done with the same options; redo the others (unfinished, failed, other options)",
    )
    batch.add_argument("-y", "--overwrite", action="store_true", help="redo every file, replacing outputs of earlier runs")
    batch.add_argument(
        "--check",
        action="store_true",
        help="audit each output for faces still recognisable (as `anonfilter check`); leaks make the exit code 1",
    )
    batch.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    add_outcome_arguments(batch)

    ray = parser.add_argument_group("Ray (pip install 'anonfilter[ray]')")
    ray.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join this Ray cluster (auto: the one this machine is in; ray://HEAD:10001); default: RAY_ADDRESS, else a "
        "Ray on this machine alone, started for the batch",
    )
    ray.add_argument(
        "--cpus-per-task", type=int, default=1, metavar="N", help="CPUs each file's task holds; also the detector's threads (default: 1)"
    )
    ray.add_argument(
        "--gpus-per-task",
        type=float,
        default=0.0,
        metavar="F",
        help="GPUs each file's task holds (0.25: four files share one); the detector then runs on onnxruntime's CUDA "
        "provider (needs anonfilter[gpu]) (default: 0)",
    )
    ray.add_argument(
        "--segment-seconds",
        type=segment_seconds,
        metavar="S|auto",
        help="split each file longer than S seconds into segments of about S seconds anonymized in parallel, one file after "
        "another (auto: from its length and the CPUs); shorter files run as tasks of their own",
    )

    add_pipeline_arguments(parser, live=False)
    add_encoder_arguments(parser)


def segment_seconds(text: str) -> Union[float, str]:
    """``auto`` or a positive number of seconds."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds or auto, not '{text}'")
    return value


def run(args: argparse.Namespace) -> int:
    """Check the options, run the batch, print its summary; exit 1 when a file failed (or leaks, with --check)."""
    config = file_config_from_args(args)
    if args.resume and args.overwrite:
        raise AnonfilterError("--resume and --overwrite contradict each other: resume keeps what is done, overwrite redoes it")
    summary = run_batch(
        args.inputs,
        args.out,
        config,
        ray_address=args.ray_address,
        cpus_per_task=args.cpus_per_task,
        gpus_per_task=args.gpus_per_task,
        resume=args.resume,
        overwrite=args.overwrite,
        check=args.check,
        progress=not args.quiet,
        segment_seconds=args.segment_seconds,
    )
    print(f"summary: {Path(summary.out_dir) / 'summary.json'} and summary.html")
    return 0 if summary.ok else 1
