"""One file of a batch: the same run as ``anonfilter -i IN -o OUT --report``, then the done-marker.

:func:`anonymize_file` is what a Ray task runs (it is also an ordinary function: the tests call
it directly). It never raises for a problem of its file: the :class:`FileResult` says what went
wrong, so one bad file does not stop a batch. A retry of a task whose worker died starts over:
the old done-marker is removed first, the output is published only when complete (the same
fail-closed output file as the single-file command), and the marker is written last.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from anonfilter.api import Report, anonymize, plugin_host
from anonfilter.audit import AuditSettings, find_leaks
from anonfilter.batch.inputs import BatchItem, fingerprint, local_copy
from anonfilter.batch.records import forget, mark_done, output_path, report_path
from anonfilter.config import Config
from anonfilter.errors import AnonfilterError
from anonfilter.plugins import PluginHost

REPORT_WRITTEN = "report written to "
"""How :func:`anonfilter.api.anonymize`'s note on its audit report starts."""
Engine = Callable[[str, Path, Config, Path, Callable[[str], None]], Report]
"""Writes one output: ``(input path, output path, config, audit report path, notify) -> Report``."""


@dataclass(frozen=True)
class TaskSettings:
    """What every file's task of one batch shares (picklable)."""

    out_dir: str
    options_hash: str
    cpus: int = 1
    """CPUs the task holds: also the detector's onnxruntime threads."""
    gpus: float = 0.0
    """GPUs the task holds; above 0 the detector runs on onnxruntime's CUDA provider."""
    check: bool = False
    """Run the leak audit (``anonfilter check``) on each output."""


@dataclass
class FileResult:
    """What happened to one file of a batch."""

    source: str
    output: str
    report: str
    status: str
    """``done``, ``skipped`` (done by an earlier run with the same options, ``--resume``) or ``failed``."""
    error: Optional[str] = None
    frames: int = 0
    frames_with_faces: int = 0
    faces: Optional[int] = None
    """Face tracks (people, roughly) found; None when the run wrote no audit report."""
    frames_obscured: int = 0
    leaks: Optional[int] = None
    """Faces still recognisable in the output per the leak audit (``--check``); None when it did not run."""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    node: Optional[str] = None
    """The Ray node that ran it (None outside Ray)."""


def anonymize_file(item: BatchItem, config: Config, settings: TaskSettings, engine: Optional[Engine] = None) -> FileResult:
    """Anonymize ``item`` into the output folder with its report (and the leak audit); never raises for the file's problems.

    ``engine`` writes the output (default: :func:`anonfilter.api.anonymize`, as ``anonfilter -i -o``).
    """
    output = output_path(Path(settings.out_dir), item.relative)
    report = report_path(output)
    result = FileResult(item.source, str(output), str(report), "failed", node=_node())
    start = time.monotonic()
    try:
        host = plugin_host(result.notes.append)
        output.parent.mkdir(parents=True, exist_ok=True)
        forget(report)  # from here on the file is not done, whatever an earlier run left
        source = fingerprint(item.source)  # before reading it: a file replaced during the run is redone by --resume
        with local_copy(item.source) as local:
            run = engine or functools.partial(_anonymize, host=host)
            ran = run(local, output, resourced(config, settings, host), report, functools.partial(_note, result.notes))
            result.frames, result.frames_with_faces, result.frames_obscured = ran.frames, ran.frames_with_faces, len(ran.obscured_frames)
            if settings.check:
                result.leaks = find_leaks(local, output, AuditSettings(detector_options=(f"threads={settings.cpus}",))).leaked
        result.faces = _tracks(report)
        result.status = "done"
    except (AnonfilterError, OSError, MemoryError) as error:
        result.error = _one_line(error)
    except Exception as error:  # a bug: still this file's failure, not the batch's
        result.error = f"internal error ({type(error).__name__}: {_one_line(error)})"
    result.seconds = round(time.monotonic() - start, 3)
    if result.status == "done":
        mark_done(report, {"options_hash": settings.options_hash, "input": source, "result": dataclasses.asdict(result)})
    return result


def resourced(config: Config, settings: TaskSettings, host: PluginHost) -> Config:
    """``config`` with the detector options the task's resources imply, where the detector has them and the user did not set them.

    ``threads``: the task's CPUs; ``provider=cuda`` when the task holds a GPU.
    """
    spec = host.detector_spec(config.detection.detector)
    declared = {option.name for option in spec.options}
    given = {option.partition("=")[0] for option in config.detection.options}
    implied = {"threads": str(settings.cpus), **({"provider": "cuda"} if settings.gpus > 0 else {})}
    extra = tuple(f"{name}={value}" for name, value in implied.items() if name in declared and name not in given)
    return dataclasses.replace(config, detection=dataclasses.replace(config.detection, options=config.detection.options + extra))


def _anonymize(input: str, output: Path, config: Config, report: Path, notify: Callable[[str], None], host: PluginHost) -> Report:
    """The default engine: :func:`anonfilter.api.anonymize` with the audit report, replacing an unfinished output."""
    return anonymize(input, output, config, overwrite=True, audit_report=report, host=host, notify=notify)


def _note(notes: list[str], note: str) -> None:
    """Keep a note of the run for the driver to show; where the report went is known (one line per file would drown the rest)."""
    if not note.startswith(REPORT_WRITTEN):
        notes.append(note)


def _tracks(report: Path) -> Optional[int]:
    """The number of face tracks in the audit report (None when there is none)."""
    try:
        tracks: Any = json.loads(report.read_text())["summary"]["tracks"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return int(tracks)


def _node() -> Optional[str]:
    """The id of the Ray node running this, when Ray runs it."""
    ray = sys.modules.get("ray")
    return str(ray.get_runtime_context().get_node_id()) if ray is not None and ray.is_initialized() else None


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.strerror:
        text = f"{error.strerror}{': ' + str(error.filename) if error.filename else ''}"
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
