"""No face escapes the default: real faces of 12-64 px pasted at known places into 1080p and 4K clips.

A short version of ``bench/small_faces.py`` (which has the full one and explains the generator).
The ground truth is where the faces were pasted, and a face-frame leaks when its fine detail in
the output still correlates with the input's: our detector plays no part in judging itself.
"""

from __future__ import annotations

import pytest

from bench.small_faces import GUARANTEED_SIZE, Clip, anonymize, blurred_area, coverage, make_clip
from tests.data import shared_path


@pytest.mark.parametrize(("width", "height", "frames", "faces"), [(1920, 1080, 40, 10), (3840, 2160, 24, 12)])
def test_every_face_of_16_px_and_more_is_covered_from_its_first_frame_to_its_last(tmp_path, width, height, frames, faces):
    videos = shared_path("videos/liveportrait_d0.mp4").parent
    clip: Clip = make_clip(tmp_path / "clip.mp4", width, height, frames, faces, seed=7, videos=videos)
    assert clip.face_frames(GUARANTEED_SIZE) >= 80
    recorder, _seconds, _stages = anonymize(clip, tmp_path / "out.mp4")
    result = coverage(clip, tmp_path / "out.mp4")
    assert sum(result.checked) >= 80
    assert [leak for leak in result.leaks if leak[2] >= GUARANTEED_SIZE] == [], result.table()
    on_faces, _elsewhere = blurred_area(clip, recorder)
    assert on_faces <= 2.0  # the faces are hidden by boxes near their own size, not by blurring everything
