"""The shared core of learned replacement methods: alignment, blending, identity choice, base class."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from anonfilter.faces import LearnedFaceMethod, key_choice, key_rng
from anonfilter.faces.align import (
    CROP_SIZE,
    TEMPLATE,
    alignment_matrix,
    landmarks_usable,
    warp_from_crop,
    warp_to_crop,
)
from anonfilter.faces.blend import canonical_mask, match_colours
from anonfilter.faces.replace import _filled_surround
from anonfilter.faces.surround import fill_from_ring, ring_weight
from anonfilter.faces.upsample import OUTPUT_SIZE, sharpness, upsample
from anonfilter.testing import CONFORMANCE_CHECKS, make_face, make_frame
from anonfilter.types import FrameInfo, Region


class Negative(LearnedFaceMethod):
    """A stand-in model: the crop's photographic negative (so every replaced pixel changes)."""

    def __init__(self, **options: float) -> None:
        super().__init__(**options)
        self.calls: list[int] = []

    def synthesize(self, crops: np.ndarray, faces) -> np.ndarray:
        self.calls.append(len(crops))
        return 255 - crops


@pytest.mark.parametrize("check", CONFORMANCE_CHECKS, ids=lambda check: check.__name__)
def test_base_class_conforms(check):
    check(Negative)


def test_landmarks_map_onto_template():
    rotation = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    landmarks = (TEMPLATE - 32) @ rotation.T * 3.1 + np.array([150.0, 120.0])
    matrix = alignment_matrix((60, 30, 240, 220), landmarks.astype(np.float32))
    mapped = np.c_[landmarks, np.ones(5)] @ matrix.T
    np.testing.assert_allclose(mapped, TEMPLATE, atol=1e-3)


def test_box_alignment_without_landmarks_centres_the_face():
    matrix = alignment_matrix((100, 100, 200, 210), None)
    centre = matrix @ np.array([150.0, 155.0, 1.0])
    assert abs(centre[0] - CROP_SIZE / 2) < 2 and abs(centre[1] - CROP_SIZE / 2) < 4


def test_crop_warps_back_onto_the_same_pixels():
    frame = make_frame(200, 240, seed=1)
    matrix = alignment_matrix((80, 50, 160, 140), None)
    back = warp_from_crop(warp_to_crop(frame, matrix), matrix, 240, 200)
    inside = warp_from_crop(canonical_mask(), matrix, 240, 200) > 0.99
    error = np.abs(back.astype(float) - frame)[inside].mean()
    assert error < 25, f"round trip through the canonical crop differs by {error:.1f} grey levels on average"


def test_colour_matching_moves_means_to_the_reference():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 100, (64, 64, 3)).astype(np.uint8)
    reference = rng.integers(120, 250, (64, 64, 3)).astype(np.uint8)
    matched = match_colours(source, reference, np.ones((64, 64), np.float32))
    np.testing.assert_allclose(matched.reshape(-1, 3).mean(0), reference.reshape(-1, 3).mean(0), atol=2)


def test_identity_choices_are_stable_and_spread():
    assert key_choice(7, 100, "a") == key_choice(7, 100, "a")
    assert len({key_choice(key, 1000, "a") for key in range(1, 51)}) > 45
    assert key_rng(3, "a").normal() == key_rng(3, "a").normal() != key_rng(4, "a").normal()


def test_small_faces_fall_back_to_blur_never_skipped():
    frame = make_frame(240, 320, seed=2)
    method = Negative(min_size=30)
    tiny = make_face((100, 100, 118, 118), frame.shape, identity_key=1)
    out = frame.copy()
    method.anonymize(out, [tiny], FrameInfo(0, 0.0, 320, 240))
    assert method.calls == [], "a face below min_size was sent to the model"
    assert np.abs(out[tiny.region.slices].astype(int) - frame[tiny.region.slices]).mean() > 5, "small face not blurred"


def test_faces_of_a_frame_go_to_the_model_in_one_batch():
    frame = make_frame(240, 320, seed=2)
    method = Negative()
    faces = [make_face((40, 40, 100, 120), frame.shape, 1, 1), make_face((200, 60, 260, 140), frame.shape, 2, 2)]
    method.anonymize(frame, faces, FrameInfo(0, 0.0, 320, 240))
    assert method.calls == [2]


