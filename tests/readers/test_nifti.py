"""NIfTI reader: geometry in world coordinates, header choices, dtypes, lazy 4D, labels."""

import gzip

import nibabel as nib
import numpy as np
import pytest
from napari.layers import Labels, Layer

from napari_nora.readers import NoraReadError, get_reader, read
from napari_nora.readers.layers import LazyTimeSeries
from tests.helpers import AFFINES, marker_volume, world_of_voxel

MARKER = (17, 5, 11)


def layer_of(path):
    (layer_tuple,) = read(path)
    return Layer.create(*layer_tuple)


def brightest_world_ras(layer):
    data = np.asarray(layer.data)
    idx = np.unravel_index(np.argmax(data), data.shape)
    return np.asarray(layer.data_to_world(idx))[::-1]  # (S, A, R) -> RAS


@pytest.mark.parametrize("name", list(AFFINES))
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_marker_lands_at_its_scanner_position(tmp_path, name, suffix):
    aff = AFFINES[name]
    p = tmp_path / f"vol{suffix}"
    nib.save(nib.Nifti1Image(marker_volume(marker=MARKER), aff), p)
    layer = layer_of(p)
    true = world_of_voxel(aff, MARKER)
    got = brightest_world_ras(layer)
    if "oblique" in name:  # resampled display grid: within half a display voxel
        assert np.all(np.abs(got - true) <= np.array(layer.scale)[::-1] / 2 + 1e-6)
    else:
        np.testing.assert_allclose(got, true, atol=1e-6)
    assert layer.data.dtype == np.int16


def test_sform_wins_when_coded_else_qform(tmp_path):
    vol = marker_volume(marker=MARKER)
    q, s = AFFINES["ras"], AFFINES["lps"]
    img = nib.Nifti1Image(vol, None)
    img.set_qform(q, code=1)
    img.set_sform(s, code=2)
    nib.save(img, tmp_path / "both.nii")
    np.testing.assert_allclose(brightest_world_ras(layer_of(tmp_path / "both.nii")),
                               world_of_voxel(s, MARKER), atol=1e-5)
    img.set_sform(s, code=0)
    nib.save(img, tmp_path / "qonly.nii")
    np.testing.assert_allclose(brightest_world_ras(layer_of(tmp_path / "qonly.nii")),
                               world_of_voxel(q, MARKER), atol=1e-5)


def test_scaling_applied_as_float32_identity_keeps_dtype(tmp_path):
    vol = marker_volume(marker=MARKER)
    img = nib.Nifti1Image(vol, AFFINES["ras"])
    img.header.set_slope_inter(2.0, 10.0)
    nib.save(img, tmp_path / "scaled.nii.gz")
    layer = layer_of(tmp_path / "scaled.nii.gz")
    assert layer.data.dtype == np.float32
    assert np.asarray(layer.data).max() == pytest.approx(2 * 1000 + 10)
    nib.save(nib.Nifti1Image(vol.astype(np.uint8), AFFINES["ras"]), tmp_path / "u8.nii.gz")
    assert layer_of(tmp_path / "u8.nii.gz").data.dtype == np.uint8


def test_contrast_limits_are_robust_percentiles(tmp_path):
    vol = marker_volume(marker=MARKER)  # noise 0..49 plus one 1000 voxel
    nib.save(nib.Nifti1Image(vol, AFFINES["ras"]), tmp_path / "v.nii")
    lo, hi = layer_of(tmp_path / "v.nii").contrast_limits
    assert hi < 100  # a single outlier voxel does not set the window


def test_big_endian_and_analyze_pair_and_nifti2(tmp_path):
    vol = marker_volume(marker=MARKER)
    big = nib.Nifti1Image(vol.astype(">i2"), AFFINES["lps"])
    nib.save(big, tmp_path / "big.nii.gz")
    nib.save(nib.Nifti1Pair(vol, AFFINES["lps"]), tmp_path / "pair.img")
    nib.save(nib.Nifti2Image(vol, AFFINES["lps"]), tmp_path / "two.nii")
    for f in ("big.nii.gz", "pair.hdr", "pair.img", "two.nii"):
        layer = layer_of(tmp_path / f)
        assert layer.data.dtype.isnative
        np.testing.assert_allclose(brightest_world_ras(layer),
                                   world_of_voxel(AFFINES["lps"], MARKER), atol=1e-5)


