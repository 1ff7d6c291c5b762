"""The geometry contract: display index -> RAS mm in napari (S, A, R) order."""

import numpy as np
import pytest

from napari_nora import geometry
from tests.helpers import AFFINES, make_affine, marker_volume, rotation, world_of_voxel


@pytest.mark.parametrize("name", [k for k in AFFINES if "oblique" not in k])
def test_aligned_is_a_view_and_exact(name):
    aff = AFFINES[name]
    vol = marker_volume()
    geom = geometry.display_geometry(aff, vol.shape)
    assert not geom.oblique
    view = geometry.aligned_view(vol, geom)
    assert np.shares_memory(view, vol)
    assert view.shape == geom.shape
    # every display voxel maps to the world position of its source voxel
    rng = np.random.default_rng(3)
    for _ in range(20):
        d = np.array([rng.integers(0, s) for s in view.shape])
        v = (geom.disp2vox @ np.r_[d, 1])[:3].round().astype(int)
        assert view[tuple(d)] == vol[tuple(v)]
        np.testing.assert_allclose((geom.disp2ras @ np.r_[d, 1])[:3], world_of_voxel(aff, v),
                                   atol=1e-9)
    # positive scale in (S, A, R) order, display axes run along +S, +A, +R
    assert all(s > 0 for s in geom.scale)


@pytest.mark.parametrize("name", ["oblique", "oblique_permuted"])
def test_oblique_display_grid_is_axis_aligned_and_covers_source(name):
    aff = AFFINES[name]
    vol = marker_volume().astype(np.float32)
    geom = geometry.display_geometry(aff, vol.shape)
    assert geom.oblique
    lin = geom.disp2ras[:3, :3]
    assert np.count_nonzero(lin) == 3  # axis-aligned: napari slices it orthogonally
    res = geometry.resample_to_display(vol, geom, order=0)
    # the bright marker lands within half a display voxel of its true world position
    peak_disp = np.array(np.unravel_index(res.argmax(), res.shape))
    peak_ras = (geom.disp2ras @ np.r_[peak_disp, 1])[:3]
    true_ras = world_of_voxel(aff, (17, 5, 11))
    assert np.all(np.abs(peak_ras - true_ras)[::-1] <= np.array(geom.scale) / 2 + 1e-6)


def test_oblique_resampling_keeps_dtype():
    vol = marker_volume(dtype=np.int16)
    geom = geometry.display_geometry(AFFINES["oblique"], vol.shape)
    assert geometry.resample_to_display(vol, geom).dtype == np.int16


def test_nearly_aligned_within_tolerance_is_aligned_but_tilted_is_not():
    assert geometry.is_axis_aligned(make_affine(rot=rotation(1e-4 * 0.1, 0, 0)))
    assert not geometry.is_axis_aligned(make_affine(rot=rotation(0.5, 0, 0)))


@pytest.mark.parametrize("name", list(AFFINES))
def test_labels_round_trip_to_source_grid(name):
    aff = AFFINES[name]
    shape = (24, 20, 16)
    src = np.zeros(shape, np.uint8)
    src[4:12, 6:15, 3:9] = 1
    src[15:20, 2:8, 10:14] = 2
    geom = geometry.display_geometry(aff, shape)
    disp = (geometry.aligned_view(src, geom) if not geom.oblique
            else geometry.resample_to_display(src, geom, order=0))
    back = geometry.labels_to_source(disp, geom, shape)
    assert back.shape == shape
    if geom.oblique:  # centre sampling: the region interiors come back exactly
        inner = np.zeros(shape, bool)
        inner[5:11, 7:14, 4:8] = True
        assert np.all(back[inner] == 1)
        assert abs(int((back == 1).sum()) - int((src == 1).sum())) <= 0.35 * (src == 1).sum()
    else:
        np.testing.assert_array_equal(back, src)


def test_lps_to_ras_round_trip():
    aff_lps = make_affine(zooms=(0.5, 0.5, 1.0), origin=(-100, -120, 30), rot=rotation(10, 5, 0))
    aff_ras = geometry.lps_to_ras(aff_lps)
    p = np.array([3, 4, 5, 1.0])
    lps, ras = aff_lps @ p, aff_ras @ p
    np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]])
    np.testing.assert_allclose(geometry.lps_to_ras(aff_ras), aff_lps)
