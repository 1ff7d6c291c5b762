"""MGH/MGZ reader: geometry in world coordinates, dtypes kept, frames, labels, real data."""

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from napari.layers import Labels, Layer

from napari_nora import geometry
from napari_nora.readers import NoraReadError, read
from napari_nora.readers.layers import LazyTimeSeries
from tests.helpers import AFFINES, marker_volume, world_of_voxel, write_dicom_series

MARKER = (17, 5, 11)
NIB_DATA = Path(nib.__file__).parent / "tests" / "data"


def layer_of(path):
    (layer_tuple,) = read(path)
    return Layer.create(*layer_tuple)


def brightest_world_ras(layer):
    data = np.asarray(layer.data)
    idx = np.unravel_index(np.argmax(data), data.shape)
    return np.asarray(layer.data_to_world(idx))[::-1]  # (S, A, R) -> RAS


def assert_at(layer, true_ras, oblique):
    got = brightest_world_ras(layer)
    if oblique:  # resampled display grid: within half a display voxel
        assert np.all(np.abs(got - true_ras) <= np.asarray(layer.scale)[-3:][::-1] / 2 + 1e-4)
    else:
        np.testing.assert_allclose(got, true_ras, atol=1e-4)


@pytest.mark.parametrize("name", list(AFFINES))
@pytest.mark.parametrize("suffix", [".mgh", ".mgz"])
def test_marker_lands_at_its_scanner_position(tmp_path, name, suffix):
    aff = AFFINES[name]
    p = tmp_path / f"vol{suffix}"
    nib.save(nib.MGHImage(marker_volume(marker=MARKER), aff), p)
    layer = layer_of(p)
    assert_at(layer, world_of_voxel(aff, MARKER), "oblique" in name)
    assert layer.data.dtype == np.int16 and layer.data.dtype.isnative


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32])
def test_stored_dtype_kept(tmp_path, dtype):
    p = tmp_path / "v.mgz"
    nib.save(nib.MGHImage(marker_volume(marker=MARKER).astype(dtype), AFFINES["lps"]), p)
    layer = layer_of(p)
    assert layer.data.dtype == dtype
    assert np.asarray(layer.data).max() == (1000 if dtype != np.uint8 else 1000 % 256)


@pytest.mark.parametrize("suffix", [".mgh", ".mgz"])
def test_frames_are_a_time_series(tmp_path, suffix):
    rng = np.random.default_rng(0)
    vol = rng.random((10, 11, 12, 5)).astype(np.float32)
    vol[3, 4, 5, 2] = 10.0
    aff = AFFINES["sagittal_permuted"]
    p = tmp_path / f"f{suffix}"
    nib.save(nib.MGHImage(vol, aff), p)
    (data, kwargs, kind), = read(p)
    assert isinstance(data, LazyTimeSeries) and data.shape[0] == 5
    layer = Layer.create(data, kwargs, kind)
    assert layer.ndim == 4 and layer.data.dtype == np.float32
    t, *disp = np.unravel_index(np.argmax(np.asarray(data)), data.shape)
    assert t == 2
    got = np.asarray(layer.data_to_world([t, *disp]))[1:][::-1]
    np.testing.assert_allclose(got, world_of_voxel(aff, (3, 4, 5)), atol=1e-4)


def test_aseg_with_lut_beside_is_labels_with_names(tmp_path):
    lab = np.zeros((10, 10, 10), np.int32)
    lab[2:5, 2:5, 2:5] = 17
    lab[6:9, 6:9, 6:9] = 53
    nib.save(nib.MGHImage(lab, AFFINES["coronal_permuted"]), tmp_path / "aseg.mgz")
    (tmp_path / "FreeSurferColorLUT.txt").write_text(
        "#No. Label Name: R G B A\n0 Unknown 0 0 0 0\n17 Left-Hippocampus 220 216 20 0\n"
        "53 Right-Hippocampus 220 216 20 0\n")
    layer = layer_of(tmp_path / "aseg.mgz")
    assert isinstance(layer, Labels)
    names = dict(zip(layer.features["index"], layer.features["name"]))
    assert names[17] == "Left-Hippocampus" and names[53] == "Right-Hippocampus"
    # the label block sits where the header puts it
    disp = np.linalg.inv(layer.metadata["disp2vox"]) @ np.r_[3, 3, 3, 1]
    assert layer.data[tuple(disp[:3].round().astype(int))] == 17


