"""Conformance kit for plugin authors: checks every anonymization method and detector should pass.

Use it from your plugin's tests with pytest::

    import pytest
    from anonfilter.testing import CONFORMANCE_CHECKS, DETECTOR_CONFORMANCE_CHECKS
    from my_plugin import MyMethod, MyDetector

    @pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda check: check.__name__)
    def test_conformance(check):
        check(lambda: MyMethod())

    @pytest.mark.parametrize("check", DETECTOR_CONFORMANCE_CHECKS, ids=lambda check: check.__name__)
    def test_detector_conformance(check):
        check(lambda: MyDetector())

Each check takes a zero-argument factory that returns a fresh method (or detector) instance and raises
``AssertionError`` with a clear message when the method breaks the contract in
:mod:`anonfilter.hookspecs`, or would fail the check the host makes on every frame
(:mod:`anonfilter.verify`). For your own tests, :func:`make_frame` makes a textured test frame,
:func:`make_face` builds a :class:`~anonfilter.types.Face` the way the pipeline does, and
:func:`make_info` the :class:`~anonfilter.types.FrameInfo` that comes with a frame.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from anonfilter.hookspecs import Detector, Method
from anonfilter.masks import MaskStyle, face_mask
from anonfilter.types import Detections, Face, FaceStatus, Frame, FrameInfo
from anonfilter.verify import snapshot, verify

MethodFactory = Callable[[], Method]
DetectorFactory = Callable[[], Detector]


def make_frame(height: int = 240, width: int = 320, seed: int = 0) -> Frame:
    """A textured RGB test frame (smooth gradients plus noise), deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 / max(width - 1, 1), ys * 255 / max(height - 1, 1), (xs + ys) % 256], axis=-1)
    noisy = base + rng.normal(0, 20, size=(height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def make_face(
    box: tuple[float, float, float, float],
    frame_shape: Sequence[int],
    identity_key: int = 1,
    track_id: int = 1,
    style: MaskStyle = MaskStyle(),
    landmarks: Optional[np.ndarray] = None,
) -> Face:
    """A face at ``box`` in a frame of ``frame_shape``, with the mask the pipeline would build.

    Without ``landmarks``, plausible ones are placed inside the box (eyes, nose, mouth corners).
    """
    x0, y0, x1, y1 = box
    if landmarks is None:
        relative = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.78], [0.65, 0.78]], np.float32)
        landmarks = np.array([x0, y0], np.float32) + relative * np.array([x1 - x0, y1 - y0], np.float32)
    region, alpha = face_mask(box, frame_shape[1], frame_shape[0], style)
    return Face(track_id, identity_key, box, 0.9, FaceStatus.DETECTED, region, alpha, landmarks)


def make_info(frame: Frame, index: int = 0, live: bool = False) -> FrameInfo:
    """The :class:`FrameInfo` of frame number ``index`` of a 25 fps stream of frames like ``frame``."""
    return FrameInfo(index=index, time=index / 25, width=frame.shape[1], height=frame.shape[0], live=live)


def _run(factory: MethodFactory, frame: Frame, faces: Sequence[Face], index: int = 0) -> Frame:
    method = factory()
    out = frame.copy()
    result = method.anonymize(out, list(faces), make_info(out, index))
    assert result is None, "anonymize() must change the frame in place and return None"
    assert out.shape == frame.shape and out.dtype == np.uint8, "anonymize() must keep the frame's shape and dtype"
    return out


def _union_alpha(frame: Frame, faces: Sequence[Face]) -> np.ndarray:
    allowed = np.zeros(frame.shape[:2], bool)
    for face in faces:
        allowed[face.region.slices] |= face.alpha > 0
    return allowed


def check_changes_only_masked_pixels(factory: MethodFactory) -> None:
    """No pixel outside the faces' masks (alpha > 0) may change."""
    frame = make_frame(240, 320)
    faces = [make_face((40, 40, 100, 120), frame.shape, 1, 1), make_face((200, 60, 260, 140), frame.shape, 2, 2)]
    out = _run(factory, frame, faces)
    changed = np.any(out != frame, axis=-1)
    outside = changed & ~_union_alpha(frame, faces)
    assert not outside.any(), f"{int(outside.sum())} pixels outside the face masks changed"
    assert changed.any(), "the method changed no pixel at all"


def check_handles_no_faces(factory: MethodFactory) -> None:
    """A frame without faces comes back unchanged."""
    frame = make_frame()
    out = _run(factory, frame, [])
    assert np.array_equal(out, frame), "a frame with no faces was changed"


def check_handles_faces_at_frame_edges(factory: MethodFactory) -> None:
    """Faces cut by each edge and corner of the frame work and change only their masks."""
    frame = make_frame(240, 320)
    boxes = [(-30, 50, 40, 130), (280, 80, 350, 160), (120, -40, 190, 30), (130, 200, 200, 280), (-20, -20, 30, 40)]
    faces = [make_face(box, frame.shape, key, key) for key, box in enumerate(boxes, start=1)]
    out = _run(factory, frame, faces)
    outside = np.any(out != frame, axis=-1) & ~_union_alpha(frame, faces)
    assert not outside.any(), "pixels outside the masks changed for faces at the frame edge"


