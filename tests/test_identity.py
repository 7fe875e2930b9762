"""Unit tests of identity keys, the re-identification gallery and the keep-list rule (no dlib)."""

from __future__ import annotations

import numpy as np
import pytest

from anonfilter.identity.gallery import Gallery
from anonfilter.identity.keeplist import KeepChecks, KeepList
from anonfilter.identity.keys import IdentityKeys
from anonfilter.identity.registry import FaceSample, Identities


def test_keys_are_reproducible_with_a_seed_and_random_without():
    seeded = [IdentityKeys(42).new_key() for _ in range(2)]
    assert seeded[0] == seeded[1]
    keys = IdentityKeys(42)
    issued = [keys.new_key() for _ in range(100)]
    assert len(set(issued)) == 100 and all(0 < key < 2**63 for key in issued)
    assert IdentityKeys(43).new_key() != seeded[0]
    assert IdentityKeys().new_key() != IdentityKeys().new_key()


def unit(vector: list[float]) -> np.ndarray:
    """A 128-D embedding pointing along ``vector`` (padded with zeros), length 1."""
    padded = np.zeros(128, np.float32)
    padded[: len(vector)] = vector
    return padded / np.linalg.norm(padded)


def test_gallery_matches_the_nearest_identity_and_respects_exclusions():
    gallery = Gallery(per_identity=3, max_identities=2)
    gallery.add(1, unit([1, 0]))
    gallery.add(2, unit([0, 1]))
    query = [unit([1, 0.1])]
    assert gallery.best_match(query, 0.5, exclude=set()) == 1
    assert gallery.best_match(query, 0.5, exclude={1}) is None
    assert gallery.best_match([unit([1, 1])], 0.5, exclude=set()) is None  # 0.77 away from both
    gallery.add(3, unit([0, 0, 1]))
    assert len(gallery) == 2  # the least recently updated identity is forgotten
    assert gallery.best_match(query, 0.5, exclude=set()) is None


def test_keep_list_rule_needs_consecutive_passing_checks():
    checks = KeepChecks()
    for index, passed in [(0, False), (8, True), (16, True), (24, True), (32, False), (40, True)]:
        checks.add(index, passed)
    whole = [index for index in range(50) if checks.kept(index, 3, 16, whole_runs=True)]
    assert whole == list(range(8, 25))  # only between the passing checks; a failure ends it
    live = KeepChecks()
    for index in (0, 8, 16):
        live.add(index, True)
        kept = [i for i in range(index, index + 20) if live.kept(i, 3, 16, whole_runs=False)]
        assert kept == ([] if index < 16 else list(range(16, 33)))
    live.add(24, False)
    assert not live.kept(24, 3, 16, whole_runs=False)
    live.forget(30)
    assert len(live.runs) == 1


def test_keep_list_distance_and_identities():
    keep = KeepList([unit([1, 0])])
    assert keep.distance(unit([1, 0])) == pytest.approx(0, abs=1e-6)
    assert KeepList().distance(unit([1, 0])) == float("inf") and not KeepList()
    with pytest.raises(ValueError):
        Identities(IdentityKeys(1), None, keep)
    identities = Identities(IdentityKeys(1))
    sample = FaceSample.cut(np.zeros((100, 100, 3), np.uint8), np.array([40, 40, 60, 60.0]))
    assert sample.image.shape == (41, 41, 3) and list(sample.box) == [10, 10, 30, 30]
    assert not identities.embeds and identities.embed(sample) is None
    identities.offer(5, [sample])
    assert identities.match([sample], exclude=set()) == (None, [])
