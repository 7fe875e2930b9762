"""Fuzz test: a few hundred damaged copies of small real clips, each written whole or refused cleanly.

See :mod:`tests.fuzzing` for the mutations and the rules. This CI run takes a few seconds;
``bench/fuzz.py`` runs the same with more cases and other seeds.
"""

from __future__ import annotations

from collections import Counter

from tests.data import SHARED_DATA
from tests.fuzzing import fuzz, seed_clips

CASES = 200
SEED = 2026


def test_damaged_clips_are_written_whole_or_refused_in_one_line_with_nothing_left(tmp_path):
    hamilton = SHARED_DATA / "videos/face_recognition_short_hamilton_clip.mp4"
    clips = seed_clips(tmp_path / "seeds", hamilton if hamilton.exists() else None)
    outcomes = fuzz(clips, CASES, SEED, tmp_path / "cases")
    ended = Counter(outcome.written for outcome in outcomes)
    assert ended[True] > CASES // 4 and ended[False] > 0  # the mutations damage, but not beyond use