def check_handles_tiny_and_huge_faces(factory: MethodFactory) -> None:
    """A 4-pixel face and a face larger than the frame are handled (and the huge one changed)."""
    frame = make_frame(240, 320)
    tiny = make_face((100, 100, 104, 104), frame.shape, 1, 1)
    _run(factory, frame, [tiny])
    huge = make_face((-50, -80, 380, 330), frame.shape, 2, 2)
    out = _run(factory, frame, [huge])
    assert np.any(out != frame), "a face filling the frame was left unchanged"


def check_handles_odd_frame_sizes(factory: MethodFactory) -> None:
    """Odd, tiny and portrait frame sizes work."""
    for height, width in ((257, 341), (17, 23), (480, 171)):
        frame = make_frame(height, width)
        face = make_face((width * 0.2, height * 0.2, width * 0.7, height * 0.8), frame.shape)
        out = _run(factory, frame, [face])
        outside = np.any(out != frame, axis=-1) & ~_union_alpha(frame, [face])
        assert not outside.any(), f"pixels outside the mask changed on a {width}x{height} frame"


def check_deterministic_per_identity(factory: MethodFactory) -> None:
    """The same frame and identity key give the same output, also from a new instance and later frames."""
    frame = make_frame(240, 320, seed=3)
    face = make_face((80, 60, 180, 180), frame.shape, identity_key=12345)
    first = _run(factory, frame, [face], index=0)
    again = _run(factory, frame, [face], index=7)
    assert np.array_equal(first, again), "same input and identity key gave different output"


def check_passes_the_hosts_verification(factory: MethodFactory) -> None:
    """The check the host makes on every frame passes: each face's core changed, nothing outside the masks, None returned.

    A method that fails it has those frames obscured whole in real runs (see :mod:`anonfilter.verify`).
    """
    frame = make_frame(240, 320, seed=7)
    boxes = [(40, 40, 100, 120), (200, 60, 260, 140), (150, 170, 162, 184)]
    faces = [make_face(box, frame.shape, key, key) for key, box in enumerate(boxes, start=1)]
    method = factory()
    for index in (0, 9):  # two different outside grids
        out = frame.copy()
        before = snapshot(out, faces, index)
        problem = verify(out, before, method.anonymize(out, faces, make_info(out, index)))
        assert problem is None, f"the host would obscure this frame whole: {problem}"


CONFORMANCE_CHECKS: list[Callable[[MethodFactory], None]] = [
    check_passes_the_hosts_verification,
    check_changes_only_masked_pixels,
    check_handles_no_faces,
    check_handles_faces_at_frame_edges,
    check_handles_tiny_and_huge_faces,
    check_handles_odd_frame_sizes,
    check_deterministic_per_identity,
]
"""Every check, for ``pytest.mark.parametrize``."""


def _detect(factory: DetectorFactory, frame: Frame) -> Detections:
    """Run a fresh detector on a copy of ``frame``; check it left the frame alone and returned valid values."""
    original = frame.copy()
    found = factory().detect(frame)
    assert np.array_equal(frame, original), "detect() must not change the frame"
    assert isinstance(found, Detections), f"detect() must return anonfilter.Detections, not {type(found).__name__}"
    count = len(found.scores)
    assert found.boxes.shape == (count, 4), f"boxes must be (N, 4), got {found.boxes.shape}"
    assert found.scores.shape == (count,), f"scores must be (N,), got {found.scores.shape}"
    assert found.boxes.dtype == np.float32 and found.scores.dtype == np.float32, "boxes and scores must be float32"
    assert np.isfinite(found.boxes).all() and np.isfinite(found.scores).all(), "boxes and scores must be finite"
    assert ((found.scores >= 0) & (found.scores <= 1)).all(), "scores must lie in 0..1"
    assert (found.boxes[:, 2] > found.boxes[:, 0]).all() and (found.boxes[:, 3] > found.boxes[:, 1]).all(), (
        "boxes must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0"
    )
    if found.landmarks is not None:
        assert found.landmarks.shape == (count, 5, 2), f"landmarks must be (N, 5, 2) or None, got {found.landmarks.shape}"
        assert np.isfinite(found.landmarks).all(), "landmarks must be finite"
    return found


def check_detector_returns_valid_detections(factory: DetectorFactory) -> None:
    """A textured frame gives well-formed :class:`Detections` (shapes, float32, scores in 0..1) and is not changed."""
    _detect(factory, make_frame(240, 320))


def check_detector_handles_blank_and_odd_frames(factory: DetectorFactory) -> None:
    """Blank, tiny, odd-sized and portrait frames work; a blank frame has no faces."""
    blank = _detect(factory, np.zeros((240, 320, 3), np.uint8))
    assert len(blank.scores) == 0, "a black frame has no faces"
    for height, width in ((257, 341), (17, 23), (480, 171)):
        _detect(factory, make_frame(height, width))


def check_detector_deterministic(factory: DetectorFactory) -> None:
    """The same frame gives the same detections, also from a new instance."""
    frame = make_frame(240, 320, seed=5)
    first, again = _detect(factory, frame), _detect(factory, frame)
    assert np.array_equal(first.boxes, again.boxes) and np.array_equal(first.scores, again.scores), (
        "the same frame gave different detections"
    )


DETECTOR_CONFORMANCE_CHECKS: list[Callable[[DetectorFactory], None]] = [
    check_detector_returns_valid_detections,
    check_detector_handles_blank_and_odd_frames,
    check_detector_deterministic,
]
"""Every detector check, for ``pytest.mark.parametrize``. Whether your detector finds real faces
is for your own tests: run it on photos you may ship with your tests."""