def test_integer_volume_without_table_is_an_image(tmp_path):
    nib.save(nib.MGHImage(marker_volume().astype(np.int32), AFFINES["ras"]), tmp_path / "t1.mgz")
    assert not isinstance(layer_of(tmp_path / "t1.mgz"), Labels)


def test_real_nibabel_mgz_matches_nibabel_geometry():
    p = NIB_DATA / "test.mgz"  # 3x4x5, 2 frames, a sheared (non-orthogonal) vox2ras
    img = nib.load(p)
    ref = np.asarray(img.dataobj).astype(np.float32)
    (data, kwargs, kind), = read(p)
    layer = Layer.create(data, kwargs, kind)
    assert ref.shape == (3, 4, 5, 2) and data.shape[0] == 2 and data.dtype == np.float32
    np.testing.assert_allclose(layer.metadata["affine_vox2ras"], img.affine)
    assert layer.metadata["oblique"]
    geom = geometry.display_geometry(img.affine, ref.shape[:3])
    for t in range(2):  # each frame is its own source frame on the display grid
        np.testing.assert_allclose(data[t], geometry.resample_to_display(ref[..., t], geom))
    # display index -> world follows the display grid's affine
    idx = np.array([1, 2, 3])
    world = np.asarray(layer.data_to_world([0, *idx]))[1:][::-1]
    np.testing.assert_allclose(world, (geom.disp2ras @ np.r_[idx, 1])[:3], atol=1e-4)