def test_landmarks_of_a_turned_or_bent_head_give_way_to_the_box():
    box = (100.0, 100.0, 200.0, 220.0)
    frontal = TEMPLATE * 1.5 + np.array([102.0, 110.0], np.float32)
    assert landmarks_usable(frontal, box)
    turned = frontal.copy()
    turned[2, 0] += 0.5 * 33  # the nose half an eye distance beside the eyes' midpoint
    bent = frontal.copy()
    bent[3:, 1] -= 0.5 * 33  # the mouth corners half way up to the eye line
    for landmarks in (turned, bent):
        assert not landmarks_usable(landmarks, box)
        np.testing.assert_allclose(alignment_matrix(box, landmarks), alignment_matrix(box, None))


def _replaced(frame: np.ndarray, faces, **options) -> np.ndarray:
    out = frame.copy()
    Negative(**options).anonymize(out, faces, FrameInfo(0, 0.0, frame.shape[1], frame.shape[0]))
    return out


def test_a_face_found_inside_a_larger_one_is_covered_by_the_larger_replacement():
    """A small false "face" inside a real one (an eye, say) must not leave a second, small
    replacement on top of the large one, whatever order the faces come in."""
    frame = make_frame(240, 320, seed=3)
    large = make_face((100, 40, 220, 190), frame.shape, identity_key=1, track_id=1)
    inner = make_face((145, 90, 175, 120), frame.shape, identity_key=2, track_id=2)
    alone = _replaced(frame, [large])
    for order in ([inner, large], [large, inner]):
        assert np.array_equal(_replaced(frame, order)[inner.region.slices], alone[inner.region.slices])


def test_a_neighbours_original_is_never_pasted_over_its_replacement():
    """Where a face lies in the blurred surround (``surround=blur``) of a larger neighbour's mask,
    what is pasted there is the blurred *replaced* face, not the blurred original (compared at low
    frequencies, where a blurred copy of the original would show). The default surround (fill)
    uses no pixel inside the mask at all (``test_the_filled_surround_shows_nothing_of_the_original_hair``)."""
    frame = make_frame(240, 320, seed=4)
    large = make_face((60, 40, 180, 190), frame.shape, identity_key=1, track_id=1)
    near = make_face((185, 170, 215, 200), frame.shape, identity_key=2, track_id=2)
    assert large.region.x1 > near.box[2] and large.region.y1 > near.box[3], "the face should lie in the large mask"
    x0, y0, x1, y1 = (int(v) for v in near.box)

    def low(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image.astype(np.float32), (0, 0), 3)[y0:y1, x0:x1]

    original, near_alone = low(frame), low(_replaced(frame, [near], surround="blur"))
    for order in ([near, large], [large, near]):
        both = low(_replaced(frame, order, surround="blur"))
        assert np.abs(both - near_alone).mean() < 0.75 * np.abs(both - original).mean()


def test_a_detected_face_goes_over_a_larger_face_the_tracker_only_filled_in():
    """A filled-in box is the tracker's guess (a track extended back before the face came in,
    say); a face the detector saw in this frame keeps its replacement on top of it."""

    frame = make_frame(240, 320, seed=5)
    guessed = replace(make_face((40, 20, 240, 220), frame.shape, identity_key=1, track_id=1), status="filled")
    seen = make_face((120, 100, 156, 136), frame.shape, identity_key=2, track_id=2)
    core = (slice(112, 124), slice(132, 144))  # the middle third of the seen face
    alone = _replaced(frame, [seen])[core]
    for order in ([guessed, seen], [seen, guessed]):
        assert np.array_equal(_replaced(frame, order)[core], alone)


def test_fill_keeps_the_ring_and_paints_the_hole_from_it():
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, :40] = (200, 40, 40)
    image[:, 40:] = (40, 40, 200)
    known = np.ones((60, 80), np.float32)
    known[15:45, 20:60] = 0
    secret = image.copy()
    secret[15:45, 20:60] = (0, 255, 0)  # what lies in the hole must not matter
    filled = fill_from_ring(secret, known)
    assert np.array_equal(filled[known > 0], image[known > 0]), "a known pixel changed"
    assert np.array_equal(filled, fill_from_ring(image, known)), "the hole's own pixels reached the fill"
    left, right = filled[30, 25].astype(int), filled[30, 55].astype(int)
    assert left[0] > left[2] + 60 and right[2] > right[0] + 60, "the hole's sides do not take the colours beside them"
    assert filled[30, 30:50, 1].max() < 60, "no green (the hole's content) may show"


