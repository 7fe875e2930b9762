"""The learned ``latentshift`` method and the ``synthetic`` default, through the plugin host like a user."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from anonfilter.detection.centerface import CenterFace
from anonfilter.identity.embedder import FaceEmbedder, distance
from anonfilter.masks import composite
from anonfilter.methods import face_strength_blur
from anonfilter.plugins import PluginHost
from anonfilter.testing import CONFORMANCE_CHECKS, make_face
from anonfilter.types import FrameInfo
from tests.replacement import Portrait, anonymized, load_portrait

METHODS = ("latentshift", "synthetic")


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost()


@pytest.fixture(scope="module")
def portrait() -> Portrait:
    """A real photo from the shared data with its CenterFace box and landmarks."""
    return load_portrait("pairs/facenet_pytorch/test_images/paul_rudd/1.jpg")


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda check: check.__name__)
def test_conformance(host, name, check):
    check(lambda: host.create_method(name))


def test_synthetic_is_listed_and_takes_the_learned_options(host):
    method = host.create_method("synthetic", ["strength=0.9"])
    assert method.strength == 0.9


def test_same_key_same_face_different_keys_different_faces(host, portrait):
    image, box, landmarks = portrait
    method = host.create_method("latentshift")
    first = anonymized(method, image, box, landmarks, key=11)
    again = anonymized(host.create_method("latentshift"), image, box, landmarks, key=11)
    other = anonymized(method, image, box, landmarks, key=12)
    assert np.array_equal(first, again), "the same identity key gave a different face"
    embedder = FaceEmbedder()
    gap = float(distance(embedder.embed(first, box), embedder.embed(other, box))[0, 0])
    assert gap >= 0.6, f"two identity keys gave faces only {gap:.2f} apart (dlib), not different people"


def test_real_face_is_replaced_and_still_a_face(host, portrait):
    image, box, landmarks = portrait
    out = anonymized(host.create_method("latentshift"), image, box, landmarks, key=5)
    embedder = FaceEmbedder()
    gap = float(distance(embedder.embed(image, box), embedder.embed(out, box))[0, 0])
    assert gap >= 0.6, f"replacement is still the same person for dlib (distance {gap:.2f} < 0.6)"
    found = CenterFace(threads=1).detect(out)
    x0, y0, x1, y1 = box
    centres = (found.boxes[:, :2] + found.boxes[:, 2:]) / 2
    near = (np.abs(centres[:, 0] - (x0 + x1) / 2) < (x1 - x0) / 4) & (np.abs(centres[:, 1] - (y0 + y1) / 2) < (y1 - y0) / 4)
    assert near.any(), "CenterFace finds no face where the replacement face is"


def test_tiny_face_gets_the_strong_blur(host, portrait):
    image, _, _ = portrait
    small = cv2.resize(image, (image.shape[1] // 8, image.shape[0] // 8), interpolation=cv2.INTER_AREA)
    method = host.create_method("latentshift")
    face = make_face((20, 20, 34, 34), small.shape, identity_key=3)
    out = small.copy()
    method.anonymize(out, [face], FrameInfo(0, 0.0, small.shape[1], small.shape[0]))
    region = small[face.region.slices]
    blurred = face_strength_blur(region.copy(), face.size, method.fallback_strength)
    expected = region.copy()
    composite(expected, blurred, face.alpha)
    assert np.array_equal(out[face.region.slices], expected), "a face below min_size was not given the strong blur"
