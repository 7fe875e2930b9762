"""The training sets (../shared/data/train) as test data.

* The training crops are aligned exactly as faces are at run time (``training.data``, no torch).
* De-identification against *another photo* of the same person: for same-identity pairs of the
  CelebA set, dlib matches the two originals, but not the replaced first photo to the second.
  This is stricter than comparing a face with its own replacement (pose, light and expression
  are shared there). CelebA's identities were used in training, so this checks the method and
  the measurement, not generalisation (``anonfilter evaluate`` on held-out clips does that).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from anonfilter.detection.centerface import CenterFace
from anonfilter.identity.embedder import SAME_PERSON_DISTANCE, FaceEmbedder, distance
from anonfilter.plugins import PluginHost
from anonfilter.testing import make_face
from anonfilter.types import FrameInfo
from tests.data import shared_path
from training.data import CELEBA, UTKFACE, align_faces, read_faces

PAIRS = 8


@pytest.fixture(scope="module")
def detector() -> CenterFace:
    return CenterFace(threads=1)


@pytest.fixture(scope="module")
def same_person_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """The first :data:`PAIRS` same-identity pairs of ``celeba_ids_128_pairs.csv``, as RGB images."""
    with open(shared_path(f"train/{CELEBA}_pairs.csv"), newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["same"] == "1"][:PAIRS]
    names = [name for row in rows for name in (row["img_a"], row["img_b"])]
    images = read_faces(shared_path(f"train/{CELEBA}.tar"), names)
    return list(zip(images[0::2], images[1::2]))


def test_training_crops_align_like_faces_at_run_time(detector):
    with open(shared_path(f"train/{UTKFACE}.csv"), newline="") as file:
        names = [row["file"] for row, _ in zip(csv.DictReader(file), range(8))]
    images = read_faces(shared_path(f"train/{UTKFACE}.tar"), names)
    assert all(image.shape == (128, 128, 3) for image in images)
    crops, found = align_faces(images, detector)
    assert crops.shape == (8, 64, 64, 3) and found.sum() >= 7
    assert crops[found].std() > 20, "aligned crops should show faces, not flat colour"


def _best_face(detector: CenterFace, image: np.ndarray) -> tuple[tuple[float, float, float, float], np.ndarray]:
    found = detector.detect(image)
    assert len(found), "CenterFace should find the face of a CelebA crop"
    best = int(np.argmax(found.scores))
    return tuple(float(v) for v in found.boxes[best]), found.landmarks[best]


@pytest.mark.parametrize("method_name", ["synthetic", "decoupled"])
def test_replaced_face_is_not_recognised_in_another_photo_of_the_person(detector, same_person_pairs, method_name):
    method = PluginHost().create_method(method_name)
    embedder = FaceEmbedder()
    originals_matched = replaced_apart = 0
    for key, (first, second) in enumerate(same_person_pairs):
        box, landmarks = _best_face(detector, first)
        other = embedder.embed(second, _best_face(detector, second)[0])
        replaced = first.copy()
        face = make_face(box, first.shape, identity_key=key + 1, landmarks=landmarks)
        method.anonymize(replaced, [face], FrameInfo(0, 0.0, first.shape[1], first.shape[0]))
        originals_matched += float(distance(embedder.embed(first, box), other[None])[0, 0]) < SAME_PERSON_DISTANCE
        replaced_apart += float(distance(embedder.embed(replaced, box), other[None])[0, 0]) >= SAME_PERSON_DISTANCE
    assert originals_matched >= PAIRS - 1, "dlib should recognise the person in the two original photos"
    assert replaced_apart == PAIRS, f"{method_name}: the replaced face was recognised in another photo"