def test_the_fill_continues_the_texture_around_the_hole():
    """On a striped background the default fill carries the stripes on into the hole (mirrored
    across its edge); the smooth fill leaves a flat patch there. The hole's content plays no part."""
    image = np.zeros((200, 200, 3), np.uint8)
    image[:, (np.arange(200) // 6) % 2 == 1] = 200
    known = np.ones((200, 200), np.float32)
    ys, xs = np.mgrid[0:200, 0:200]
    hole = ((xs - 100) / 70.0) ** 2 + ((ys - 100) / 80.0) ** 2 < 1
    known[hole] = 0
    secret = image.copy()
    secret[hole] = (0, 255, 0)
    textured, smooth = fill_from_ring(secret, known), fill_from_ring(secret, known, texture=False)
    assert np.array_equal(textured, fill_from_ring(image, known)), "the hole's own pixels reached the fill"
    edge = hole & (((xs - 100) / 60.0) ** 2 + ((ys - 100) / 70.0) ** 2 >= 1)  # the hole's outer band
    assert textured[edge, 0].std() > 3 * smooth[edge, 0].std() and textured[edge, 0].std() > 30
    assert textured[hole, 1].max() <= 200 and np.array_equal(textured[known > 0], image[known > 0])


def test_the_fill_takes_nothing_from_a_neighbour_still_to_be_replaced():
    """A small face is pasted before its larger neighbour; its surround must not mirror or smooth
    the neighbour's original into its own mask where the neighbour's replacement will not cover it."""
    frame = make_frame(240, 320, seed=5)
    small = make_face((40, 80, 100, 140), frame.shape, identity_key=1, track_id=1)
    large = make_face((110, 40, 230, 190), frame.shape, identity_key=2, track_id=2)
    assert small.region.x1 > large.region.x0, "the small face's region should reach into the large mask"
    changed = frame.copy()
    ys, xs = np.mgrid[0:240, 0:320]
    inside_large = np.zeros((240, 320), bool)
    inside_large[large.region.slices] = large.alpha > 0
    inside_small = np.zeros((240, 320), bool)
    inside_small[small.region.slices] = small.alpha > 0
    changed[inside_large & ~inside_small] = (255, 0, 255)  # the neighbour's original, outside the small mask
    only_small = inside_small & ~inside_large
    assert np.array_equal(_replaced(frame, [small, large])[only_small], _replaced(changed, [small, large])[only_small])


def test_the_fill_under_the_chin_comes_from_below_the_mask():
    """Where the mask reaches its region's lower edge, the fill there continues the picture below
    the region (a neck, a dress), not the background on the far side of the face (a pale band)."""
    frame = np.full((300, 300, 3), 235, np.uint8)
    face = make_face((110, 60, 190, 166), frame.shape)
    assert face.alpha[-1, face.alpha.shape[1] // 2] > 0.1, "the mask should reach the region's lower edge"
    frame[170:, 95:205] = (200, 40, 40)
    under_chin = _replaced(frame, [face])[195:207, 150].astype(int)
    assert np.abs(under_chin - (200, 40, 40)).max() < 20, f"a pale band under the chin: {under_chin.tolist()}"


def test_ring_is_never_empty():
    assert ring_weight(np.full((10, 10), 0.7, np.float32)).sum() == 100
    alpha = np.ones((10, 10), np.float32)
    alpha[0, 0] = 0.0
    assert ring_weight(alpha).sum() == 1
    assert ring_weight(alpha, blocked=np.ones((10, 10), np.float32)).sum() == 1, "nothing free: the ring as it is"


def test_a_face_ringed_by_a_later_mask_gets_no_picture_of_it():
    """When a later face's mask covers the whole ring around a face, the ring is that face's
    original: the fill under this face may only be smooth, never its picture mirrored in (which
    would leave part of it, continued, where the later face does not paint)."""
    frame = np.zeros((300, 300, 3), np.uint8)
    frame[(np.indices((300, 300)).sum(axis=0) // 4) % 2 == 1] = 255  # a 4-px checkerboard: all structure
    face = make_face((110, 110, 210, 220), frame.shape, identity_key=1, track_id=1)
    later = replace(make_face((20, 20, 280, 280), frame.shape, 2, 2), region=Region(0, 0, 300, 300), alpha=np.ones((300, 300), np.float32))
    filled = _filled_surround(frame, face, [later], 1.0, (face.region.height, face.region.width), texture=True)
    inside = face.alpha > 0.5
    assert filled[inside].std() < 10, "the later face's picture was continued into this face's surround"


def _hair_experiment(surround: str) -> float:
    """Mean change in the mask outside the new face when the original's "hair" changes."""
    frame = np.full((240, 320, 3), 120, np.uint8)
    face = make_face((110, 70, 210, 190), frame.shape, identity_key=1)
    hair = frame.copy()
    hair[50:70, 140:180] = (250, 30, 30)  # above the forehead, well inside the mask
    assert face.alpha[50 - face.region.y0, 140 - face.region.x0] >= 1.0, "the hair should lie well inside the mask"
    plain, red = _replaced_with(frame, face, surround), _replaced_with(hair, face, surround)
    return float(np.abs(plain.astype(int) - red).mean())


def _replaced_with(frame: np.ndarray, face, surround: str) -> np.ndarray:
    out = frame.copy()
    Negative(surround=surround).anonymize(out, [face], FrameInfo(0, 0.0, frame.shape[1], frame.shape[0]))
    return out


def test_the_filled_surround_shows_nothing_of_the_original_hair():
    """With the default surround (fill) the original inside the mask but outside the new face (hair,
    ears, the outline of the head) does not reach the output; the old blurred surround showed it."""
    assert _hair_experiment("fill") < 0.05
    assert _hair_experiment("blur") > 0.5


def test_synthetic_faces_are_pasted_at_128_pixels_through_the_upsampler():
    faces = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype(np.uint8)
    big = upsample(faces)
    assert big.shape == (2, OUTPUT_SIZE, OUTPUT_SIZE, 3) and big.dtype == np.uint8
    assert Negative().paste_size == OUTPUT_SIZE == 128
    assert upsample(big) is big
    assert np.array_equal(upsample(faces), big), "the upsampler must be deterministic"
    assert np.array_equal(upsample(faces[1:]), big[1:]), "each face upsampled on its own, whatever the batch"
    assert upsample(faces[:, :40, :40], 100).shape == (2, 100, 100, 3)


def test_the_face_pasted_is_the_upsampled_one(monkeypatch):
    """A 64-px synthetic face goes through the upsampler to 128 px, and what it returns is what is
    pasted: here a flat face with a bright square, which shows in the frame where the face is."""
    import anonfilter.faces.replace as replace

    calls = []

    def marked(faces: np.ndarray, size: int = OUTPUT_SIZE) -> np.ndarray:
        calls.append((faces.shape, size))
        out = np.full((len(faces), size, size, 3), 100, np.uint8)
        out[:, 56:72, 56:72] = 250
        return out

    monkeypatch.setattr(replace, "upsample", marked)
    frame = make_frame(360, 360, seed=2)
    face = make_face((80, 60, 280, 300), frame.shape)
    out = _replaced(frame, [face])
    assert calls == [((1, CROP_SIZE, CROP_SIZE, 3), OUTPUT_SIZE)]
    matrix = alignment_matrix(face.box, np.asarray(face.landmarks), OUTPUT_SIZE)
    centre = cv2.invertAffineTransform(matrix) @ np.array([64.0, 64.0, 1.0])
    cheek = cv2.invertAffineTransform(matrix) @ np.array([40.0, 64.0, 1.0])
    (cx, cy), (kx, ky) = (int(v) for v in centre), (int(v) for v in cheek)
    assert np.ptp(out[cy - 3 : cy + 4, cx - 3 : cx + 4].astype(int), axis=(0, 1)).max() <= 2, "the square is flat"
    assert int(out[cy, cx].sum()) > int(out[ky, kx].sum()) + 100, "the bright square shows, brighter than the cheek"


def test_the_upsampler_adds_detail_that_keeps_to_the_input():
    """On a real photo never used in training, shrunk from 128 to 64 pixels and brought back: the
    learned upsampler draws detail (over 2.5 times a bilinear upscale's, less than the original
    has), and its low frequencies stay those of the input (shrunk and blurred again, within
    1.5 grey levels of the original's)."""
    from tests.replacement import load_portrait

    image, box, landmarks = load_portrait("pairs/facenet_pytorch/test_images/paul_rudd/1.jpg")
    face = warp_to_crop(image, alignment_matrix(box, landmarks, OUTPUT_SIZE), OUTPUT_SIZE)
    small = cv2.resize(face, (OUTPUT_SIZE // 2, OUTPUT_SIZE // 2), interpolation=cv2.INTER_AREA)
    learned = upsample(small[None])[0]
    bilinear = cv2.resize(small, (OUTPUT_SIZE, OUTPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    assert 2.5 * sharpness(bilinear) < sharpness(learned) < sharpness(face)

    def low(crop: np.ndarray) -> np.ndarray:
        shrunk = cv2.resize(crop, (OUTPUT_SIZE // 2, OUTPUT_SIZE // 2), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(shrunk.astype(np.float32), (0, 0), 1.0)

    assert np.abs(low(learned) - low(face)).mean() < 1.5
