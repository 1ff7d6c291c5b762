import numpy as np
import pytest

from napari_nora.roi import region_grow, region_grow_label, region_grow_patch
from napari_nora.roi.regiongrow import in_range
from tests.roi.conftest import ball


def noisy_ball(rng, shape=(40, 48, 44), dtype=np.int16):
    img = np.full(shape, 100.0) + 300.0 * ball(shape, (20, 24, 22), 11)
    return (img + rng.normal(0, 25, shape)).astype(dtype)


@pytest.mark.parametrize("seed", [(20, 24, 22), (0, 0, 0), (39, 47, 43), (5, 40, 10)])
@pytest.mark.parametrize("connectivity", [1, 3])
def test_region_grow_equals_labelling_the_whole_image(rng, seed, connectivity):
    img = noisy_ball(rng)
    ours = region_grow(img, seed, tolerance=60, connectivity=connectivity)
    ref = region_grow_label(img, seed, tolerance=60, connectivity=connectivity)
    np.testing.assert_array_equal(ours, ref)
    assert ours[seed]


def test_region_grow_on_a_clean_ball_finds_the_ball():
    shape = (30, 30, 30)
    b = ball(shape, (15, 14, 16), 9)
    img = np.where(b, 500, 0).astype(np.uint16)
    np.testing.assert_array_equal(region_grow(img, (15, 14, 16), tolerance=10), b)


def test_region_grow_follows_a_thin_winding_tube_across_many_boxes():
    img = np.zeros((64, 64, 64), np.float32)
    img[2, 2, :] = 1  # a path along x, then y, then z through the whole volume
    img[2, :, 61] = 1
    img[:, 61, 61] = 1
    patch = region_grow_patch(img, (2, 2, 0), tolerance=0.5, initial_half_width=2)
    assert patch.count == 64 + 63 + 63
    assert patch.to_mask(img.shape)[63, 61, 61]


def test_region_grow_on_float_and_bool_like_inputs(rng):
    img = noisy_ball(rng).astype(np.float32) / 7.0
    np.testing.assert_array_equal(region_grow(img, (20, 24, 22), tolerance=8.0),
                                  region_grow_label(img, (20, 24, 22), tolerance=8.0))
    u8 = (noisy_ball(rng) // 4).clip(0, 255).astype(np.uint8)
    np.testing.assert_array_equal(region_grow(u8, (1, 1, 1), tolerance=15),
                                  region_grow_label(u8, (1, 1, 1), tolerance=15))


def test_region_grow_refuses_a_seed_outside_and_a_negative_tolerance():
    img = np.zeros((4, 4, 4))
    with pytest.raises(ValueError, match="outside"):
        region_grow(img, (4, 0, 0), tolerance=1)
    with pytest.raises(ValueError, match="tolerance"):
        region_grow(img, (0, 0, 0), tolerance=-1)


def test_region_grow_does_not_mutate_the_image(rng):
    img = noisy_ball(rng)
    before = img.copy()
    region_grow(img, (20, 24, 22), tolerance=60)
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.uint8, np.int8])
def test_in_range_matches_two_comparisons_up_to_the_dtype_limits(dtype):
    info = np.iinfo(dtype)
    vals = np.array([info.min, info.min + 1, -1 if info.min < 0 else 0, 0, 1, 7,
                     info.max - 1, info.max], dtype=dtype)
    for lo, hi in [(-1e12, 1e12), (0.5, 7), (info.min, info.min), (info.max - 1.5, 1e12),
                   (5, 2), (-3.2, 0.9)]:
        np.testing.assert_array_equal(in_range(vals, lo, hi), (vals >= lo) & (vals <= hi),
                                      err_msg=f"{dtype} {lo} {hi}")


@pytest.mark.parametrize("seed", [(3, 3, 3), (48, 48, 48), (30, 70, 20)])
def test_dense_regions_that_jump_to_the_whole_image_still_equal_labelling(rng, seed):
    # background (seed in the corner), a large dense organ and a second compartment behind a
    # wall: a dense region that reaches every face of a big box is labelled over the whole image
    img = np.full((96, 96, 96), 100.0)
    img[10:86, 10:86, 10:86] = 300.0
    img[:, 60:62, :] = 900.0
    img = (img + rng.normal(0, 10, img.shape)).astype(np.int16)
    ours = region_grow(img, seed, tolerance=50)
    np.testing.assert_array_equal(ours, region_grow_label(img, seed, tolerance=50))
