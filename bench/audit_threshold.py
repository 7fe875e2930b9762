"""Where should ``anonfilter check`` draw the line? Similarity of unchanged vs anonymized faces.

For every face the audit's reference detector finds in a clip (every ``--every``-th frame), it
compares the input crop with the same crop after

* a plain libx264 re-encode (CRF 23, what an unchanged face looks like after any transcode);
* the ``blur`` method at several strengths (0.125 is the default) and ``pixelate``, applied
  to exactly the reference detector's faces, so the figures measure the method, not a miss;

and prints, per variant, the distribution of :func:`anonfilter.audit.face_similarity` and the
share of faces at or above a few thresholds (for a re-encode that share should be near 100%,
for the methods near 0%). Usage::

    python bench/audit_threshold.py ../shared/data/videos/face_recognition_short_hamilton_clip.mp4 --every 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import imageio_ffmpeg
import numpy as np

from anonfilter.audit import MIN_FACE, AuditSettings, face_similarity, reference_detector
from anonfilter.pipeline import Anonymizer
from anonfilter.plugins import PluginHost
from anonfilter.tracking.perframe import PerFrameTracker
from anonfilter.types import Detections, Frame, FrameInfo

METHODS = {
    "blur 0.125 (default)": ("blur", []),
    "blur 0.06": ("blur", ["strength=0.06"]),
    "blur 0.03": ("blur", ["strength=0.03"]),
    "pixelate (default)": ("pixelate", []),
}
THRESHOLDS = (0.8, 0.85, 0.9)


class FixedFaces:
    """A detector that returns the faces it is given (the reference detector's)."""

    def __init__(self) -> None:
        self.faces = Detections.empty()

    def detect(self, frame: Frame) -> Detections:
        """The faces set for this frame."""
        return self.faces


def measure(clip: Path, every: int) -> dict[str, list[float]]:
    """Similarity of each reference face after a re-encode and after each method."""
    reencoded = Path(tempfile.mkdtemp(prefix="anonfilter-threshold-")) / "reencoded.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(clip),
            "-map",
            "0:v:0",
            "-c:v",
            "libx264",
            "-crf",
            "23",
            "-preset",
            "veryfast",
            str(reencoded),
        ],
        check=True,
    )
    detector = reference_detector(AuditSettings())
    host = PluginHost()
    faces = FixedFaces()
    anonymizers = {
        name: Anonymizer(faces, PerFrameTracker(), host.create_method(method, options), method)
        for name, (method, options) in METHODS.items()
    }
    scores: dict[str, list[float]] = {"re-encode only": [], **{name: [] for name in METHODS}}
    with av.open(str(clip)) as source, av.open(str(reencoded)) as copy:
        for index, (original, recoded) in enumerate(zip(source.decode(video=0), copy.decode(video=0))):
            if index % every:
                continue
            before = original.to_ndarray(format="rgb24")
            faces.faces = detector.detect(before)
            outputs = {"re-encode only": recoded.to_ndarray(format="rgb24")}
            for name, anonymizer in anonymizers.items():
                outputs[name] = before.copy()
                anonymizer.push(outputs[name], FrameInfo(index, 0.0, before.shape[1], before.shape[0]))
            gray = cv2.cvtColor(before, cv2.COLOR_RGB2GRAY)
            for box in faces.faces.boxes.round().astype(int):
                x0, y0 = max(0, box[0]), max(0, box[1])
                x1, y1 = min(before.shape[1], box[2]), min(before.shape[0], box[3])
                if min(x1 - x0, y1 - y0) < MIN_FACE:
                    continue
                for name, output in outputs.items():
                    after = cv2.cvtColor(output, cv2.COLOR_RGB2GRAY)
                    scores[name].append(face_similarity(gray[y0:y1, x0:x1], after[y0:y1, x0:x1]))
    return scores


def main() -> int:
    """Print one table per clip."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+", type=Path, help="video clips with faces")
    parser.add_argument("--every", type=int, default=3, help="use every N-th frame (default: 3)")
    args = parser.parse_args()
    for clip in args.clips:
        scores = measure(clip, args.every)
        print(f"\n{clip.name}: {len(scores['re-encode only'])} faces")
        print(f"  {'variant':<22}{'min':>7}{'p1':>7}{'p50':>7}{'p99':>7}{'max':>7}" + "".join(f"{f'>={t}':>9}" for t in THRESHOLDS))
        for name, values in scores.items():
            array = np.array(values)
            stats = [array.min(), *np.percentile(array, [1, 50, 99]), array.max()]
            shares = [f"{np.mean(array >= t):9.1%}" for t in THRESHOLDS]
            print(f"  {name:<22}" + "".join(f"{value:7.3f}" for value in stats) + "".join(shares))
    return 0


if __name__ == "__main__":
    sys.exit(main())
