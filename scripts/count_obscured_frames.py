r"""Count the frames the host's check (anonfilter.verify) obscures for a built-in method on real clips.

A built-in method should have none: this is how the check's thresholds were tried for false
alarms (docs/plugins.md, "What the host checks after each frame"). Runs the pipeline, detecting
on every frame at 960 px, over the first SECONDS of each clip, and prints the frames, the frames
with faces and the frames obscured, with their reasons.

    V=../shared/data/videos
    python scripts/count_obscured_frames.py pixelate $V/face_recognition_short_hamilton_clip.mp4 \
        $V/dlib_MOT20-08-raw_shorter.remux.mp4 $V/mmaction2_demo_armwrestling.mp4 $V/dlib_MOT17-13-SDP-raw.remux.mp4 \
        $V/liveportrait_d3.mp4 $V/mmaction2_test_makeup_occlusion.avi
"""

from __future__ import annotations

import sys

import av

from anonfilter import Config, StreamInfo, open_pipeline
from anonfilter.config import DetectionConfig
from anonfilter.types import FrameInfo

SECONDS = 4.0


def count(method: str, clip: str) -> str:
    """One line: the method's obscured frames over the first :data:`SECONDS` of ``clip``."""
    config = Config(method=method, detection=DetectionConfig(options=("resolution=960",), every=1, mode="whole"))
    anonymizer = None
    with av.open(clip) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for index, frame in enumerate(container.decode(stream)):
            if index >= fps * SECONDS:
                break
            image = frame.to_ndarray(format="rgb24")
            if anonymizer is None:
                anonymizer = open_pipeline(config, StreamInfo(image.shape[1], image.shape[0], fps))
                anonymizer.report = lambda message: None
            anonymizer.push(image, FrameInfo(index, index / fps, image.shape[1], image.shape[0]))
    if anonymizer is None:
        return f"{method} {clip}: no frames"
    anonymizer.flush()
    return (
        f"{method} {clip}: {anonymizer.frames_done} frames, {anonymizer.frames_with_faces} with faces, "
        f"{len(anonymizer.obscured_frames)} obscured {sorted(anonymizer.failures)}"
    )


if __name__ == "__main__":
    for path in sys.argv[2:]:
        print(count(sys.argv[1], path), flush=True)
