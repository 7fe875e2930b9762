"""The audit report: per-track spans, filled frames, low-confidence frames; JSON and HTML."""

import json

from anonfilter.report import RunReport
from anonfilter.tracking.base import TrackedFace
from anonfilter.types import FrameInfo


def face(track, status, score=0.9, keep=False):
    return TrackedFace(track, track * 7, (10.0, 10.0, 50.0, 50.0), score, status, keep=keep)


def test_report_summarises_tracks_and_writes_json_and_html(tmp_path):
    report = RunReport(low_confidence=0.5)
    statuses = ["detected", "detected", "filled", "filled", "detected"]
    for index, status in enumerate(statuses):
        tracked = [face(1, status, score=0.3 if index == 4 else 0.9)]
        if index >= 3:
            tracked.append(face(2, "detected", keep=True))
        report.record(FrameInfo(index, index / 25, 100, 100), tracked)
    report.record(FrameInfo(5, 0.2, 100, 100), [])

    page = report.write(tmp_path / "run.json", {"method": "blur", "seed": 3})
    data = json.loads((tmp_path / "run.json").read_text())
    track1, track2 = data["tracks"]
    assert track1["segments"] == [[0, 1, "detected"], [2, 3, "filled"], [4, 4, "detected"]]
    assert track1["frames"] == {"detected": 3, "filled": 2} and track1["min_score"] == 0.3
    assert track2["kept"] and not track1["kept"]
    assert data["summary"] == {
        "frames": 6,
        "frames_with_faces": 5,
        "tracks": 2,
        "kept_tracks": 1,
        "filled_face_frames": 2,
        "low_confidence_detections": 1,
    }
    assert data["low_confidence"] == [{"frame": 4, "time": 0.16, "track_id": 1, "score": 0.3}]
    text = page.read_text()
    assert "<svg" in text and "track 1" in text and "seed" in text
