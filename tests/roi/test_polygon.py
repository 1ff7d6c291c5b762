import numpy as np
import pytest

from napari_nora.roi import polygon_mask, polygon_patch


def test_square_with_vertices_on_pixel_centres_includes_its_outline():
    m = polygon_mask([(1, 1), (1, 3), (3, 3), (3, 1)], (5, 5))
    expect = np.zeros((5, 5), bool)
    expect[1:4, 1:4] = True
    np.testing.assert_array_equal(m, expect)


def test_large_circle_area_is_pi_r_squared():
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    v = np.c_[50 + 30.3 * np.sin(t), 60 + 30.3 * np.cos(t)]
    assert polygon_mask(v, (100, 120)).sum() == pytest.approx(np.pi * 30.3 ** 2, rel=0.01)


def test_triangle_matches_skimage():
    from skimage import draw

    rng = np.random.default_rng(3)
    for _ in range(50):
        v = rng.uniform(-2, 30, (rng.integers(3, 9), 2))
        np.testing.assert_array_equal(polygon_mask(v, (28, 28)), draw.polygon2mask((28, 28), v))


def test_polygon_outside_the_grid_or_degenerate_is_empty():
    assert not polygon_mask([(-5, -5), (-5, -1), (-1, -1)], (4, 4)).any()
    assert not polygon_mask([(1, 1), (2, 2)], (4, 4)).any()
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        polygon_mask([1, 2, 3], (4, 4))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_polygon_patch_fills_one_slice_of_the_volume(axis):
    shape = (6, 7, 8)
    plane = [n for ax, n in enumerate(shape) if ax != axis]
    v2 = [(1, 1), (1, plane[1] - 2), (plane[0] - 2, plane[1] - 2), (plane[0] - 2, 1)]
    p = polygon_patch(v2, shape, axis=axis, index=3)
    m = p.to_mask(shape)
    assert m.take(3, axis=axis).sum() == m.sum() == (plane[0] - 2) * (plane[1] - 2)
    v3 = np.insert(np.asarray(v2, float), axis, 3.0, axis=1)  # 3D vertices, axis coord dropped
    np.testing.assert_array_equal(polygon_patch(v3, shape, axis=axis, index=3).to_mask(shape), m)


def test_polygon_patch_refuses_a_slice_outside():
    with pytest.raises(ValueError, match="outside"):
        polygon_patch([(0, 0), (0, 2), (2, 2)], (4, 4, 4), axis=0, index=4)
