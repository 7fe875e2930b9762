"""The per-file report of a batch, written last: the done-marker that ``--resume`` trusts.

Beside each output ``NAME.EXT`` the batch writes ``NAME.EXT.report.json`` (and the HTML page
``NAME.EXT.report.html``): the audit report of ``anonfilter -i IN -o OUT --report``, with a
``batch`` section added once everything else of the file is finished. That section holds a hash
of the options (:func:`options_hash`), the input's size and modification time (its
:func:`~anonfilter.batch.inputs.fingerprint`) and the file's result; a report without it, or with
another hash or input, means the file is not done with these options from this input.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from anonfilter.config import Config
from ffmpeg_bridge.outputfile import new_partial, remove_partial

REPORT_SUFFIX = ".report.json"
"""Appended to the output's name for its per-file report."""


def options_hash(config: Config, check: bool) -> str:
    """A hash of everything that shapes a file's result: the Config and whether the leak audit ran."""
    text = json.dumps({"config": config.to_dict(), "check": check}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def output_path(out_dir: Path, relative: PurePosixPath) -> Path:
    """Where the output of an input with this relative path goes."""
    return out_dir.joinpath(*relative.parts)


def report_path(output: Path) -> Path:
    """The per-file report (done-marker) of ``output``."""
    return output.with_name(output.name + REPORT_SUFFIX)


def finished(report: Path, digest: str, input: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The ``batch`` section of ``report`` when it marks the file done with the options of ``digest`` from the
    ``input`` of this :func:`~anonfilter.batch.inputs.fingerprint`, else None."""
    try:
        section = json.loads(report.read_text()).get("batch")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(section, dict) or section.get("options_hash") != digest or section.get("input") != input:
        return None
    return section


def forget(report: Path) -> None:
    """Remove a file's report and its HTML page (before its output is rewritten)."""
    for path in (report, report.with_suffix(".html")):
        path.unlink(missing_ok=True)


def mark_done(report: Path, section: dict[str, Any]) -> None:
    """Add ``section`` as ``batch`` to the report (made if the run wrote none) and publish it at once (temporary file, rename)."""
    try:
        data = json.loads(report.read_text())
    except FileNotFoundError:
        data = {}
    data["batch"] = section
    temporary = new_partial(report)
    try:
        temporary.write_text(json.dumps(data, indent=2))
        os.replace(temporary, report)
    except BaseException:
        remove_partial(temporary)
        raise
