"""What a batch did: :class:`BatchSummary`, written as ``summary.json`` and ``summary.html`` in the output folder."""

from __future__ import annotations

import dataclasses
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anonfilter.batch.task import FileResult

SUMMARY_NAME = "summary"
"""``summary.json`` and ``summary.html`` in the output folder."""


@dataclass
class BatchSummary:
    """Every file's :class:`FileResult` and the batch's totals."""

    out_dir: str
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    check: bool = False
    """Whether the leak audit ran on each output (``--check``)."""

    def count(self, status: str) -> int:
        """Files with this status (``done``, ``skipped``, ``failed``)."""
        return sum(result.status == status for result in self.files)

    @property
    def failed(self) -> list[FileResult]:
        """The files that failed."""
        return [result for result in self.files if result.status == "failed"]

    @property
    def leaking(self) -> list[FileResult]:
        """The finished files in which the leak audit found a face still recognisable."""
        return [result for result in self.files if result.leaks]

    @property
    def ok(self) -> bool:
        """No file failed and, with ``--check``, none leaks."""
        return not self.failed and not self.leaking

    def totals(self) -> dict[str, Any]:
        """Counts over the finished files (this run's and the ones skipped as done)."""
        finished = [result for result in self.files if result.status != "failed"]
        frames_run = sum(result.frames for result in self.files if result.status == "done")
        return {
            "files": len(self.files),
            "done": self.count("done"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "frames": sum(result.frames for result in finished),
            "frames_with_faces": sum(result.frames_with_faces for result in finished),
            "faces": sum(result.faces or 0 for result in finished),
            "frames_obscured": sum(result.frames_obscured for result in finished),
            **({"leaks": sum(result.leaks or 0 for result in finished), "files_leaking": len(self.leaking)} if self.check else {}),
            "seconds": round(self.seconds, 3),
            "frames_per_second": round(frames_run / self.seconds, 2) if self.seconds > 0 else 0.0,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the totals and every file's result."""
        return {"out_dir": self.out_dir, "check": self.check, "totals": self.totals(), "files": [dataclasses.asdict(r) for r in self.files]}

    def lines(self) -> list[str]:
        """The end of a batch in words: one line of totals, then a line per failed or leaking file."""
        totals = self.totals()
        leaks = f", {totals['leaks']} leaked faces in {totals['files_leaking']} files" if self.check else ""
        lines = [
            f"{totals['files']} files: {totals['done']} done, {totals['skipped']} skipped (done before), {totals['failed']} failed; "
            f"{totals['frames']} frames, {totals['faces']} faces, {totals['frames_obscured']} frames obscured whole{leaks}"
        ]
        lines += [f"  failed: {_naming(result.source, result.error or 'unknown error')}" for result in self.failed]
        lines += [f"  leaks: {result.source}: {result.leaks} faces still recognisable (anonfilter check)" for result in self.leaking]
        return lines

    def forget(self) -> None:
        """Remove the summary an earlier batch wrote into the output folder (this batch's comes at its end)."""
        for suffix in (".json", ".html"):
            (Path(self.out_dir) / f"{SUMMARY_NAME}{suffix}").unlink(missing_ok=True)

    def write(self) -> Path:
        """Write ``summary.json`` and ``summary.html`` into the output folder; returns the JSON file's path."""
        data = self.to_dict()
        path = Path(self.out_dir) / f"{SUMMARY_NAME}.json"
        path.write_text(json.dumps(data, indent=2))
        path.with_suffix(".html").write_text(render_html(data))
        return path


def _naming(source: str, error: str) -> str:
    """``error``, with the file it is about in front unless it names the file already."""
    return error if source in error else f"{source}: {error}"


COLUMNS = ("source", "status", "frames", "faces", "frames_obscured", "leaks", "seconds", "error")


def render_html(data: dict[str, Any]) -> str:
    """A self-contained page: the totals, and a table of the files linking each per-file report."""
    out_dir = Path(data["out_dir"])
    totals = "".join(f"<tr><th>{html.escape(key)}</th><td>{value}</td></tr>" for key, value in data["totals"].items())
    rows = []
    for result in data["files"]:
        cells = []
        for column in COLUMNS:
            value = result[column]
            text = html.escape("" if value is None else str(value))
            if column == "source" and result["status"] != "failed":
                link = Path(result["report"]).with_suffix(".html")
                text = f'<a href="{html.escape(link.relative_to(out_dir).as_posix())}">{text}</a>' if link.is_relative_to(out_dir) else text
            cells.append(f'<td class="{html.escape(result["status"])}">{text}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(f"<th>{column}</th>" for column in COLUMNS)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>anonfilter batch</title>
<style>body{{font-family:sans-serif;margin:2em}} th{{text-align:left;padding-right:1em}} td{{font-family:monospace;padding-right:1em}}
td.failed{{color:#cc0000}} td.skipped{{color:#777}}</style>
</head><body>
<h1>anonfilter batch</h1>
<h2>Totals</h2><table>{totals}</table>
<h2>Files</h2><table><tr>{head}</tr>{"".join(rows)}</table>
</body></html>
"""
