"""The first-party methods pass the conformance kit that third-party plugins use."""

import numpy as np
import pytest

from anonfilter.plugins import PluginHost
from anonfilter.testing import CONFORMANCE_CHECKS, make_face, make_frame
from anonfilter.types import FrameInfo

HOST = PluginHost()


@pytest.mark.parametrize("method", ["blur", "pixelate", "solid"])
@pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda check: check.__name__)
def test_conformance(method, check):
    check(lambda: HOST.create_method(method))


def test_blur_grows_with_face_size():
    """A large face is blurred as strongly, relative to its size, as a small one."""
    method = HOST.create_method("blur")
    frame = make_frame(600, 600)
    for size in (40, 400):
        face = make_face((100, 100, 100 + size, 100 + size), frame.shape)
        out = frame.copy()
        method.anonymize(out, [face], FrameInfo(0, 0.0, 600, 600))
        center = out[100 + size // 4 : 100 + 3 * size // 4, 100 + size // 4 : 100 + 3 * size // 4].astype(float)
        # after a strong blur, neighbouring pixels a tenth of the face apart are nearly equal
        step = max(1, size // 10)
        assert np.abs(center[:, step:] - center[:, :-step]).mean() < 12


def test_pixelate_uses_cell_means():
    method = HOST.create_method("pixelate", ["cells=4"])
    frame = make_frame(200, 200)
    face = make_face((50, 50, 150, 150), frame.shape)
    out = frame.copy()
    method.anonymize(out, [face], FrameInfo(0, 0.0, 200, 200))
    center = out[90:110, 90:110]
    assert len(np.unique(center.reshape(-1, 3), axis=0)) <= 4  # at most 2x2 cells meet in the middle


def test_solid_paints_the_colour():
    method = HOST.create_method("solid", ["color=#ff0000"])
    frame = make_frame(100, 100)
    face = make_face((30, 30, 70, 70), frame.shape)
    method.anonymize(frame, [face], FrameInfo(0, 0.0, 100, 100))
    assert tuple(frame[50, 50]) == (255, 0, 0)
