"""Compare face upsamplers inside a learned method: detail added, identity brought back, cost.

For each clip, the largest CenterFace face of every ``--every``-th of the first ``--frames``
frames is replaced by ``--method`` once with each upsampler (ONNX files given on the command
line, swapped in for ``anonfilter/faces/upsampler.onnx``; one identity key per clip). Measured:

* **sharpness**: the variance of the Laplacian of the grey levels inside the canonical face
  mask, on the upsampled 128-px synthetic face and on the output frame aligned to the 128-px
  canonical crop, against the original frame aligned the same way;
* **dlib distance** from the original face to its replacement (dlib's recogniser on the same
  box): the added detail must not bring the person back; de-identified at >= 0.6;
* **diversity**: pairs of clips whose mean replacement embeddings are >= 0.6 apart;
* **CPU ms per face** (``time.process_time`` around ``anonymize``, median of ``--repeats``, the
  upsamplers alternating) on the first frame of the first clip scaled so its face is 128 px.

The clips show real people: nothing is written but the table. Usage::

    .venv/bin/python bench/closeups.py --out /tmp/closeups
    .venv/bin/python bench/upsampler_detail.py old.onnx anonfilter/faces/upsampler.onnx --clips /tmp/closeups/*.mp4
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import onnxruntime

import anonfilter.faces.replace as replace
import anonfilter.faces.upsample as upsample_module
from anonfilter.detection.centerface import CenterFace
from anonfilter.faces.align import alignment_matrix, warp_to_crop
from anonfilter.faces.upsample import sharpness
from anonfilter.identity.embedder import FaceEmbedder
from anonfilter.plugins import PluginHost
from anonfilter.types import Face, Frame, FrameInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import faces_for_methods  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
DEFAULT_CLIPS = [
    VIDEOS / name
    for name in (
        "sadtalker_WDA_KatieHill_000.mp4",
        "liveportrait_s18.mp4",
        "liveportrait_s32.mp4",
        "liveportrait_s29.mp4",
        "liveportrait_d6.mp4",
        "liveportrait_d0.mp4",
    )
]
THRESHOLD = 0.6
SIDE = 128


def aligned(image: Frame, face: Face) -> np.ndarray:
    """``face`` in ``image`` warped to the 128-px canonical crop."""
    landmarks = None if face.landmarks is None else np.asarray(face.landmarks, np.float32)
    return warp_to_crop(image, alignment_matrix(face.box, landmarks, SIDE), SIDE)


def use_upsampler(session: onnxruntime.InferenceSession) -> None:
    """Make the learned methods upsample with ``session``."""
    upsample_module._session = lambda: session  # type: ignore[assignment]


def sampled_frames(clip: Path, frames: int, every: int) -> list[Frame]:
    """Every ``every``-th of the first ``frames`` frames of ``clip`` (RGB)."""
    images = []
    with av.open(str(clip)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number >= frames:
                break
            if number % every == 0:
                images.append(frame.to_ndarray(format="rgb24"))
    return images


def main() -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1]
    )
    parser.add_argument("upsamplers", nargs="+", type=Path, help="upsampler ONNX files to compare")
    parser.add_argument("--clips", nargs="+", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--method", default="synthetic")
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per upsampler for the cost")
    args = parser.parse_args()
    sessions = {
        path.name if path.name != "upsampler.onnx" else str(path): onnxruntime.InferenceSession(str(path)) for path in args.upsamplers
    }
    method = PluginHost().create_method(args.method, [])
    detector = CenterFace(precision="fp32")
    embedder = FaceEmbedder()
    captured: list[np.ndarray] = []
    plain_upsample = replace.upsample

    def capturing(faces: np.ndarray, size: int = SIDE) -> np.ndarray:
        result = plain_upsample(faces, size)
        captured.append(result)
        return result

    replace.upsample = capturing  # type: ignore[assignment]
    rows: dict[str, dict[str, list[float]]] = {name: {"distance": [], "crop": [], "frame": []} for name in sessions}
    means: dict[str, list[np.ndarray]] = {name: [] for name in sessions}
    original_sharpness = []
    for key, clip in enumerate(args.clips, 1):
        clip_embeddings: dict[str, list[np.ndarray]] = {name: [] for name in sessions}
        for image in sampled_frames(clip, args.frames, args.every):
            faces = [dataclasses.replace(face, identity_key=key) for face in faces_for_methods(detector.detect(image), image)]
            if not faces:
                continue
            shown = max(faces, key=lambda face: face.size)
            before = embedder.embed(image, shown.box)
            original_sharpness.append(sharpness(aligned(image, shown)))
            for name, session in sessions.items():
                use_upsampler(session)
                out = image.copy()
                captured.clear()
                method.anonymize(out, faces, FrameInfo(0, 0.0, image.shape[1], image.shape[0]))
                after = embedder.embed(out, shown.box)
                if before is not None and after is not None:
                    rows[name]["distance"].append(float(np.linalg.norm(before - after)))
                    clip_embeddings[name].append(after)
                rows[name]["crop"].append(sharpness(captured[-1][-1]))
                rows[name]["frame"].append(sharpness(aligned(out, shown)))
        for name, embeddings in clip_embeddings.items():
            if embeddings:
                means[name].append(np.mean(embeddings, 0))
    costs = cost_per_face(args.clips[0], method, detector, sessions, args.repeats)
    print(
        f"{len(original_sharpness)} faces from {len(args.clips)} clips; original sharpness in the frame {np.mean(original_sharpness):.1f}"
    )
    print(
        "| upsampler | dlib distance mean (min) | de-identified | diversity | sharpness: 128-px crop / in the frame | CPU ms per 128-px face |"
    )
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        distance = np.array(row["distance"])
        pairs = list(itertools.combinations(means[name], 2))
        diverse = sum(np.linalg.norm(a - b) >= THRESHOLD for a, b in pairs)
        print(
            f"| {name} | {distance.mean():.3f} ({distance.min():.3f}) | {int((distance >= THRESHOLD).sum())}/{len(distance)} | "
            f"{diverse}/{len(pairs)} | {np.mean(row['crop']):.1f} / {np.mean(row['frame']):.1f} | {costs[name]:.1f} |"
        )
    return 0


def cost_per_face(
    clip: Path, method, detector: CenterFace, sessions: dict[str, onnxruntime.InferenceSession], repeats: int
) -> dict[str, float]:
    """Median CPU ms of ``method.anonymize`` on the first frame of ``clip`` scaled to a 128-px face, per upsampler (alternating)."""
    image = sampled_frames(clip, 1, 1)[0]
    boxes = detector.detect(image).boxes
    factor = SIDE / float(np.max(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
    image = np.ascontiguousarray(cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA))
    faces = faces_for_methods(detector.detect(image), image)
    info = FrameInfo(0, 0.0, image.shape[1], image.shape[0])
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(repeats):
        for name, session in sessions.items():
            use_upsampler(session)
            out = image.copy()
            started = time.process_time()
            method.anonymize(out, faces, info)
            times[name].append((time.process_time() - started) * 1000 / len(faces))
    return {name: float(np.median(values)) for name, values in times.items()}


if __name__ == "__main__":
    sys.exit(main())
