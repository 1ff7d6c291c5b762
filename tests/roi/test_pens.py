import numpy as np
import pytest

from napari_nora.roi import brush, footprint, interpolate_path, magic_pen, threshold_pen
from tests.roi.conftest import ball


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (3.0, 0.5, 0.8), (0.7, 0.7, 2.5)])
def test_ball_footprint_volume_is_the_sphere_volume_on_anisotropic_voxels(spacing):
    r = 12.0
    fp = footprint(r, spacing=spacing)
    volume = fp.sum() * np.prod(spacing)
    assert volume == pytest.approx(4 / 3 * np.pi * r ** 3, rel=0.03)
    assert fp[tuple(n // 2 for n in fp.shape)]
    np.testing.assert_array_equal(fp, fp[::-1, ::-1, ::-1])  # symmetric


def test_disc_footprint_is_a_disc_in_the_plane():
    fp = footprint(10.0, spacing=(4.0, 0.5, 1.0), axis=0)
    assert fp.shape == (1, 41, 21)
    assert fp.sum() * 0.5 * 1.0 == pytest.approx(np.pi * 100, rel=0.02)


def test_zero_radius_is_the_centre_voxel_and_negative_radius_is_refused():
    assert footprint(0.0).sum() == 1
    with pytest.raises(ValueError, match="radius"):
        footprint(-1.0)


def test_brush_matches_an_analytic_ball_and_is_clipped_at_the_border():
    shape, spacing = (10, 30, 30), (2.0, 1.0, 1.0)
    p = brush(np.zeros(shape), (1, 3, 15), radius=5, spacing=spacing)
    np.testing.assert_array_equal(p.to_mask(shape), ball(shape, (1, 3, 15), 5, spacing))
    assert all(s.start >= 0 and s.stop <= n for s, n in zip(p.slices, shape))


def test_brush_outside_the_image_selects_nothing():
    assert brush(np.zeros((5, 5, 5)), (9, 9, 9), radius=2).empty


def test_2d_pen_stays_in_its_slice():
    shape = (8, 20, 20)
    p = brush(np.zeros(shape), (3, 10, 10), radius=4, axis=0)
    m = p.to_mask(shape)
    assert m[3].sum() == m.sum() == ball((20, 20), (10, 10), 4, (1, 1)).sum()


@pytest.mark.parametrize("mode", ["higher", "lower"])
def test_threshold_pen_is_threshold_inside_the_pen(two_blobs, mode):
    shape, c, r = two_blobs.shape, (6, 15, 22), 9.0
    p = threshold_pen(two_blobs, c, threshold=100, mode=mode, radius=r, axis=0)
    crit = two_blobs >= 100 if mode == "higher" else two_blobs <= 100
    in_plane = np.zeros(shape, bool)
    in_plane[6] = ball(shape[1:], c[1:], r, (1, 1))
    np.testing.assert_array_equal(p.to_mask(shape), crit & in_plane)


def test_threshold_rgrow_keeps_only_the_centre_component(two_blobs):
    shape = two_blobs.shape
    free = threshold_pen(two_blobs, (6, 15, 15), threshold=100, radius=12, axis=0).to_mask(shape)
    grow = threshold_pen(two_blobs, (6, 15, 15), threshold=100, radius=12, axis=0,
                         connected=True).to_mask(shape)
    assert free[6, 15, 26] and not grow[6, 15, 26]  # the second cube is in reach, not connected
    assert grow[6, 10:20, 10:20].all() and grow.sum() == 100


def test_threshold_rgrow_on_a_failing_centre_selects_nothing(two_blobs):
    p = threshold_pen(two_blobs, (6, 5, 5), threshold=100, radius=12, axis=0, connected=True)
    assert p.empty


def test_threshold_pen_3d_rgrow_uses_the_ball(two_blobs):
    shape, spacing = two_blobs.shape, (3.0, 1.0, 1.0)
    p = threshold_pen(two_blobs, (6, 15, 15), threshold=100, radius=6, spacing=spacing,
                      connected=True)
    expect = ball(shape, (6, 15, 15), 6, spacing) & (two_blobs >= 100)
    np.testing.assert_array_equal(p.to_mask(shape), expect)  # the ball clips one convex cube


def test_threshold_pen_rejects_an_unknown_mode(two_blobs):
    with pytest.raises(ValueError, match="higher"):
        threshold_pen(two_blobs, (0, 0, 0), threshold=1, mode="above", radius=1)


def test_magic_pen_similarity_scales_with_the_window():
    img = np.zeros((1, 11, 11), np.float32)
    img[0, :, :] = np.arange(11)[None, :] * 3.0  # 0, 3, ..., 30 along columns
    c = (0, 5, 5)  # value 15
    narrow = magic_pen(img, c, window=(0, 40), tolerance=0.1, radius=20, axis=0)  # +-4
    wide = magic_pen(img, c, window=(0, 100), tolerance=0.1, radius=20, axis=0)  # +-10
    cols = lambda p: np.flatnonzero(p.to_mask(img.shape)[0].any(0))  # noqa: E731
    assert list(cols(narrow)) == [4, 5, 6]
    assert list(cols(wide)) == [2, 3, 4, 5, 6, 7, 8]


def test_connected_magic_pen_stops_at_a_gap(two_blobs):
    shape = two_blobs.shape
    kw = dict(window=(0, 400), tolerance=0.05, radius=15, axis=0)
    free = magic_pen(two_blobs, (6, 15, 15), **kw).to_mask(shape)
    conn = magic_pen(two_blobs, (6, 15, 15), connected=True, **kw).to_mask(shape)
    assert free[6, 15, 26] and not conn[6, 15, 26]
    assert conn.sum() == 100


def test_pens_do_not_mutate_the_image(two_blobs):
    before = two_blobs.copy()
    magic_pen(two_blobs, (6, 15, 15), window=(0, 400), radius=5, connected=True)
    threshold_pen(two_blobs, (6, 15, 15), threshold=1, radius=5, connected=True)
    np.testing.assert_array_equal(two_blobs, before)


def test_interpolate_path_leaves_no_gap():
    pts = interpolate_path((0, 0, 0), (0, 10, 3), step=2)
    steps = np.abs(np.diff(np.vstack([[0, 0, 0], pts]), axis=0)).max(axis=1)
    assert steps.max() <= 2 and np.allclose(pts[-1], (0, 10, 3))
