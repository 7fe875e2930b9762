"""The audit report of a run (``--report PATH``): JSON, plus an HTML page with a timeline.

It holds what a user needs to trust a result before publishing it: every track's span, the
frames the tracker filled, its lowest detection score, whether it was kept or anonymized; the
frames with low-confidence faces; the settings, model versions and seed. It never holds pixels.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from anonfilter.tracking.base import TrackedFace
from anonfilter.types import FaceStatus, FrameInfo

STATUS_COLOURS = {FaceStatus.DETECTED: "#3465a4", FaceStatus.FILLED: "#f57900", FaceStatus.COASTING: "#edd400"}
KEPT_COLOUR = "#4e9a06"


@dataclass
class TrackSummary:
    """One track's life in the video; ``segments`` are ``[first_frame, last_frame, status]`` runs."""

    track_id: int
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    min_score: float
    kept: bool
    frames: dict[str, int] = field(default_factory=dict)
    segments: list[list[Any]] = field(default_factory=list)

    def add(self, info: FrameInfo, face: TrackedFace) -> None:
        """Count one more frame of this track."""
        self.last_frame, self.last_time = info.index, info.time
        self.kept = self.kept or face.keep
        self.frames[face.status] = self.frames.get(face.status, 0) + 1
        if face.status == FaceStatus.DETECTED:
            self.min_score = min(self.min_score, face.score)
        last = self.segments[-1] if self.segments else None
        if last is not None and last[2] == face.status and last[1] == info.index - 1:
            last[1] = info.index
        else:
            self.segments.append([info.index, info.index, face.status])


class RunReport:
    """Collects tracked faces frame by frame (as the pipeline's recorder) and writes the report."""

    def __init__(self, low_confidence: float = 0.5) -> None:
        self.low_confidence = low_confidence
        self.tracks: dict[int, TrackSummary] = {}
        self.low_confidence_frames: list[dict[str, Any]] = []
        self.frames = 0
        self.frames_with_faces = 0
        self.outcome: dict[str, Any] = {}
        """Set by the command after the run: ``frames_obscured``, ``no_face_found`` (summary) and ``failures``."""

    def record(self, info: FrameInfo, tracked: Sequence[TrackedFace]) -> None:
        """Add one finished frame."""
        self.frames += 1
        self.frames_with_faces += bool(tracked)
        for face in tracked:
            summary = self.tracks.get(face.track_id)
            if summary is None:
                summary = TrackSummary(face.track_id, info.index, info.index, info.time, info.time, 1.0, face.keep)
                self.tracks[face.track_id] = summary
            summary.add(info, face)
            if face.status == FaceStatus.DETECTED and face.score < self.low_confidence:
                self.low_confidence_frames.append(
                    {"frame": info.index, "time": round(info.time, 3), "track_id": face.track_id, "score": round(face.score, 3)}
                )

    def to_dict(self, run: dict[str, Any]) -> dict[str, Any]:
        """The report as JSON-ready data; ``run`` holds settings, versions, seed, timings."""
        tracks = [asdict(track) for track in sorted(self.tracks.values(), key=lambda t: (t.first_frame, t.track_id))]
        return {
            "run": run,
            "summary": {
                "frames": self.frames,
                "frames_with_faces": self.frames_with_faces,
                "tracks": len(tracks),
                "kept_tracks": sum(track["kept"] for track in tracks),
                "filled_face_frames": sum(track["frames"].get(FaceStatus.FILLED, 0) for track in tracks),
                "low_confidence_detections": len(self.low_confidence_frames),
                **{key: value for key, value in self.outcome.items() if key != "failures"},
            },
            "failures": self.outcome.get("failures", []),
            "tracks": tracks,
            "low_confidence": self.low_confidence_frames,
        }

    def write(self, path: Path, run: dict[str, Any]) -> Path:
        """Write ``path`` (JSON) and an HTML page beside it; returns the HTML page's path."""
        data = self.to_dict(run)
        path.write_text(json.dumps(data, indent=2))
        page = path.with_suffix(".html")
        page.write_text(render_html(data))
        return page


def render_html(data: dict[str, Any]) -> str:
    """A self-contained page: summary, settings and an SVG timeline of the tracks."""
    frames = max(1, data["summary"]["frames"])
    width, row, left = 900, 14, 70
    tracks = data["tracks"]
    height = row * (len(tracks) + 2)
    scale = width / frames
    shapes = []
    for row_index, track in enumerate(tracks):
        y = row * (row_index + 1)
        shapes.append(f'<text x="{left - 6}" y="{y + 10}" text-anchor="end" font-size="10">track {track["track_id"]}</text>')
        for first, last, status in track["segments"]:
            colour = KEPT_COLOUR if track["kept"] else STATUS_COLOURS.get(status, "#888")
            shapes.append(
                f'<rect x="{left + first * scale:.1f}" y="{y}" width="{max(1.0, (last - first + 1) * scale):.1f}" '
                f'height="{row - 3}" fill="{colour}"><title>{status} frames {first}-{last}</title></rect>'
            )
    for low in data["low_confidence"]:
        shapes.append(
            f'<line x1="{left + low["frame"] * scale:.1f}" x2="{left + low["frame"] * scale:.1f}" y1="0" y2="{row - 4}" stroke="#cc0000"/>'
        )
    legend = " ".join(
        f'<span style="color:{colour}">&#9632; {name}</span>'
        for name, colour in {**STATUS_COLOURS, "kept (left visible)": KEPT_COLOUR}.items()
    )
    rows = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(json.dumps(value))}</td></tr>" for key, value in data["run"].items()
    )
    summary = "".join(f"<tr><th>{html.escape(key)}</th><td>{value}</td></tr>" for key, value in data["summary"].items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>anonfilter report</title>
<style>body{{font-family:sans-serif;margin:2em}} th{{text-align:left;padding-right:1em}} td{{font-family:monospace}}</style>
</head><body>
<h1>anonfilter report</h1>
<h2>Summary</h2><table>{summary}</table>
<h2>Timeline</h2><p>{legend} <span style="color:#cc0000">| low-confidence detection</span></p>
<svg width="{left + width + 10}" height="{height}" xmlns="http://www.w3.org/2000/svg">{"".join(shapes)}</svg>
<h2>Run</h2><table>{rows}</table>
</body></html>
"""
