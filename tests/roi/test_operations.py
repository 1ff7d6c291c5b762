import numpy as np
import pytest
from scipy import ndimage

from napari_nora.roi import (closing, complement, difference, dilation, erosion,
                             intersection, largest_component, opening, remove_salt,
                             resample_mask, union)
from tests.helpers import make_affine, rotation
from tests.roi.conftest import ball


def cube(shape, lo, hi):
    m = np.zeros(shape, bool)
    m[tuple(slice(a, b) for a, b in zip(lo, hi))] = True
    return m


def test_erosion_and_dilation_of_a_cube_move_each_face_by_one_voxel():
    m = cube((12, 12, 12), (2, 3, 4), (9, 10, 8))
    np.testing.assert_array_equal(erosion(m), cube(m.shape, (3, 4, 5), (8, 9, 7)))
    d = dilation(m)
    assert d.sum() == m.sum() + 2 * (7 * 7 + 7 * 4 + 7 * 4)  # 6-neighbourhood: faces only
    np.testing.assert_array_equal(erosion(m, iterations=2), cube(m.shape, (4, 5, 6), (7, 8, 6)))


def test_dilation_of_one_voxel_is_the_6_neighbourhood_or_4_in_a_single_slice():
    m = np.zeros((5, 5, 5), bool)
    m[2, 2, 2] = True
    assert dilation(m).sum() == 7
    s = np.zeros((1, 5, 5), bool)
    s[0, 2, 2] = True
    assert dilation(s).sum() == 5
    assert erosion(dilation(s)).sum() == 1  # a single-slice ROI erodes in its plane


def test_morphology_matches_scipy_on_the_whole_volume(rng):
    m = ndimage.binary_opening(rng.random((20, 22, 24)) > 0.6)
    m[:, :, :2] = True  # touches the border
    st = ndimage.generate_binary_structure(3, 1)
    np.testing.assert_array_equal(dilation(m, iterations=2),
                                  ndimage.binary_dilation(m, st, iterations=2))
    np.testing.assert_array_equal(erosion(m), ndimage.binary_erosion(m, st, border_value=1))
    np.testing.assert_array_equal(
        closing(m), ndimage.binary_erosion(ndimage.binary_dilation(m, st), st, border_value=1))
    np.testing.assert_array_equal(
        opening(m), ndimage.binary_dilation(ndimage.binary_erosion(m, st, border_value=1), st))


def test_opening_removes_specks_and_closing_fills_holes():
    m = cube((10, 10, 10), (2, 2, 2), (8, 8, 8))
    m[0, 0, 9] = True
    m[5, 5, 5] = False
    assert not opening(m)[0, 0, 9]
    assert closing(m)[5, 5, 5]


def test_operations_do_not_mutate_and_handle_empty_rois():
    m = cube((6, 6, 6), (1, 1, 1), (4, 4, 4))
    before = m.copy()
    for op in (erosion, dilation, opening, closing):
        op(m)
        assert not op(np.zeros((3, 3, 3), bool)).any()
    np.testing.assert_array_equal(m, before)
    with pytest.raises(ValueError, match="iterations"):
        erosion(m, iterations=0)


def test_remove_salt_drops_components_below_the_size():
    m = cube((20, 20, 20), (2, 2, 2), (6, 6, 6))  # 64 voxels
    m |= cube(m.shape, (10, 10, 10), (12, 12, 12))  # 8 voxels
    m[18, 18, 18] = True  # 1 voxel
    m[15, 15, 15] = m[16, 16, 16] = True  # two diagonal singletons under 6-connectivity
    out = remove_salt(m, min_size=8)
    assert out.sum() == 64 + 8
    assert remove_salt(m, min_size=9).sum() == 64
    assert remove_salt(m, min_size=2, connectivity=3).sum() == 64 + 8 + 2
    assert largest_component(m).sum() == 64
    assert not remove_salt(np.zeros((3, 3), bool), min_size=1).any()


def test_set_operations_on_two_overlapping_cubes():
    a = cube((10, 10, 10), (0, 0, 0), (6, 6, 6))
    b = cube((10, 10, 10), (3, 3, 3), (9, 9, 9))
    assert intersection(a, b).sum() == 27
    assert union(a, b).sum() == 216 + 216 - 27
    assert difference(a, b).sum() == 216 - 27
    assert complement(a).sum() == 1000 - 216
    assert union(a, b, cube(a.shape, (9, 9, 9), (10, 10, 10))).sum() == 216 + 216 - 27 + 1
    with pytest.raises(ValueError, match="resample"):
        union(a, np.zeros((5, 5, 5), bool))


def test_resample_mask_onto_a_coarser_shifted_grid_keeps_world_position():
    fine = make_affine(zooms=(1, 1, 1))
    coarse = make_affine(zooms=(2, 2, 2), origin=(1.0, 1.0, 1.0))
    m = cube((20, 20, 20), (5, 5, 5), (15, 15, 15))  # world 5..14 mm
    out = resample_mask(m, fine, shape=(10, 10, 10), like_affine=coarse)
    # coarse voxel v has its centre at 1 + 2v mm: inside for 5 <= 1 + 2v <= 14 -> v in 2..6
    np.testing.assert_array_equal(out, cube((10, 10, 10), (2, 2, 2), (7, 7, 7)))


def test_resample_mask_onto_an_oblique_grid_keeps_a_ball_in_place():
    a_src = make_affine(zooms=(1, 1, 1))
    rot = rotation(20, -15, 30)
    a_obl = make_affine(zooms=(1, 1, 1), rot=rot, origin=20.0 - rot @ (30.0, 30.0, 30.0))
    m = ball((40, 40, 40), (20, 20, 20), 8)
    out = resample_mask(m, a_src, shape=(60, 60, 60), like_affine=a_obl)
    idx = np.argwhere(out)
    world = idx @ a_obl[:3, :3].T + a_obl[:3, 3]
    assert np.linalg.norm(world - 20.0, axis=1).max() <= 8 + np.sqrt(3) / 2
    assert out.sum() == pytest.approx(m.sum(), rel=0.05)
