"""The learned ``decoupled`` method, through the plugin host like a user."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anonfilter.cli import main
from anonfilter.detection.centerface import CenterFace
from anonfilter.geometry import iou
from anonfilter.identity.embedder import SAME_PERSON_DISTANCE, FaceEmbedder, distance
from anonfilter.plugins import PluginHost
from anonfilter.testing import CONFORMANCE_CHECKS, make_face
from tests.data import shared_path
from tests.replacement import Portrait, anonymized, load_portrait


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost()


@pytest.fixture(scope="module")
def portrait() -> Portrait:
    """A real photo from the shared data with its CenterFace box and landmarks."""
    return load_portrait("pairs/facenet_pytorch/test_images/angelina_jolie/1.jpg")


@pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda check: check.__name__)
def test_conformance(host, check):
    check(lambda: host.create_method("decoupled"))


def test_one_face_per_identity_key(host, portrait):
    image, box, landmarks = portrait
    first = anonymized(host.create_method("decoupled"), image, box, landmarks, key=11)
    again = anonymized(host.create_method("decoupled"), image, box, landmarks, key=11)
    other = anonymized(host.create_method("decoupled"), image, box, landmarks, key=12)
    assert np.array_equal(first, again), "the same identity key gave a different face"
    assert np.abs(first.astype(int) - other.astype(int)).max() > 40, "two identity keys gave the same face"


def test_networks_see_no_detail_finer_than_eight_cells(host):
    """Privacy by construction: crops that differ only below the 8 x 8 cell means give the same face."""
    rng = np.random.default_rng(0)
    cells = rng.integers(40, 200, (8, 8, 3))
    coarse = np.kron(cells, np.ones((8, 8, 1)))
    detail = rng.integers(-30, 31, (64, 64, 3))
    detail -= np.kron(detail.reshape(8, 8, 8, 8, 3).mean((1, 3)).round().astype(int), np.ones((8, 8, 1), int))
    plain = coarse.astype(np.uint8)[None]
    detailed = (coarse + detail).clip(0, 255).astype(np.uint8)[None]
    assert not np.array_equal(plain, detailed)
    method = host.create_method("decoupled")
    face = [make_face((0, 0, 64, 64), (64, 64, 3), identity_key=3)]
    difference = np.abs(method.synthesize(plain, face).astype(int) - method.synthesize(detailed, face).astype(int))
    assert difference.max() <= 2, "the drawn face depends on the original face's fine detail"


def test_real_face_is_replaced_and_still_a_face(host, portrait):
    image, box, landmarks = portrait
    out = anonymized(host.create_method("decoupled"), image, box, landmarks, key=5)
    embedder = FaceEmbedder()
    gap = float(distance(embedder.embed(image, box), embedder.embed(out, box))[0, 0])
    assert gap >= SAME_PERSON_DISTANCE, f"replacement is still the same person for dlib (distance {gap:.2f})"
    assert np.any(iou(box, CenterFace(threads=1, threshold=0.5).detect(out).boxes) >= 0.3), "no face found where the new face is"


def test_evaluate_reports_the_four_metrics_for_decoupled(capsys):
    clip = shared_path("videos/liveportrait_d0.mp4")
    args = ["evaluate", str(clip), "-m", "decoupled", "--frames", "21", "--every", "10", "--json", "-", "--seed", "1", "-D", "threads=1"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)["inputs"][0]
    assert result["faces"] >= 3  # frames 0, 10 and 20 of a one-person clip
    for name in ("faceness", "deidentification", "stability", "diversity"):
        assert set(result[name]) == {"value", "passed", "total"}
    assert result["deidentification"]["value"] == 1.0
