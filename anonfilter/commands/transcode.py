"""Anonymize every face in a video file, keeping its other streams, timing and metadata."""

from __future__ import annotations

import argparse
from pathlib import Path

from anonfilter.api import anonymize
from anonfilter.commands.pipeline_options import add_pipeline_arguments, config_from_args
from ffmpeg_bridge import EncoderSettings


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
    io.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the input was damaged (frames that cannot be decoded, a file that ends early: nothing is "
        "written) or a frame had to be obscured whole (the output is still written, every frame of it anonymized or "
        "obscured); without it both are reported and the run succeeds",
    )
    io.add_argument(
        "--expect-faces",
        action="store_true",
        help="exit 1 and write nothing when no face is found in the whole video (a sign of a wrong detector or -D option)",
    )
    io.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    io.add_argument(
        "--report",
        type=Path,
        metavar="PATH",
        help="write an audit report of the run: PATH as JSON and an HTML page beside it (tracks, settings, versions, timings)",
    )

    add_pipeline_arguments(parser, live=False)

    encoder = parser.add_argument_group("video encoder (every other stream is copied as it is)")
    encoder.add_argument("--codec", default=EncoderSettings.codec, help=f"video encoder (default: {EncoderSettings.codec})")
    encoder.add_argument(
        "--crf",
        type=int,
        default=EncoderSettings.crf,
        help=f"x264/x265 quality, lower is better and larger (default: {EncoderSettings.crf}, visually transparent)",
    )
    encoder.add_argument(
        "--preset",
        default=EncoderSettings.preset,
        help=f"x264/x265 speed preset, ultrafast ... veryslow (default: {EncoderSettings.preset})",
    )


def run(args: argparse.Namespace) -> int:
    """Check the options, then anonymize IN into OUT (and write the audit report)."""
    config = config_from_args(
        args,  # out-of-range values fail here, before anything is opened or written
        encoder=EncoderSettings(codec=args.codec, crf=args.crf, preset=args.preset),
        strict=args.strict,
        expect_faces=args.expect_faces,
    )
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