def test_rgb24(tmp_path):
    rgb = np.zeros((8, 9, 10), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"][2, 3, 4] = 255
    nib.save(nib.Nifti1Image(rgb, AFFINES["ras"]), tmp_path / "rgb.nii.gz")
    layer = layer_of(tmp_path / "rgb.nii.gz")
    assert layer.rgb and layer.data.shape[-1] == 3


def test_4d_loads_lazily_one_volume_at_a_time(tmp_path):
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 100, size=(10, 11, 12, 7)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, AFFINES["sagittal_permuted"]), tmp_path / "f.nii.gz")
    (data, kwargs, kind), = read(tmp_path / "f.nii.gz")
    assert isinstance(data, LazyTimeSeries) and data.shape[0] == 7
    assert len(data._cache) == 1  # only the first volume was read
    layer = Layer.create(data, kwargs, kind)
    assert layer.ndim == 4
    # volume 5 in display order equals the source volume 5 through the contract's view
    from napari_nora import geometry
    geom = geometry.display_geometry(AFFINES["sagittal_permuted"], vol.shape[:3])
    np.testing.assert_array_equal(data[5], geometry.aligned_view(vol[..., 5], geom))


def test_label_image_with_table_beside_is_labels_with_names(tmp_path):
    lab = np.zeros((10, 10, 10), np.uint8)
    lab[2:5, 2:5, 2:5] = 3
    lab[6:9, 6:9, 6:9] = 7
    nib.save(nib.Nifti1Image(lab, AFFINES["ras"]), tmp_path / "seg.nii.gz")
    (tmp_path / "seg.txt").write_text("0 Unknown 0 0 0 0\n3 Left-Hippocampus 220 216 20 0\n"
                                      "7 Right-Amygdala 103 255 255 0\n")
    layer = layer_of(tmp_path / "seg.nii.gz")
    assert isinstance(layer, Labels)
    names = dict(zip(layer.features["index"], layer.features["name"]))
    assert names[3] == "Left-Hippocampus" and names[7] == "Right-Amygdala"
    np.testing.assert_allclose(layer.get_color(3)[:3], np.array([220, 216, 20]) / 255, atol=0.01)


def test_real_atlas_with_label_table(testdata):
    layer = layer_of(testdata / "mricron" / "aal.nii.gz")
    assert isinstance(layer, Labels)
    names = dict(zip(layer.features["index"], layer.features["name"]))
    assert names[1] == "Precentral_L"
    assert len(names) > 100


def test_real_colin27_matches_nibabel_world(testdata):
    p = testdata / "mricron" / "ch2.nii.gz"
    img = nib.load(p)
    layer = layer_of(p)
    ref = np.asarray(img.dataobj)
    # the world position of a set of voxels agrees with nibabel's affine
    for ijk in [(0, 0, 0), (100, 150, 80), tuple(s - 1 for s in ref.shape)]:
        ras = world_of_voxel(img.affine, ijk)
        disp = np.linalg.inv(layer.metadata["disp2vox"]) @ np.r_[ijk, 1]
        np.testing.assert_allclose(np.asarray(layer.data_to_world(disp[:3]))[::-1], ras, atol=1e-4)
        assert layer.data[tuple(disp[:3].round().astype(int))] == ref[ijk]


def test_corrupt_files_are_refused_with_the_file_named(tmp_path):
    vol = marker_volume()
    nib.save(nib.Nifti1Image(vol, AFFINES["ras"]), tmp_path / "ok.nii.gz")
    raw = gzip.decompress((tmp_path / "ok.nii.gz").read_bytes())
    (tmp_path / "trunc.nii.gz").write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(NoraReadError, match="trunc.nii.gz"):
        read(tmp_path / "trunc.nii.gz")
    (tmp_path / "junk.nii").write_bytes(b"not an image" * 100)
    assert get_reader(str(tmp_path / "junk.nii")) is None
    with pytest.raises(NoraReadError, match="junk.nii"):
        read(tmp_path / "junk.nii")
    (tmp_path / "junk.nii.gz").write_bytes(b"\x1f\x8bgarbage" * 10)
    with pytest.raises(NoraReadError, match="junk.nii.gz"):
        read(tmp_path / "junk.nii.gz")
    assert get_reader(str(tmp_path / "missing.nii.gz")) is None


def test_streamed_read_gives_the_same_layer_as_the_full_read(tmp_path):
    rng = np.random.default_rng(5)
    vol = rng.integers(-1000, 3000, size=(64, 48, 40)).astype(np.int16)
    for name in ("ras", "lps", "sagittal_permuted"):
        p = tmp_path / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(vol, AFFINES[name]), p)
        (full,) = read(p)
        (streamed,) = read(p, stream=True)
        assert type(streamed[0]).__name__ == "StreamedView"
        # a middle slice, then the whole volume, equal the synchronous read
        np.testing.assert_array_equal(streamed[0][20], full[0][20])
        np.testing.assert_array_equal(np.asarray(streamed[0]), full[0])
        assert streamed[1]["scale"] == full[1]["scale"]
        assert streamed[1]["translate"] == full[1]["translate"]


