"""Make the demo clip: scikit-image's ``astronaut`` photo, panned and zoomed, with a tone as its audio.

Test data cannot ship with the project, so ``make demo`` makes its input here. The photo (Eileen
Collins, NASA, public domain) comes inside the scikit-image package. Usage::

    .venv/bin/python scripts/make_sample.py demo/sample.mp4 [--seconds 4] [--fps 25] [--size 640x480]
"""

from __future__ import annotations

import argparse
from fractions import Fraction

import av
import cv2
import numpy as np
from skimage import data

SAMPLE_RATE = 48000
TONE_HZ = 440.0


def frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """``count`` RGB frames of a slow camera move: from the whole photo in to the face and across."""
    photo = data.astronaut()  # 512x512 RGB, the face near (215, 125)
    frames = []
    for index in range(count):
        t = index / max(1, count - 1)
        zoom = 1.0 + 1.2 * t  # 1x (whole height) to 2.2x
        centre_x = 256 + (215 - 256) * t + 30 * np.sin(2 * np.pi * t)
        centre_y = 256 + (140 - 256) * t
        scale = zoom * height / photo.shape[0]
        matrix = np.array([[scale, 0, width / 2 - scale * centre_x], [0, scale, height / 2 - scale * centre_y]])
        frames.append(cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return frames


def tone(seconds: float) -> np.ndarray:
    """A quiet stereo sine tone, float32 planar ``(2, samples)``."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    mono = (0.2 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    return np.stack([mono, mono])


def write_sample(path: str, seconds: float = 4.0, fps: int = 25, width: int = 640, height: int = 480) -> None:
    """Write the clip: H.264 video and AAC audio."""
    with av.open(path, "w") as output:
        video = output.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "fast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = output.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        for index, image in enumerate(frames(width, height, round(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        samples = tone(seconds)
        chunk = 1024
        for start in range(0, samples.shape[1], chunk):
            piece = np.ascontiguousarray(samples[:, start : start + chunk])
            frame = av.AudioFrame.from_ndarray(piece, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
            output.mux(audio.encode(frame))
        output.mux(audio.encode(None))


def main() -> None:
    """Parse the command line and write the clip."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="where to write the clip, e.g. demo/sample.mp4")
    parser.add_argument("--seconds", type=float, default=4.0, help="length (default: 4)")
    parser.add_argument("--fps", type=int, default=25, help="frame rate (default: 25)")
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT (default: 640x480)")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.lower().split("x"))
    write_sample(args.output, args.seconds, args.fps, width, height)
    print(f"wrote {args.output}: {args.seconds:g} s, {args.fps} fps, {width}x{height}, H.264 + AAC tone")


if __name__ == "__main__":
    main()
