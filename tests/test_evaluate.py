"""``anonfilter evaluate``: the seeds' four metrics on a real clip and a folder of real photos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anonfilter.cli import main
from anonfilter.evaluation import FaceSample, dlib_finds, score_samples
from tests.data import shared_path

METRICS = ("faceness", "deidentification", "stability", "diversity")


def sample(key: int, frame: int, original: float, anonymized: float, found: bool = True) -> FaceSample:
    """A face whose embeddings lie on one axis, so distances are differences of the numbers."""
    axis = np.zeros(128, np.float32)
    axis[0] = 1.0
    return FaceSample(key, frame, (0, 0, 50, 50), axis * original, axis * anonymized, found)


def test_scores_follow_the_06_threshold():
    samples = [
        sample(1, 0, 0.0, 1.0),  # moved 1.0: de-identified
        sample(1, 10, 0.1, 1.3),  # 0.3 from the key's first replacement: stable
        sample(1, 20, 0.0, 1.7),  # 0.7 from it: not stable
        sample(2, 0, 5.0, 5.5, found=False),  # moved 0.5: recognisable; no face found
    ]
    result = score_samples("x", samples)
    assert (result.faces, result.keys) == (4, 2)
    assert (result.faceness.passed, result.faceness.total) == (3, 4)
    assert (result.deidentification.passed, result.deidentification.total) == (3, 4)
    assert (result.stability.passed, result.stability.total) == (1, 2)
    assert (result.original_stability.passed, result.original_stability.total) == (2, 2)
    assert (result.diversity.passed, result.diversity.total) == (1, 1)


def test_dlib_faceness_counts_only_facesdlib_finds_in_the_original():
    samples = [sample(1, 0, 0.0, 1.0), sample(1, 10, 0.0, 1.0), sample(2, 0, 0.0, 1.0)]
    samples[0].found_dlib, samples[1].found_dlib = True, False  # the third: dlib missed the original
    result = score_samples("x", samples)
    assert (result.faceness_dlib.passed, result.faceness_dlib.total) == (1, 2)
    assert dlib_finds((100, 100, 200, 220), np.array([[120.0, 130, 180, 190]]))
    assert not dlib_finds((100, 100, 200, 220), np.array([[120.0, 130, 140, 150]])), "a box far too small is no match"
    assert not dlib_finds((100, 100, 200, 220), np.zeros((0, 4)))


def run_evaluate(capsys, *args: str) -> dict:
    assert main(["evaluate", *args, "--json", "-", "--seed", "1", "-D", "threads=1"]) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_clip_with_blur(capsys):
    clip = shared_path("videos/liveportrait_d0.mp4")
    result = run_evaluate(capsys, str(clip), "-m", "blur", "--frames", "30", "--every", "10")["inputs"][0]
    assert result["faces"] >= 3 and result["keys"] >= 1  # frames 0, 10 and 20 of a one-person clip
    for name in METRICS:
        assert set(result[name]) == {"value", "passed", "total"}
    assert result["deidentification"]["value"] == 1.0  # blur at the default strength hides the person
    assert result["stability"]["total"] >= 2
    assert result["ms_per_face"] > 0 and result["detector_ms_per_frame"] > 0


def test_evaluate_photo_folder_reports_all_metrics(capsys):
    folder = shared_path("pairs/facenet_pytorch/test_images")
    # paul_rudd's face scores 0.48: with the reference threshold at 0.3 all four photos count
    document = run_evaluate(capsys, str(folder), "-m", "pixelate", "--max-faces", "4", "--face-threshold", "0.3")
    result = document["inputs"][0]
    assert result["faces"] == 4 and result["keys"] == 4 and result["unconfirmed"] >= 0
    assert result["stability"]["total"] == 4  # each photo again, shifted a little
    assert result["diversity"]["total"] == 6  # every pair of the four people
    assert all(result[name]["value"] is not None for name in METRICS)


def test_text_table(capsys):
    clip = shared_path("videos/liveportrait_d0.mp4")
    assert main(["evaluate", str(clip), "-m", "solid", "--frames", "11", "-D", "threads=1"]) == 0
    out = capsys.readouterr().out
    assert "faceness" in out and "de-identification" in out and "liveportrait_d0.mp4" in out


@pytest.mark.parametrize(
    "args, message",
    [(["/nonexistent.mp4", "-m", "blur"], "input not found"), (["{clip}", "-m", "nosuchmethod"], "unknown method")],
)
def test_bad_input_is_one_line(capsys, args, message):
    clip = str(shared_path("videos/liveportrait_d0.mp4"))
    assert main(["evaluate", *[a.format(clip=clip) for a in args]]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_only_faces_found_in_the_original_are_scored():
    """A detection where the reference detector sees no face (here: a patch of background) is
    counted as unconfirmed, not scored; --all-detections (confirmed_only=False) scores it."""
    import cv2

    from anonfilter.detection.centerface import CenterFace
    from anonfilter.evaluation import Evaluation, Evaluator
    from anonfilter.tracking.base import TrackedFace

    photo = cv2.imread(str(sorted(shared_path("pairs/facenet_pytorch/test_images").rglob("*.jpg"))[0]))
    photo = np.ascontiguousarray(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB))
    face = tuple(float(v) for v in CenterFace(threshold=0.5).detect(photo).boxes[0])
    size = max(face[2] - face[0], face[3] - face[1])
    corner = (
        (0.0, 0.0, size, size)
        if face[0] > 1.5 * size or face[1] > 1.5 * size
        else (photo.shape[1] - size, photo.shape[0] - size, photo.shape[1], photo.shape[0])
    )
    faces = [TrackedFace(1, 11, face, 0.9, "detected"), TrackedFace(2, 22, corner, 0.9, "detected")]
    blurred = cv2.GaussianBlur(photo, (0, 0), 8)
    for confirmed_only, keys, unconfirmed in ((True, [11], 1), (False, [11, 22], 0)):
        evaluator = Evaluator(lambda fps: None, min_size=20, confirmed_only=confirmed_only)
        counts = Evaluation("photo")
        taken = evaluator._sample_frame(faces, 0, photo, blurred, counts, room=10)
        assert [sample.key for _, sample in taken] == keys
        assert counts.unconfirmed == unconfirmed
