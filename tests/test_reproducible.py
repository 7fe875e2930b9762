"""The same input, method and seed give the same output, bit for bit (a refactoring must not change it).

Two short shared clips are cut losslessly (FFV1) to their first frames and anonymized end to end
through the command line with a fixed seed and a lossless encoder, so the checksum of the decoded
output frames pins everything between decoding and encoding: detection, tracking, masks, the
method and the colour conversions. When a change is meant to alter the output, say so in its
commit and update the checksums here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import pytest

from anonfilter.cli import main
from tests.data import shared_path

FRAMES = 30
"""Frames of each clip kept: enough for tracks to start, be filled and confirmed."""

CLIPS = {
    "hamilton": "videos/face_recognition_short_hamilton_clip.mp4",
    "liveportrait_d18": "videos/liveportrait_d18.mp4",
}

CHECKSUMS = {
    ("hamilton", "blur"): "1a12b927c20f7968d37e0374fb2789a071ad47e438f958b76b661418d354af76",
    ("hamilton", "synthetic"): "640c83cc29e5c13be61e57abec25fac001c571c876cf66b9b2af12baa77a6fb2",
    ("liveportrait_d18", "blur"): "a93ec204975bbda60056b49e5ccac26777d18e313dd6acc393dbb233ca35293e",
    ("liveportrait_d18", "synthetic"): "cb4c1bb11e350004bd1008d50b38475b08899b20b783e0157817c951be90f1c5",
}
"""SHA-256 of the decoded output frames' planes, computed since issue 21's smoothing of boxes and landmarks over
time in the offline tracker (every method) and its surround that continues the picture into the mask (synthetic)."""


def lossless_cut(source: Path, target: Path, frames: int) -> Path:
    """The first ``frames`` video frames of ``source`` as FFV1 in Matroska (no audio): decoded pixels kept exactly."""
    with av.open(str(source)) as input_, av.open(str(target), "w") as output:
        video_in = input_.streams.video[0]
        video = output.add_stream("ffv1", rate=video_in.average_rate)
        video.width, video.height, video.pix_fmt = video_in.width, video_in.height, "yuv420p"
        video.time_base = video.codec_context.time_base = video_in.time_base
        for index, frame in enumerate(input_.decode(video_in)):
            if index >= frames:
                break
            output.mux(video.encode(frame.reformat(format="yuv420p")))
        output.mux(video.encode(None))
    return target


def frames_checksum(path: Path) -> tuple[int, str]:
    """How many frames ``path``'s video has, and the SHA-256 of their planes in order."""
    digest = hashlib.sha256()
    count = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            count += 1
            digest.update(frame.reformat(format="yuv420p").to_ndarray().tobytes())
    return count, digest.hexdigest()


@pytest.fixture(scope="module")
def cuts(tmp_path_factory) -> dict[str, Path]:
    """Each clip's first :data:`FRAMES` frames, cut losslessly once."""
    folder = tmp_path_factory.mktemp("reproducible")
    return {name: lossless_cut(shared_path(relative), folder / f"{name}.mkv", FRAMES) for name, relative in CLIPS.items()}


@pytest.mark.slow
@pytest.mark.parametrize("clip, method", sorted(CHECKSUMS))
def test_output_is_bit_for_bit_the_same_with_a_seed(clip, method, cuts, tmp_path):
    output = tmp_path / "out.mkv"
    arguments = ["-i", str(cuts[clip]), "-o", str(output), "-q", "-m", method, "--seed", "1", "--codec", "ffv1"]
    assert main(arguments) == 0
    count, checksum = frames_checksum(output)
    assert count == FRAMES
    assert checksum == CHECKSUMS[(clip, method)], f"{clip} with {method}: output changed ({checksum})"