def test_streamed_read_takes_its_header_from_the_stream_itself(tmp_path):
    """A ``.nii.gz`` header is read through isal (nibabel's gzip reader decompressed about
    1 MiB for it): NIfTI-2, a header extension before the voxels and scaling give, streamed
    or not, what nibabel gives for the same image saved as ``.nii``."""
    vol = np.random.default_rng(2).integers(0, 3000, size=(32, 24, 20)).astype(np.int16)
    one = nib.Nifti1Image(vol, AFFINES["lps"])
    one.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"x" * 1000))
    cases = {"ext.nii.gz": one, "two.nii.gz": nib.Nifti2Image(vol, AFFINES["sagittal_permuted"])}
    scaled = nib.Nifti1Image(vol, AFFINES["ras"])
    scaled.header.set_slope_inter(0.5, -3.0)
    cases["scaled.nii.gz"] = scaled
    for name, img in cases.items():
        nib.save(img, tmp_path / name)
        nib.save(img, tmp_path / name[:-3])
        (full,) = read(tmp_path / name)
        (plain,) = read(tmp_path / name[:-3])  # nibabel's header and memory map
        np.testing.assert_array_equal(np.asarray(full[0]), np.asarray(plain[0]))
        assert full[1]["metadata"]["affine_vox2ras"] == pytest.approx(
            plain[1]["metadata"]["affine_vox2ras"])
        (streamed,) = read(tmp_path / name, stream=True)
        assert (type(streamed[0]).__name__ == "StreamedView") == (name != "scaled.nii.gz")
        np.testing.assert_array_equal(np.asarray(streamed[0]), full[0])
        np.testing.assert_allclose(streamed[1]["metadata"]["affine_vox2ras"],
                                   full[1]["metadata"]["affine_vox2ras"])
        assert (streamed[1]["scale"], streamed[1]["translate"]) == \
            (full[1]["scale"], full[1]["translate"])
    assert np.asarray(read(tmp_path / "scaled.nii.gz", stream=True)[0][0]).max() == \
        pytest.approx(vol.max() * 0.5 - 3.0)


