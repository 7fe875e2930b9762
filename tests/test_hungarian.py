"""The Hungarian algorithm against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from anonfilter.tracking.assignment import UNMATCHABLE
from anonfilter.tracking.hungarian import linear_sum_assignment


def brute_force_cost(cost: np.ndarray) -> float:
    rows, cols = cost.shape
    if rows <= cols:
        return min(sum(cost[r, c] for r, c in zip(range(rows), perm)) for perm in itertools.permutations(range(cols), rows))
    return brute_force_cost(cost.T)


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 5), (5, 2), (4, 6), (6, 6)])
def test_the_assignment_has_the_least_total_cost(shape):
    generator = np.random.default_rng(sum(shape))
    for _ in range(20):
        cost = generator.random(shape)
        cost[generator.random(shape) < 0.3] = UNMATCHABLE  # gated-out pairs, as the tracker makes them
        rows, cols = linear_sum_assignment(cost)
        assert len(rows) == min(shape) and len(set(cols.tolist())) == len(cols)
        assert list(rows) == sorted(rows)
        assert cost[rows, cols].sum() == pytest.approx(brute_force_cost(cost))
