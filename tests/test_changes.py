"""The change map under a moving camera: the searched picture moves with it (real photo, known shifts)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from anonfilter.detection.changes import NEVER_SEARCHED, ChangeMap, camera_shift, covering_rects, grey_copy, shifted


def scene() -> np.ndarray:
    """A real photo (scikit-image's coffee, public domain) tiled to 2300 x 1300 px, RGB."""
    photo = data.coffee()  # 400 x 600
    return np.ascontiguousarray(np.tile(photo, (4, 4, 1))[:1300, :2300])


def view(picture: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The 1920 x 1080 view of ``picture`` from a camera moved by ``dx``, ``dy`` pixels (content moves the other way)."""
    return np.ascontiguousarray(picture[100 + dy : 1180 + dy, 150 + dx : 2070 + dx])


@pytest.mark.parametrize(("dx", "dy"), [(0, 0), (9, -6), (-14, 3)])
def test_camera_shift_is_measured_to_a_fraction_of_a_pixel(dx: int, dy: int) -> None:
    """Phase correlation of two grey copies at half size finds the picture's shift."""
    picture = scene()
    before, after = grey_copy(view(picture, 0, 0), 0.5), grey_copy(view(picture, dx, dy), 0.5)
    measured = camera_shift(before, after)
    assert measured == pytest.approx((-dx / 2, -dy / 2), abs=0.3)


def test_shifted_reference_marks_what_came_into_view_as_never_searched() -> None:
    """Content moves with the shift; the strip that comes in, and pixels blended with it, were never searched."""
    reference = np.arange(20 * 30, dtype=np.int16).reshape(20, 30) % 200
    moved = shifted(reference, (3.0, -2.0))
    assert (moved[:18, 3:] == reference[2:, :27]).all()
    assert (moved[:, :3] == NEVER_SEARCHED).all() and (moved[18:] == NEVER_SEARCHED).all()
    half = shifted(reference, (0.5, 0.0))
    assert (half[:, 0] == NEVER_SEARCHED).all() and (half[:, 1:] != NEVER_SEARCHED).all()


def test_a_panning_camera_makes_only_the_new_strips_change() -> None:
    """After a full search, a camera moved by (9, -6) px leaves changed only the edges that came into view."""
    picture = scene()
    changes = ChangeMap()
    assert changes.changed(view(picture, 0, 0), 20) == [(0, 0, 1920, 1080)]
    changes.searched([(0, 0, 1920, 1080)])
    rects = changes.changed(view(picture, 9, -6), 20)
    area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects)
    assert 0 < area < 0.1 * 1920 * 1080, rects
    inside = np.zeros((1080, 1920), bool)
    for x0, y0, x1, y1 in rects:
        inside[y0:y1, x0:x1] = True
    assert inside[:, 1911:].all() and inside[:6].all(), "the strips that came into view are searched"


def test_a_sparse_group_of_changes_is_covered_by_smaller_boxes() -> None:
    """An L of two strips is covered by boxes that hold it and far less than its bounding box."""
    mask = np.zeros((400, 600), bool)
    mask[:, :10] = True
    mask[390:, :] = True
    rects = covering_rects(mask, 0, 0)
    covered = np.zeros_like(mask)
    for x0, y0, x1, y1 in rects:
        covered[y0:y1, x0:x1] = True
    assert covered[mask].all() and covered.sum() < 0.1 * mask.size


def test_the_camera_shift_is_measured_only_when_much_changed_and_a_small_change_is_found_without_it(monkeypatch) -> None:
    """A fixed camera with one new patch skips the phase correlation (the reference stays, which can
    only make more count as changed); a pan, which would change most of the frame, measures it."""
    from anonfilter.detection import changes as module

    measured = []
    monkeypatch.setattr(module, "camera_shift", lambda before, after: measured.append(1) or camera_shift(before, after))
    picture = scene()
    changes = ChangeMap()
    frame = view(picture, 0, 0)
    changes.changed(frame, 72)
    changes.searched([(0, 0, 1920, 1080)])
    frame[500:516, 900:916] = 255  # a 16 px "face" appears
    rects = changes.changed(frame, 72)
    assert measured == [] and len(rects) == 1
    x0, y0, x1, y1 = rects[0]
    assert x0 <= 900 - 72 and y0 <= 500 - 72 and x1 >= 916 + 72 and y1 >= 516 + 72  # grown by the margin
    changes.searched(rects)
    rects = changes.changed(view(picture, 9, -6), 72)
    assert measured == [1]  # the pan changes nearly everything unshifted: the shift is measured
    assert sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects) < 0.5 * 1920 * 1080  # the new strips and a few spots, not a sweep
