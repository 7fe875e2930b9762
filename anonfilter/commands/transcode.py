"""Anonymize every face in a video file, keeping its other streams, timing and metadata."""

from __future__ import annotations

import argparse
from pathlib import Path

from anonfilter.api import anonymize
from anonfilter.commands.pipeline_options import add_encoder_arguments, add_outcome_arguments, add_pipeline_arguments, file_config_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input/output, method, detector, tracker, encoder and report options."""
    io = parser.add_argument_group("input and output")
    io.add_argument(
        "-i",
        "--input",
        required=True,
        metavar="IN",
        help="video file to anonymize (never modified); a URL (https://, rtmp://, srt://, udp://, ...); - reads standard input",
    )
    io.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="where to write the result; its extension picks the container (.mkv holds any stream, .mp4, .mov, ...); "
        "- writes standard output (Matroska unless -f says otherwise)",
    )
    io.add_argument(
        "-f",
        "--format",
        metavar="FORMAT",
        help="output container format, as FFmpeg names it (matroska, mpegts, mp4, ...); default: from OUT's extension",
    )
    io.add_argument("-y", "--overwrite", action="store_true", help="replace OUT if it exists")
    add_outcome_arguments(io)
    io.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    io.add_argument(
        "--report",
        type=Path,
        metavar="PATH",
        help="write an audit report of the run: PATH as JSON and an HTML page beside it (tracks, settings, versions, timings)",
    )

    add_pipeline_arguments(parser, live=False)
    add_encoder_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Check the options, then anonymize IN into OUT (and write the audit report)."""
    config = file_config_from_args(args)  # out-of-range values fail here, before anything is opened or written
    anonymize(
        args.input,
        args.output,
        config,
        progress=not args.quiet,
        overwrite=args.overwrite,
        container_format=args.format,
        audit_report=args.report,
    )
    return 0
