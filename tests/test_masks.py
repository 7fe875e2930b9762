"""Face masks and blending them in."""

import cv2
import numpy as np
import pytest

from anonfilter.masks import MIN_CORE_PIXELS, MaskStyle, composite, face_mask, opaque_core


@pytest.mark.parametrize("shape", ["ellipse", "box"])
def test_composite_is_exactly_a_per_pixel_blend(shape):
    """The opaque core is copied and only the rest blended: the same pixels as blending it all."""
    rng = np.random.default_rng(7)
    cores = 0
    for _ in range(100):
        size = rng.uniform(5, 400)
        x, y = rng.uniform(-200, 1900), rng.uniform(-200, 1000)
        box = (x, y, x + size, y + size * rng.uniform(0.8, 1.5))
        region, alpha = face_mask(box, 1920, 1080, MaskStyle(shape=shape, margin=rng.uniform(0, 0.5)))
        if region.width <= 0 or region.height <= 0:
            continue
        target = rng.integers(0, 256, (region.height, region.width, 3), np.uint8)
        replacement = rng.integers(0, 256, target.shape, np.uint8)
        expected = cv2.blendLinear(target, replacement, 1.0 - alpha, alpha)
        composite(target, replacement, alpha)
        assert np.array_equal(target, expected)
        cores += alpha.size >= MIN_CORE_PIXELS and opaque_core(alpha) is not None
    assert cores > 20  # the fast path was taken


def test_opaque_core_is_inside_the_mask_or_none():
    _, alpha = face_mask((500, 300, 800, 660), 1920, 1080, MaskStyle())
    (y0, y1), (x0, x1) = opaque_core(alpha)
    assert (alpha[y0:y1, x0:x1] == 1.0).all()
    assert (y1 - y0) * (x1 - x0) > 0.35 * alpha.size
    assert opaque_core(np.full((100, 100), 0.5, np.float32)) is None
