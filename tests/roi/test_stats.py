import io
import math

import numpy as np
import pytest

from napari_nora.roi import COLUMNS, roi_stats, stats_table, write_csv
from napari_nora.roi.stats import percentiles
from tests.helpers import make_affine, rotation
from tests.roi.conftest import ball


def direct(values):
    v = np.asarray(values, dtype=np.float64)
    return dict(mean=v.mean(), std=v.std(), median=np.median(v), p25=np.percentile(v, 25),
                p75=np.percentile(v, 75))


def assert_stats(row, values, *, rtol=1e-9):
    for key, val in direct(values).items():
        assert row[key] == pytest.approx(val, rel=rtol, abs=1e-9), key


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
def test_same_grid_statistics_equal_direct_numpy(rng, dtype):
    shape = (20, 24, 28)
    img = (rng.normal(50, 30, shape)).clip(0, 255).astype(dtype)
    mask = ball(shape, (10, 12, 14), 7) | (rng.random(shape) > 0.97)
    row = roi_stats(mask, img)
    assert row["voxels"] == mask.sum() and row["outside"] == 0
    assert_stats(row, img[mask], rtol=1e-6 if dtype == np.float32 else 1e-9)


def test_volume_of_a_ball_on_anisotropic_voxels():
    zooms = (2.5, 0.9, 1.2)
    shape = (30, 70, 60)
    mask = ball(shape, (15, 35, 30), 20.0, zooms)
    row = roi_stats(mask, np.ones(shape), affine_roi=make_affine(zooms=zooms))
    assert row["volume_ml"] == pytest.approx(mask.sum() * np.prod(zooms) / 1000)
    assert row["volume_ml"] == pytest.approx(4 / 3 * math.pi * 20 ** 3 / 1000, rel=0.02)
    assert math.isnan(row["area_cm2"])


def test_area_of_single_slice_rois():
    zooms = (5.0, 0.5, 0.8)
    flat = np.zeros((1, 20, 30), bool)
    flat[0, 2:12, 5:25] = True  # 200 pixels of 0.4 mm^2
    row = roi_stats(flat, np.ones(flat.shape), affine_roi=make_affine(zooms=zooms))
    assert row["area_cm2"] == pytest.approx(200 * 0.4 / 100)
    vol = np.zeros((10, 20, 30), bool)
    vol[2:8, 4:9, 7] = True  # one slice along axis 2 (0.8 mm): pixels of 5.0 x 0.5
    row = roi_stats(vol, np.ones(vol.shape), affine_roi=make_affine(zooms=zooms))
    assert row["area_cm2"] == pytest.approx(30 * 2.5 / 100)
    obl = make_affine(zooms=zooms, rot=rotation(10, 20, 30))
    assert roi_stats(flat, np.ones(flat.shape), affine_roi=obl)["area_cm2"] == pytest.approx(0.8)


def linear_image(shape, affine, coef=(3.0, -2.0, 0.5), const=7.0):
    idx = np.indices(shape).reshape(3, -1).astype(float)
    ras = affine[:3, :3] @ idx + affine[:3, 3:4]
    return (np.asarray(coef) @ ras + const).reshape(shape), coef, const


@pytest.mark.parametrize("rot", [None, rotation(15, -25, 40)])
def test_image_on_another_grid_is_sampled_at_world_positions(rot):
    a_roi = make_affine(zooms=(1.0, 1.0, 1.0), origin=(-10.0, -10.0, -10.0))
    a_img = make_affine(zooms=(1.5, 0.75, 2.0), perm=(2, 0, 1), flips=(1, -1, 1), rot=rot,
                        origin=(0.0, 0.0, 0.0))
    a_img[:3, 3] = -a_img[:3, :3] @ np.array([20.0, 40.0, 15.0])  # RAS 0 at img index (20,40,15)
    img, coef, const = linear_image((40, 80, 30), a_img)
    mask = ball((21, 21, 21), (10, 10, 10), 6)  # RAS within 6 mm of the origin
    row = roi_stats(mask, img.astype(np.float32), affine_roi=a_roi, affine_image=a_img)
    idx = np.argwhere(mask).T.astype(float)
    expect = np.asarray(coef) @ (a_roi[:3, :3] @ idx + a_roi[:3, 3:4]) + const
    assert row["outside"] == 0
    assert_stats(row, expect, rtol=1e-5)
    # by index the answer would be wrong: the grids differ
    assert abs(row["mean"] - img[:21, :21, :21][mask].mean()) > 1


def test_roi_voxels_outside_the_image_are_counted_and_left_out():
    a_roi = make_affine()
    a_img = make_affine(origin=(5.0, 0.0, 0.0))  # image index 0 at ROI index 5 along axis 0
    img = np.arange(10 * 6 * 6, dtype=np.float64).reshape(10, 6, 6)
    mask = np.zeros((20, 6, 6), bool)
    mask[3:8, 2, 2] = True  # ROI indices 3, 4 fall before the image; 5..7 -> image 0..2
    row = roi_stats(mask, img, affine_roi=a_roi, affine_image=a_img)
    assert row["outside"] == 2 and row["voxels"] == 5
    assert_stats(row, img[0:3, 2, 2])


def test_statistics_on_display_views_equal_numpy(rng):
    base = rng.integers(-1000, 3000, (16, 18, 20)).astype(np.int16)
    view = base.transpose(2, 0, 1)[::-1, :, ::-1]  # what geometry.aligned_view gives
    mask = rng.random(view.shape) > 0.8
    assert_stats(roi_stats(mask, view), view[mask])


def test_empty_roi_gives_nan_statistics_and_zero_volume():
    row = roi_stats(np.zeros((4, 4, 4), bool), np.ones((4, 4, 4)))
    assert row["voxels"] == 0 and row["volume_ml"] == 0 and math.isnan(row["mean"])


def test_histogram_percentiles_equal_numpy(rng):
    for vals in (rng.integers(-3000, 3000, 999), rng.integers(0, 5, 10), np.array([7]),
                 rng.integers(-2**31, 2**31 - 1, 50)):
        np.testing.assert_allclose(percentiles(vals), np.percentile(vals, [25, 50, 75]))
    assert np.isnan(percentiles(np.array([], np.int16))).all()


def test_stats_table_covers_every_pair_and_exports_csv(rng):
    shape = (10, 10, 10)
    aff = make_affine(zooms=(2, 2, 2))
    rois = {"a": (ball(shape, (5, 5, 5), 6, (2, 2, 2)), aff), "b": (np.ones(shape, bool), aff)}
    images = {"t1": (rng.normal(size=shape), aff), "ct": (rng.integers(0, 9, shape), aff),
              "other": (rng.normal(size=(5, 5, 5)), make_affine(zooms=(4, 4, 4)))}
    rows = stats_table(rois, images)
    assert [(r["roi"], r["image"]) for r in rows] == [(r, i) for r in rois for i in images]
    assert rows[4]["mean"] == pytest.approx(images["ct"][0].mean())
    buf = io.StringIO()
    write_csv(rows, buf)
    lines = buf.getvalue().splitlines()
    assert lines[0].split(",") == list(COLUMNS) and len(lines) == 7


def test_gather_on_strided_views_equals_fancy_indexing(rng):
    from napari_nora.roi.stats import gather

    b = rng.integers(0, 1000, (10, 12, 14)).astype(np.int16)
    for v in [b, b.T, b[::-1, :, ::-1].transpose(1, 0, 2), b[::2, 1:, ::-3], b[:, 5:6]]:
        idx = np.nonzero(rng.random(v.shape) > 0.5)
        np.testing.assert_array_equal(gather(v, idx), v[idx])