def test_corrupt_files_are_refused_with_the_file_named(tmp_path):
    nib.save(nib.MGHImage(marker_volume(), AFFINES["ras"]), tmp_path / "ok.mgz")
    raw = gzip.decompress((tmp_path / "ok.mgz").read_bytes())
    (tmp_path / "trunc.mgz").write_bytes(gzip.compress(raw[: len(raw) // 2]))
    with pytest.raises(NoraReadError, match="trunc.mgz"):
        read(tmp_path / "trunc.mgz")
    (tmp_path / "cut.mgh").write_bytes(raw[:200])
    with pytest.raises(NoraReadError, match="cut.mgh"):
        read(tmp_path / "cut.mgh")
    (tmp_path / "junk.mgh").write_bytes(b"not an image" * 100)
    with pytest.raises(NoraReadError, match="junk.mgh"):
        read(tmp_path / "junk.mgh")
    (tmp_path / "junk.mgz").write_bytes(b"\x1f\x8bgarbage" * 10)
    with pytest.raises(NoraReadError, match="junk.mgz"):
        read(tmp_path / "junk.mgz")


def test_surface_overlay_is_shown_on_the_surface_beside_it(tmp_path, rng):
    from nibabel.gifti import GiftiDataArray, GiftiImage

    n = 60
    verts = rng.normal(size=(n, 3)).astype(np.float32) * 30
    faces = np.stack([np.arange(n), np.roll(np.arange(n), 1), np.roll(np.arange(n), 2)], 1)
    nib.save(GiftiImage(darrays=[
        GiftiDataArray(verts, intent="NIFTI_INTENT_POINTSET"),
        GiftiDataArray(faces.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE")]),
        tmp_path / "lh.white.surf.gii")
    thick = rng.random(n).astype(np.float32)
    nib.save(nib.MGHImage(thick.reshape(n, 1, 1), np.eye(4)), tmp_path / "lh.thickness.mgh")
    layer = layer_of(tmp_path / "lh.thickness.mgh")
    assert layer._type_string == "surface"
    np.testing.assert_allclose(layer.vertex_values, thick)
    assert layer.colormap.name == "viridis"
    lo, hi = layer.contrast_limits
    assert 0 <= lo < np.median(thick) < hi <= 1
    world = np.array([layer.data_to_world(v) for v in layer.data[0]])[:, ::-1]
    np.testing.assert_allclose(world, verts, atol=1e-4)


def dcm2niix(folder, out, fmt, compress):
    """Convert a DICOM folder with dcm2niix, the field's reference converter."""
    exe = Path(sys.executable).parent / "dcm2niix"
    exe = str(exe) if exe.exists() else shutil.which("dcm2niix")
    if exe is None:
        pytest.fail("dcm2niix not found: install the 'dcm2niix' package (test dependency)")
    subprocess.run([exe, "-e", fmt, "-z", compress, "-f", "conv", "-o", str(out), str(folder)],
                   check=True, capture_output=True)


@pytest.mark.parametrize("name", ["lps", "sagittal_permuted", "oblique"])
@pytest.mark.parametrize("suffix,compress", [(".mgh", "n"), (".mgz", "y")])
def test_mgh_written_by_dcm2niix_lands_where_the_dicom_says(tmp_path, name, suffix, compress):
    # dcm2niix writes MGH little-endian (FreeSurfer's is big-endian): both must read
    aff = AFFINES[name]
    folder = write_dicom_series(tmp_path / "dcm", marker_volume(marker=MARKER), aff)
    dcm2niix(folder, tmp_path, "o", compress)
    layer = layer_of(tmp_path / f"conv{suffix}")
    assert_at(layer, world_of_voxel(aff, MARKER), "oblique" in name)
    assert layer.data.dtype == np.int16


def test_freesurfer_segmentation_uses_the_lut_of_freesurfer_home(tmp_path, monkeypatch):
    fs_home = tmp_path / "freesurfer"
    fs_home.mkdir()
    (fs_home / "FreeSurferColorLUT.txt").write_text("0 Unknown 0 0 0 0\n"
                                                    "17 Left-Hippocampus 220 216 20 0\n")
    (tmp_path / "subj").mkdir()
    lab = np.zeros((8, 8, 8), np.int32)
    lab[2:4, 2:4, 2:4] = 17
    nib.save(nib.MGHImage(lab, AFFINES["ras"]), tmp_path / "subj" / "aparc+aseg.mgz")
    nib.save(nib.MGHImage(lab, AFFINES["ras"]), tmp_path / "subj" / "count.mgz")
    monkeypatch.setenv("FREESURFER_HOME", str(fs_home))
    layer = layer_of(tmp_path / "subj" / "aparc+aseg.mgz")
    assert isinstance(layer, Labels)
    assert dict(zip(layer.features["index"], layer.features["name"]))[17] == "Left-Hippocampus"
    assert not isinstance(layer_of(tmp_path / "subj" / "count.mgz"), Labels)


@pytest.mark.parametrize("suffix", [".mgz", ".nii.gz"])
def test_real_freesurfer_lut_names_and_colours_an_aseg(tmp_path, testdata, suffix):
    """FreeSurfer's own FreeSurferColorLUT.txt (from MNE's wheel, ~1,300 entries) beside an
    aseg-like label volume: names and colours of the real table."""
    lut = testdata / "freesurfer" / "FreeSurferColorLUT.txt"
    if not lut.is_file():
        pytest.fail(f"{lut} missing: run scripts/fetch_testdata.sh")
    shutil.copy(lut, tmp_path)
    lab = np.zeros((12, 12, 12), np.int32 if suffix == ".mgz" else np.int16)
    lab[2:5, 2:5, 2:5], lab[6:9, 6:9, 6:9], lab[0, 0, 1] = 17, 53, 2
    img = (nib.MGHImage if suffix == ".mgz" else nib.Nifti1Image)(lab, AFFINES["coronal_permuted"])
    nib.save(img, tmp_path / f"aseg{suffix}")
    layer = layer_of(tmp_path / f"aseg{suffix}")
    assert isinstance(layer, Labels)
    names = dict(zip(layer.features["index"], layer.features["name"]))
    assert len(names) > 1000
    assert (names[17], names[53], names[2]) == ("Left-Hippocampus", "Right-Hippocampus",
                                               "Left-Cerebral-White-Matter")
    np.testing.assert_allclose(layer.colormap.map(np.array([17]))[0],
                               [220 / 255, 216 / 255, 20 / 255, 1.0], atol=1e-6)
