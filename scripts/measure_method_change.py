r"""Measure how much of a face's opaque mask each installed method changes, on real faces at many sizes.

The figures behind ``anonfilter.verify.MIN_CHANGED_FRACTION`` (docs/plugins.md, "What the host
checks"): for each face found (by CenterFace at full precision) in the given photos and video
frames, the picture is scaled so that the face is SIZE pixels, the method runs on it, and the
share of the face's structured sample points that changed at all is recorded. Prints the minimum
and median per method and size, how many faces were flat (skipped by the check), and the fewest
structured points a face had at each size.

The figures in docs/plugins.md come from (run from the repository root)::

    V=../shared/data/videos
    python scripts/measure_method_change.py ../shared/data/images_gt/dlib_faces/*.jpg $V/facenet_pytorch_video.mp4 \
        $V/face_recognition_short_hamilton_clip.mp4 $V/liveportrait_d0.mp4 $V/sadtalker_WDA_KatieHill_000.mp4 \
        $V/mmaction2_demo_armwrestling.mp4
"""

from __future__ import annotations

import sys
from collections import defaultdict

import av
import cv2
import numpy as np

from anonfilter.detection.centerface import CenterFace
from anonfilter.plugins import PluginHost
from anonfilter.testing import make_face
from anonfilter.types import FrameInfo
from anonfilter.verify import changed_fraction, face_samples

SIZES = (8, 12, 16, 24, 32, 64, 128, 256, 512)
METHODS = ("blur", "pixelate", "solid", "synthetic", "latentshift", "decoupled")
MIN_SOURCE_SIZE = 64
"""Faces smaller than this in the source are not used (scaling them up would show no real detail)."""


def pictures(paths: list[str]):
    """RGB pictures: each photo, and three frames of each video."""
    for path in paths:
        if path.endswith((".jpg", ".png")):
            yield cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
            continue
        with av.open(path) as container:
            frames = container.streams.video[0].frames or 300
            wanted = {frames // 4, frames // 2, 3 * frames // 4}
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    yield frame.to_ndarray(format="rgb24")


def main(paths: list[str]) -> None:
    host = PluginHost()
    methods = {name: host.create_method(name) for name in METHODS}
    detector = CenterFace(precision="fp32", resolution=0)
    fractions: dict[tuple[str, int], list[float]] = defaultdict(list)
    flat: dict[int, int] = defaultdict(int)
    structured: dict[int, list[int]] = defaultdict(list)
    for picture in pictures(paths):
        found = detector.detect(picture)
        for box, score, marks in zip(found.boxes, found.scores, found.landmarks):
            size = max(box[2] - box[0], box[3] - box[1])
            if score < 0.5 or size < MIN_SOURCE_SIZE:
                continue
            for target in SIZES:
                scale = target / size
                scaled = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
                face = make_face(tuple(float(v) for v in box * scale), scaled.shape, landmarks=marks * scale)
                samples = face_samples(scaled, face)
                if samples is None:
                    continue
                structured[target].append(len(samples.ys))
                if samples.flat:
                    flat[target] += 1
                    continue
                for name, method in methods.items():
                    out = scaled.copy()
                    method.anonymize(out, [face], FrameInfo(0, 0.0, out.shape[1], out.shape[0]))
                    fractions[(name, target)].append(changed_fraction(samples.values, out[samples.ys, samples.xs]))
    print("method        " + "".join(f"{size:>12}" for size in SIZES))
    for name in METHODS:
        cells = [fractions[(name, size)] for size in SIZES]
        print(f"{name:<14}" + "".join(f"{min(c):>6.2f} {np.median(c):>4.2f}" if c else f"{'-':>12}" for c in cells))
    print("faces         " + "".join(f"{len(fractions[('blur', size)]):>12}" for size in SIZES))
    print("flat faces    " + "".join(f"{flat[size]:>12}" for size in SIZES))
    print("min points    " + "".join(f"{min(structured[size]):>12}" for size in SIZES))


if __name__ == "__main__":
    main(sys.argv[1:])
