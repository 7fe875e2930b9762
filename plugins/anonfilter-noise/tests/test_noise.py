"""anonfilter-noise passes anonfilter's conformance kit, and one person keeps one pattern."""

import numpy as np
import pytest
from anonfilter_noise import Noise

from anonfilter.testing import CONFORMANCE_CHECKS, make_face, make_frame
from anonfilter.types import FrameInfo


@pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda check: check.__name__)
def test_conformance(check):
    check(lambda: Noise())


def test_different_people_get_different_patterns():
    frame = make_frame()
    first, second = frame.copy(), frame.copy()
    info = FrameInfo(0, 0.0, frame.shape[1], frame.shape[0])
    Noise().anonymize(first, [make_face((50, 50, 150, 150), frame.shape, identity_key=1)], info)
    Noise().anonymize(second, [make_face((50, 50, 150, 150), frame.shape, identity_key=2)], info)
    assert not np.array_equal(first, second)