def test_streamed_truncated_file_raises_naming_the_file_when_data_is_needed(tmp_path):
    vol = np.random.default_rng(1).integers(0, 3000, size=(64, 64, 64)).astype(np.int16)
    nib.save(nib.Nifti1Image(vol, AFFINES["ras"]), tmp_path / "ok.nii.gz")
    raw = gzip.decompress((tmp_path / "ok.nii.gz").read_bytes())
    (tmp_path / "cut.nii.gz").write_bytes(gzip.compress(raw[: len(raw) * 2 // 3]))
    try:
        (layer,) = read(tmp_path / "cut.nii.gz", stream=True)
    except NoraReadError as exc:  # the damage came before the first slice shown
        assert "cut.nii.gz" in str(exc)
        return
    with pytest.raises(NoraReadError, match="cut.nii.gz"):
        np.asarray(layer[0])


def _world_centroid(layer, thr):
    data = np.asarray(layer.data, float)
    idx = np.argwhere(data > thr)
    w = data[data > thr]
    mean_idx = (idx * w[:, None]).sum(0) / w.sum()
    return np.asarray(layer.data_to_world(mean_idx))[::-1]


def test_oblique_and_its_axis_aligned_resampling_overlay_within_half_a_voxel(tmp_path):
    from nibabel.processing import resample_to_output

    shape = (40, 36, 30)
    aff = AFFINES["oblique"]
    ijk = np.indices(shape).reshape(3, -1)
    ras = (aff @ np.r_[ijk, np.ones((1, ijk.shape[1]))])[:3]
    centre = world_of_voxel(aff, (26, 12, 18))
    vol = (1000 * np.exp(-np.sum((ras - centre[:, None]) ** 2, 0) / (2 * 3.0 ** 2)))
    img = nib.Nifti1Image(vol.reshape(shape).astype(np.float32), aff)
    nib.save(img, tmp_path / "oblique.nii.gz")
    nib.save(resample_to_output(img, voxel_sizes=(1.0, 1.0, 1.0), order=1),
             tmp_path / "resliced.nii.gz")
    a, b = layer_of(tmp_path / "oblique.nii.gz"), layer_of(tmp_path / "resliced.nii.gz")
    assert a.metadata["oblique"] and not b.metadata["oblique"]
    ca, cb = _world_centroid(a, 200), _world_centroid(b, 200)
    assert np.all(np.abs(ca - cb) < 0.5)
    assert np.all(np.abs(ca - centre) < 0.5)


def test_get_reader_leaves_folders_without_dicom_to_others(tmp_path):
    nib.save(nib.Nifti1Image(marker_volume(), AFFINES["ras"]), tmp_path / "a.nii.gz")
    (tmp_path / "notes.txt").write_text("hello")
    assert get_reader(str(tmp_path)) is None


NIB_DATA = __import__("pathlib").Path(nib.__file__).parent / "tests" / "data"


def _world_to_index(layer):
    """(4, 4) napari world (S, A, R) -> the layer's last three array indices."""
    from napari_nora.widgets.roi_layers import index_to_world

    return np.linalg.inv(index_to_world(layer))


def test_real_oblique_fmri_and_its_resampling_overlay_within_half_a_voxel(tmp_path):
    """nibabel's example4d (a real BOLD run tilted about 9 degrees) on its display grid, and the
    same volume resampled by nibabel onto an axis-aligned 2 mm grid: sampled at the same world
    positions they match (correlation), and no shift remains (phase correlation, < 0.5 voxel)."""
    from scipy import ndimage
    from skimage.registration import phase_cross_correlation
    from nibabel.processing import resample_to_output

    img = nib.load(NIB_DATA / "example4d.nii.gz")
    vol0 = nib.Nifti1Image(np.asarray(img.dataobj[..., 0], np.float32), img.affine)
    nib.save(resample_to_output(vol0, voxel_sizes=(2.0, 2.0, 2.0), order=1),
             tmp_path / "resampled.nii.gz")
    (t,) = read(NIB_DATA / "example4d.nii.gz")
    oblique = Layer.create(*t)
    straight = layer_of(tmp_path / "resampled.nii.gz")
    assert oblique.metadata["oblique"] and not straight.metadata["oblique"]
    b = np.asarray(straight.data, np.float32)
    grid = np.indices(b.shape).reshape(3, -1)
    world = straight._data_to_world(grid.T)  # (S, A, R) of every voxel of the resampled grid
    a_idx = (_world_to_index(oblique) @ np.c_[world, np.ones(len(world))].T)[:3]
    a = ndimage.map_coordinates(np.asarray(oblique.data[0], np.float32), a_idx, order=1,
                                cval=np.nan).reshape(b.shape)
    inside = np.isfinite(a) & (b > 50)
    assert inside.sum() > 20000
    r = np.corrcoef(a[inside], b[inside])[0, 1]
    shift, _, _ = phase_cross_correlation(np.nan_to_num(b * np.isfinite(a)), np.nan_to_num(a),
                                          upsample_factor=20)
    assert r > 0.955  # a 1 mm error gives 0.943 and a half-voxel shift
    assert np.all(np.abs(shift) < 0.5), shift


def test_real_scaled_functional_is_float32_with_the_header_scaling():
    """nibabel's functional.nii: int16 with scl_slope 0.0754, scl_inter 3100.8 (a real run)."""
    img = nib.load(NIB_DATA / "functional.nii")
    (t,) = read(NIB_DATA / "functional.nii")
    data = t[0]
    assert data.dtype == np.float32
    from napari_nora import geometry

    meta = t[1]["metadata"]
    geom = geometry.DisplayGeometry(meta["disp2vox"], meta["disp2ras"], data.shape[1:], False)
    back = geometry.labels_to_source(np.asarray(data[3]), geom, meta["source_shape"])
    np.testing.assert_allclose(back, np.asarray(img.dataobj[..., 3]), rtol=1e-6)


def test_large_gz_volume_decompressed_into_populated_pages_equals_nibabel(tmp_path):
    """A volume over 16 MiB goes into an array of huge pages mapped at once (fastgz's
    ``populated``): the voxels and the layer are exactly nibabel's, writable like any
    array (ROIs are drawn into such volumes' grids, screenshots read them)."""
    from napari_nora.readers import fastgz

    rng = np.random.default_rng(1)
    steps = rng.integers(-2, 3, (160, 256, 256), dtype=np.int16)
    vol = np.cumsum(steps, axis=0, dtype=np.int16)  # (x, y, z), compresses like an image
    path = tmp_path / "big.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.diag([0.9, 0.9, 1.2, 1.0])), path)
    assert vol.nbytes >= 1 << 24
    layer = layer_of(path)
    data = np.asarray(layer.data)
    np.testing.assert_array_equal(data, np.asarray(nib.load(path).dataobj).transpose(2, 1, 0))
    arr = fastgz.populated((300, 256, 256), np.dtype(np.int16), "F")
    assert arr.flags.f_contiguous and arr.flags.writeable and arr.shape == (300, 256, 256)
    arr[-1, -1, -1] = 7
    assert arr[-1, -1, -1] == 7
