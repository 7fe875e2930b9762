"""The host's check of a method's work (anonfilter.verify) and the option schema (anonfilter.schema)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from anonfilter.hookspecs import Option
from anonfilter.plugins import PluginHost
from anonfilter.schema import check_value, describe_range
from anonfilter.testing import check_passes_the_hosts_verification, make_face, make_frame, make_info
from anonfilter.verify import snapshot, verify

HOST = PluginHost()


def outcome(method, frame, faces, index=0):
    before = snapshot(frame, faces, index)
    return verify(frame, before, method(frame, faces))


def faces_on(frame):
    return [make_face((60, 50, 140, 150), frame.shape, 1, 1), make_face((200, 60, 260, 140), frame.shape, 2, 2)]


@pytest.mark.parametrize("name", ["blur", "pixelate", "solid"])
def test_builtin_methods_pass(name):
    method = HOST.create_method(name)
    frame = make_frame(240, 320, seed=1)
    assert outcome(lambda f, faces: method.anonymize(f, faces, make_info(f)), frame, faces_on(frame)) is None


def test_a_no_op_a_copy_a_skipped_face_and_paint_outside_are_caught():
    frame = make_frame(240, 320, seed=2)
    faces = faces_on(frame)
    assert "unchanged" in outcome(lambda f, faces: None, frame.copy(), faces)
    assert "returned ndarray" in outcome(lambda f, faces: f.copy(), frame.copy(), faces)

    def first_only(f, faces):
        f[faces[0].region.slices][faces[0].alpha > 0] = 0

    assert "unchanged" in outcome(first_only, frame.copy(), faces)

    def everything(f, faces):
        f[...] = 0

    assert "outside" in outcome(everything, frame.copy(), faces)


def test_a_flat_face_needs_no_change():
    frame = np.full((240, 320, 3), 90, np.uint8)
    assert outcome(lambda f, faces: None, frame, faces_on(frame)) is None


def test_the_outside_grid_moves_with_the_frame_index():
    frame = make_frame(64, 64)
    seen = set()
    for index in range(256):
        before = snapshot(frame, [], index)
        seen.add(before.offset)
    assert len(seen) == 256


def test_the_kit_fails_a_method_the_host_would_obscure():
    class Noop:
        def anonymize(self, frame, faces, info):
            pass

    with pytest.raises(AssertionError, match="obscure this frame whole"):
        check_passes_the_hosts_verification(Noop)


@pytest.mark.parametrize(
    "option, good, bad, shown",
    [
        (Option("threshold", float, 0.2, "", above=0, below=1), [0.01, 0.99], [0, 1, 1.5, math.nan], "0 < threshold < 1"),
        (Option("cells", int, 8, "", minimum=2, maximum=10), [2, 10], [1, 11], "2 <= cells <= 10"),
        (Option("scale", float, 1.0, "", above=0), [1e-3, 1e6], [0, -1, math.inf], "scale > 0"),
        (Option("precision", str, "int8", "", choices=("int8", "fp32")), ["fp32"], ["fp16"], "one of int8, fp32"),
        (Option("anything", float, 1.0, ""), [-1e9, 0], [math.nan, -math.inf], ""),
    ],
)
def test_option_ranges(option, good, bad, shown):
    assert describe_range(option) == shown
    for value in good:
        check_value(option, value)
    for value in bad:
        with pytest.raises(ValueError):
            check_value(option, value)
