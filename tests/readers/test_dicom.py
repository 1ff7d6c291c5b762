"""DICOM reader on synthetic series of known geometry, checked in WORLD coordinates.

Every file we write says where its first voxel is (ImagePositionPatient, LPS mm); the layer the
reader returns must put that voxel at the same place in napari's world (RAS, order S, A, R).
"""

import logging
import time
import zipfile

import numpy as np
import pydicom
import pytest
from napari.layers import Layer
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (EnhancedMRImageStorage, ExplicitVRLittleEndian, MRImageStorage,
                         generate_uid)

from napari_nora.readers import NoraReadError, get_reader
from napari_nora.readers import read as read_any
from napari_nora.readers.dicom import read
from napari_nora.readers.dicom_sources import unsafe_member
from tests.helpers import make_affine, rotation, write_dicom_series

SHAPE = (12, 10, 8)  # i (columns), j (rows), k (slices)
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: vox2ras of typical scanner orientations (DICOM writes rows/columns/slices along these)
GEOMETRIES = {
    # axial: columns to patient left, rows to posterior, slices to superior
    "axial": make_affine(zooms=(0.9, 0.8, 3.0), flips=(-1, -1, 1), origin=(60, 70, -20)),
    # sagittal: columns to posterior, rows to inferior, slices to left
    "sagittal": make_affine(zooms=(1.0, 1.1, 4.0), perm=(1, 2, 0), flips=(-1, -1, -1),
                            origin=(30, 90, 80)),
    # coronal: columns to left, rows to inferior, slices to anterior
    "coronal": make_affine(zooms=(0.7, 0.7, 2.5), perm=(0, 2, 1), flips=(-1, -1, 1),
                           origin=(80, -40, 60)),
    "oblique": make_affine(zooms=(1.0, 1.2, 2.0), flips=(-1, -1, 1), rot=rotation(18, -7, 12),
                           origin=(-12, 8, 3)),
}


def unique_volume(shape=SHAPE):
    """Every voxel a different value, so a value says which voxel it is."""
    return np.arange(np.prod(shape), dtype=np.int16).reshape(shape) + 100


def as_layer(layer_tuple):
    return Layer.create(*layer_tuple)


def only_layer(path):
    (t,) = read(path)
    return as_layer(t)


def ipp_ras(path):
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    return np.array([-x, -y, z])


def value_at_world(layer, ras):
    """Voxel index of world point ``ras`` in the layer (must be a voxel centre) and its value."""
    idx = np.asarray(layer.world_to_data(np.asarray(ras)[::-1]))
    np.testing.assert_allclose(idx, np.round(idx), atol=1e-4)
    idx = tuple(int(v) for v in np.round(idx))
    return idx, np.asarray(layer.data)[idx]


def assert_slices_in_world(layer, folder, vol):
    """Each file's first voxel (row 0, column 0) sits at its ImagePositionPatient in RAS."""
    files = sorted(folder.iterdir())
    assert len(files) == vol.shape[2]
    for f in files:
        ds = pydicom.dcmread(f)
        ras = ipp_ras(f)
        idx, value = value_at_world(layer, ras)
        np.testing.assert_allclose(np.asarray(layer.data_to_world(idx))[::-1], ras, atol=1e-4)
        assert value == ds.pixel_array[0, 0]


@pytest.mark.parametrize("name", ["axial", "sagittal", "coronal"])
def test_axis_aligned_series_voxels_at_their_positions(tmp_path, name):
    vol = unique_volume()
    folder = write_dicom_series(tmp_path / name, vol, GEOMETRIES[name])
    layer = only_layer(folder)
    assert not layer.metadata["oblique"]
    assert layer.data.dtype == np.int16
    assert_slices_in_world(layer, folder, vol)
    # every voxel centre of the source grid holds its own value
    aff = GEOMETRIES[name]
    for ijk in [(0, 0, 0), (11, 9, 7), (3, 7, 2), (11, 0, 5)]:
        _, value = value_at_world(layer, (aff @ np.r_[ijk, 1.0])[:3])
        assert value == vol[ijk]


def test_oblique_series_keeps_source_grid_and_positions(tmp_path):
    vol = unique_volume()
    aff = GEOMETRIES["oblique"]
    folder = write_dicom_series(tmp_path / "obl", vol, aff)
    layer = only_layer(folder)
    meta = layer.metadata
    assert meta["oblique"]
    disp2vox = np.asarray(meta["disp2vox"])
    for f in folder.iterdir():
        ras = ipp_ras(f)
        disp = np.asarray(layer.world_to_data(ras[::-1]))
        vox = (disp2vox @ np.r_[disp, 1.0])[:3]  # source voxel the position falls on
        np.testing.assert_allclose(vox[:2], [0, 0], atol=1e-6)
        assert abs(vox[2] - round(vox[2])) < 1e-6
        # and the source affine agrees with the file's own position
        np.testing.assert_allclose(meta["affine_vox2ras"] @ np.r_[vox, 1.0], np.r_[ras, 1],
                                   atol=1e-4)
    # the source grid is the written one, up to the direction of the slice axis
    src = np.asarray(meta["affine_vox2ras"])
    np.testing.assert_allclose(src[:3, :2], aff[:3, :2], atol=1e-6)
    np.testing.assert_allclose(np.abs(src[:3, 2]), np.abs(aff[:3, 2]), atol=1e-6)


def test_order_comes_from_positions_not_names_or_instance_numbers(tmp_path):
    vol = unique_volume()
    aff = GEOMETRIES["axial"]
    folder = write_dicom_series(tmp_path / "s", vol, aff, shuffle=True)  # reversed instances
    numbers = {int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber): f
               for f in folder.iterdir()}
    assert sorted(numbers) == list(range(1, 9))
    layer = only_layer(folder)
    # slice k (along +S) holds the pixels of the file whose position is k along the normal
    data = np.asarray(layer.data)  # display (S, A, R)
    for f in folder.iterdir():
        z = ipp_ras(f)[2]
        k = int(round((z - layer.translate[0]) / layer.scale[0]))
        assert data[k].max() == pydicom.dcmread(f).pixel_array.max()


def test_spacing_from_positions_not_slice_thickness(tmp_path):
    aff = GEOMETRIES["axial"]  # 3 mm apart, files say SliceThickness 1.0
    layer = only_layer(write_dicom_series(tmp_path / "s", unique_volume(), aff))
    assert layer.scale[0] == pytest.approx(3.0)


def test_rescale_applied_float32_and_identity_keeps_dtype(tmp_path):
    vol = unique_volume()
    aff = GEOMETRIES["axial"]
    layer = only_layer(write_dicom_series(tmp_path / "f", vol, aff, slope=0.5, intercept=3))
    assert layer.data.dtype == np.float32
    _, v = value_at_world(layer, aff[:3, 3])
    assert v == pytest.approx(vol[0, 0, 0] * 0.5 + 3)
    # CT-style slope 1 and integer intercept: exact integers, no float
    ct = only_layer(write_dicom_series(tmp_path / "ct", vol, aff, intercept=-1024))
    assert ct.data.dtype == np.int16
    _, v = value_at_world(ct, aff[:3, 3])
    assert v == vol[0, 0, 0] - 1024
    assert only_layer(write_dicom_series(tmp_path / "id", vol, aff)).data.dtype == np.int16


def test_two_series_in_one_folder_give_two_named_layers(tmp_path):
    aff = GEOMETRIES["axial"]
    write_dicom_series(tmp_path / "study" / "a", unique_volume(), aff, description="T1 axial")
    write_dicom_series(tmp_path / "study" / "deep" / "b", unique_volume() * 2,
                       GEOMETRIES["coronal"], description="T2 coronal")
    layers = [as_layer(t) for t in read(tmp_path / "study")]
    assert sorted(la.name for la in layers) == ["T1 axial (3)", "T2 coronal (3)"]
    for la in layers:
        assert la.metadata["modality"] == "MR"
        assert la.metadata["patient_id"] == "PHANTOM01"
        assert la.metadata["series_uid"]
        assert len(la.metadata["files"]) == 8


def test_corrupt_and_foreign_files_are_reported_not_fatal(tmp_path, caplog):
    folder = write_dicom_series(tmp_path / "s", unique_volume(), GEOMETRIES["axial"])
    (folder / "notes.txt").write_text("not an image")
    (folder / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 50)
    # an extra slice (one step past the last) whose header is fine but pixels are cut short
    ds = pydicom.dcmread(folder / "im0000.dcm")
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.ImagePositionPatient[2] = 100.0
    ds.save_as(tmp_path / "t.dcm")
    (folder / "truncated.dcm").write_bytes((tmp_path / "t.dcm").read_bytes()[:-60])
    # the same image twice (a copied file in a subfolder)
    (folder / "copy").mkdir()
    (folder / "copy" / "again.dcm").write_bytes((folder / "im0003.dcm").read_bytes())
    with caplog.at_level(logging.WARNING, logger="napari_nora.readers.dicom"):
        (t,) = read(folder)
    layer = as_layer(t)
    skipped = {s["file"].rsplit("/", 1)[-1] for s in layer.metadata["skipped"]}
    assert skipped == {"notes.txt", "garbage.dcm", "truncated.dcm", "again.dcm"}
    assert "truncated.dcm" in caplog.text and "notes.txt" in caplog.text
    assert layer.data.shape[0] == 8
    for f in folder.glob("im*.dcm"):
        _, v = value_at_world(layer, ipp_ras(f))
        assert v == pydicom.dcmread(f).pixel_array[0, 0]


def test_folder_without_images_names_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hello")
    with pytest.raises(NoraReadError, match="empty.*no readable DICOM image.*readme.txt"):
        read(tmp_path / "empty")


def _zip(folder, target, prefix="patient/series/"):
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.iterdir()):
            z.write(f, prefix + f.name)
    return target


def test_zip_reads_in_world_like_the_folder(tmp_path):
    vol = unique_volume()
    folder = write_dicom_series(tmp_path / "s", vol, GEOMETRIES["sagittal"])
    z = _zip(folder, tmp_path / "series.zip")
    layer = as_layer(read_any(z)[0])
    assert_slices_in_world(layer, folder, vol)
    assert layer.metadata["files"][0].startswith(str(z) + "!patient/series/")


def test_zip_with_path_traversal_member_is_refused(tmp_path):
    folder = write_dicom_series(tmp_path / "s", unique_volume(), GEOMETRIES["axial"])
    z = _zip(folder, tmp_path / "evil.zip")
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr("../../outside.dcm", sorted(folder.iterdir())[0].read_bytes())
    with pytest.raises(NoraReadError, match=r"evil.zip.*path traversal.*\.\./\.\./outside"):
        read(z)
    assert not (tmp_path.parent / "outside.dcm").exists()
    assert unsafe_member("/etc/passwd") and unsafe_member("C:\\x.dcm")
    assert not unsafe_member("a/b..c/d.dcm")


# --- hand-written objects: single files, echoes, time series, enhanced multi-frame ----------


def _dataset(path, sop_class, **attrs):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "MR", "P1"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    for k, v in attrs.items():
        setattr(ds, k, v)
    return ds


def _slice(path, pixels, ipp, iop, ps=(1.0, 1.0), **attrs):
    ds = _dataset(path, MRImageStorage, **attrs)
    ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in iop]
    ds.PixelSpacing = [f"{v:g}" for v in ps]
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


AXIAL_IOP = (1, 0, 0, 0, 1, 0)


def test_single_slice_file(tmp_path):
    px = np.arange(20, dtype=np.int16).reshape(4, 5)
    p = _slice(tmp_path / "one.dcm", px, (10, 20, 30), AXIAL_IOP, ps=(0.5, 0.25),
               SeriesDescription="scout", SeriesNumber=7)
    layer = only_layer(p)
    assert layer.name == "scout (7)"
    assert layer.data.shape[0] == 1
    # pixel (row r, column c) is at IPP + c * 0.25 * x + r * 0.5 * y (LPS)
    for r, c in [(0, 0), (3, 4), (2, 1)]:
        lps = np.array([10 + c * 0.25, 20 + r * 0.5, 30])
        _, v = value_at_world(layer, lps * [-1, -1, 1])
        assert v == px[r, c]


def test_multi_echo_series_split_by_echo(tmp_path):
    uid = generate_uid()
    for k in range(3):
        for echo in (1, 2):
            px = np.full((4, 4), 10 * echo + k, np.int16)
            _slice(tmp_path / f"e{echo}_{k}.dcm", px, (0, 0, 2.0 * k), AXIAL_IOP,
                   SeriesInstanceUID=uid, SeriesDescription="dual echo", SeriesNumber=5,
                   EchoNumbers=echo, InstanceNumber=10 * k + echo)
    layers = sorted((as_layer(t) for t in read(tmp_path)), key=lambda la: la.name)
    assert [la.name for la in layers] == ["dual echo (5) echo 1", "dual echo (5) echo 2"]
    for echo, la in zip((1, 2), layers):
        for k in range(3):
            _, v = value_at_world(la, (0, 0, 2.0 * k))
            assert v == 10 * echo + k


def test_repeated_positions_stack_as_time(tmp_path):
    uid = generate_uid()
    for t in range(4):
        for k in range(3):
            px = np.full((4, 4), 100 * t + k, np.int16)
            _slice(tmp_path / f"{k}_{t}.dcm", px, (0, 0, 5.0 * k), AXIAL_IOP,
                   SeriesInstanceUID=uid, TemporalPositionIdentifier=t + 1,
                   InstanceNumber=50 - (t * 3 + k))
    (t,) = read(tmp_path)
    layer = as_layer(t)
    assert layer.data.shape[0] == 4 and layer.metadata["n_volumes"] == 4
    for tt in range(4):
        vol = np.asarray(layer.data[tt])
        for k in range(3):
            assert vol[k].max() == 100 * tt + k
    # the first voxel of the slice at z = 10 mm (LPS (0, 0, 10) is RAS (0, 0, 10))
    idx = np.asarray(layer.world_to_data((2, 10, 0, 0)))
    np.testing.assert_allclose(idx, np.round(idx), atol=1e-6)
    assert np.asarray(layer.data)[tuple(int(v) for v in np.round(idx))] == 202


def test_inconsistent_orientation_is_split_not_mixed(tmp_path):
    uid = generate_uid()
    for k in range(3):
        _slice(tmp_path / f"ax{k}.dcm", np.full((4, 4), 1, np.int16), (0, 0, k), AXIAL_IOP,
               SeriesInstanceUID=uid)
        _slice(tmp_path / f"sag{k}.dcm", np.full((4, 4), 2, np.int16), (k, 0, 0),
               (0, 1, 0, 0, 0, -1), SeriesInstanceUID=uid)
    layers = [as_layer(t) for t in read(tmp_path)]
    assert len(layers) == 2
    assert {int(np.asarray(la.data).max()) for la in layers} == {1, 2}
    assert all("split" in " ".join(la.metadata["notes"]) for la in layers)


def test_uneven_repeats_are_reported(tmp_path, caplog):
    uid = generate_uid()
    for k in range(3):
        _slice(tmp_path / f"a{k}.dcm", np.ones((4, 4), np.int16), (0, 0, k), AXIAL_IOP,
               SeriesInstanceUID=uid)
    _slice(tmp_path / "dup.dcm", np.ones((4, 4), np.int16), (0, 0, 1), AXIAL_IOP,
           SeriesInstanceUID=uid)
    with pytest.raises(NoraReadError, match="different numbers of images"):
        read(tmp_path)


def _enhanced(path, frames_vol, aff_ras, *, slope=2.0, intercept=-5.0, reverse=True):
    """Enhanced MR object: frame f holds slice order[f] of ``frames_vol`` (i, j, k)."""
    lps = LPS @ aff_ras
    cs, rs = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    iop = np.r_[lps[:3, 0] / cs, lps[:3, 1] / rs]
    n = frames_vol.shape[2]
    order = list(range(n))[::-1] if reverse else list(range(n))
    ds = _dataset(path, EnhancedMRImageStorage, SeriesInstanceUID=generate_uid(),
                  SeriesDescription="enhanced", SeriesNumber=9)
    ds.Rows, ds.Columns, ds.NumberOfFrames = frames_vol.shape[1], frames_vol.shape[0], n
    shared = pydicom.Dataset()
    po = pydicom.Dataset()
    po.ImageOrientationPatient = [f"{v:.8f}" for v in iop]
    pm = pydicom.Dataset()
    pm.PixelSpacing = [f"{rs:.8f}", f"{cs:.8f}"]
    pm.SliceThickness = "9"
    shared.PlaneOrientationSequence = [po]
    shared.PixelMeasuresSequence = [pm]
    ds.SharedFunctionalGroupsSequence = [shared]
    per = []
    for k in order:
        item, pp, pv = pydicom.Dataset(), pydicom.Dataset(), pydicom.Dataset()
        pp.ImagePositionPatient = [f"{v:.8f}" for v in (lps @ np.r_[0, 0, k, 1])[:3]]
        pv.RescaleSlope, pv.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
        item.PlanePositionSequence, item.PixelValueTransformationSequence = [pp], [pv]
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = per
    ds.PixelData = np.stack([frames_vol[:, :, k].T for k in order]).astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("name", ["axial", "oblique"])
def test_enhanced_multiframe_per_frame_geometry_and_scaling(tmp_path, name):
    vol = unique_volume()
    aff = GEOMETRIES[name]
    layer = only_layer(_enhanced(tmp_path / "mf.dcm", vol, aff))
    assert layer.name == "enhanced (9)"
    assert layer.data.dtype == np.float32
    src = np.asarray(layer.metadata["affine_vox2ras"])
    corners = np.array([[i, j, k, 1] for i in (0, 11) for j in (0, 9) for k in (0, 7)], float)
    got = {tuple(np.round((src @ c)[:3], 4)) for c in corners}
    want = {tuple(np.round((aff @ c)[:3], 4)) for c in corners}
    assert got == want  # the same 8 corner voxels in world, whatever the axis order
    if name == "axial":
        for ijk in [(0, 0, 0), (11, 9, 7), (4, 2, 6)]:
            _, v = value_at_world(layer, (aff @ np.r_[ijk, 1.0])[:3])
            assert v == pytest.approx(2.0 * vol[ijk] - 5.0)


def test_get_reader_claims_folder_zip_and_file(tmp_path):
    folder = write_dicom_series(tmp_path / "s", unique_volume(), GEOMETRIES["axial"])
    assert get_reader(str(folder)) is not None
    assert get_reader(str(_zip(folder, tmp_path / "s.zip"))) is not None
    assert get_reader(str(sorted(folder.iterdir())[0])) is not None


def test_large_series_reads_in_seconds(tmp_path):
    """400 slices of 512 x 512 int16 (200 MB), CT-like: read within a few seconds."""
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 3000, size=(512, 512, 400), dtype=np.int16)
    aff = make_affine(zooms=(0.7, 0.7, 1.0), flips=(-1, -1, 1), origin=(180, 180, -200))
    folder = write_dicom_series(tmp_path / "ct", vol, aff, intercept=-1024, modality="CT")
    t0 = time.perf_counter()
    (t,) = read(folder)
    elapsed = time.perf_counter() - t0
    layer = as_layer(t)
    assert layer.data.shape == (400, 512, 512) and layer.data.dtype == np.int16
    _, v = value_at_world(layer, (aff @ np.r_[511, 3, 399, 1.0])[:3])
    assert v == vol[511, 3, 399] - 1024
    assert elapsed < 8.0, f"reading 400 slices took {elapsed:.1f} s"  # ~1-3 s here, 2 cores


def test_file_without_preamble_is_read(tmp_path):
    px = np.arange(12, dtype=np.int16).reshape(3, 4)
    p = _slice(tmp_path / "x.dcm", px, (1, 2, 3), AXIAL_IOP)
    ds = pydicom.dcmread(p)
    ds.preamble = None
    del ds.file_meta
    ds.save_as(tmp_path / "raw", implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert (tmp_path / "raw").read_bytes()[:2] == b"\x08\x00"
    layer = as_layer(read_any(tmp_path / "raw")[0])
    _, v = value_at_world(layer, (-1 - 3 * 1.0, -2 - 2 * 1.0, 3))  # row 2, column 3
    assert v == px[2, 3]


def test_missing_slice_leaves_a_gap_and_every_slice_at_its_position(tmp_path, caplog):
    vol = unique_volume()
    folder = write_dicom_series(tmp_path / "s", vol, GEOMETRIES["axial"])
    gone = next(f for f in folder.iterdir()
                if abs(ipp_ras(f)[2] - (GEOMETRIES["axial"] @ [0, 0, 4, 1])[2]) < 1e-6)
    gone.unlink()
    with caplog.at_level(logging.WARNING, logger="napari_nora.readers.dicom"):
        layer = only_layer(folder)
    assert any("1 missing slice" in n for n in layer.metadata["notes"])
    assert "missing slice" in caplog.text
    assert layer.data.shape[0] == 8 and layer.scale[0] == pytest.approx(3.0)
    for f in folder.iterdir():
        _, v = value_at_world(layer, ipp_ras(f))
        assert v == pydicom.dcmread(f).pixel_array[0, 0]
    _, v = value_at_world(layer, ipp_ras(gone) if gone.exists() else
                          (GEOMETRIES["axial"] @ [0, 0, 4, 1])[:3])
    assert v == np.asarray(layer.data).min()  # the gap holds the background value


def test_variable_spacing_splits_into_even_slabs(tmp_path):
    """Variable pitch: 4 slices 1 mm apart then 3 slices 5 mm apart -> two exact slabs."""
    uid = generate_uid()
    z = [0, 1, 2, 3, 8, 13, 18]
    for n, zz in enumerate(z):
        _slice(tmp_path / f"{n}.dcm", np.full((4, 4), n, np.int16), (0, 0, zz), AXIAL_IOP,
               SeriesInstanceUID=uid, SeriesDescription="pitch", SeriesNumber=2)
    layers = sorted((as_layer(t) for t in read(tmp_path)), key=lambda la: la.name)
    assert [la.name for la in layers] == ["pitch (2) slab 1", "pitch (2) slab 2"]
    assert [la.scale[0] for la in layers] == pytest.approx([1.0, 5.0])
    for n, zz in enumerate(z):
        hits = [la for la in layers if la.world_to_data((zz, 0, 0))[0] > -0.5
                and la.world_to_data((zz, 0, 0))[0] < la.data.shape[0] - 0.5]
        assert len(hits) == 1
        _, v = value_at_world(hits[0], (0, 0, zz))
        assert v == n


def test_gantry_tilt_positions_give_a_sheared_grid(tmp_path):
    """CT with gantry tilt: slices step along y as well as z; each slice stays at its
    own ImagePositionPatient (no silent projection onto the normal)."""
    uid = generate_uid()
    for k in range(6):
        px = np.full((4, 5), k, np.int16)
        _slice(tmp_path / f"{k}.dcm", px, (0, 0.7 * k, 2.5 * k), AXIAL_IOP,
               SeriesInstanceUID=uid, InstanceNumber=6 - k)
    layer = only_layer(tmp_path)
    src = np.asarray(layer.metadata["affine_vox2ras"])
    for f in tmp_path.glob("*.dcm"):
        ras = ipp_ras(f)
        vox = np.linalg.solve(src, np.r_[ras, 1])[:3]
        np.testing.assert_allclose(vox, [0, 0, round(vox[2])], atol=1e-6)
    np.testing.assert_allclose(np.abs(src[:3, 2]), [0, 0.7, 2.5], atol=1e-6)


def test_enhanced_multiframe_with_time_positions(tmp_path):
    """Frames at repeated positions told apart by FrameContentSequence TemporalPositionIndex
    become a time series."""
    vol = unique_volume((6, 5, 4))
    aff = make_affine(zooms=(1, 1, 2), flips=(-1, -1, 1))
    p = _enhanced(tmp_path / "mf.dcm", vol, aff, slope=1, intercept=0, reverse=False)
    ds = pydicom.dcmread(p)
    n = vol.shape[2]
    frames = ds.pixel_array
    items = list(ds.PerFrameFunctionalGroupsSequence)
    second = []
    for k, item in enumerate(items):  # a second time point: same positions, values + 1000
        for t, it in ((1, item), (2, pydicom.Dataset(item))):
            fc = pydicom.Dataset()
            fc.TemporalPositionIndex = t
            it.FrameContentSequence = [fc]
        second.append(it)
    ds.PerFrameFunctionalGroupsSequence = items[::-1] + second  # order must not matter
    ds.NumberOfFrames = 2 * n
    ds.PixelData = np.concatenate([frames[::-1], frames + 1000]).astype(np.int16).tobytes()
    ds.save_as(p, enforce_file_format=True)
    layer = only_layer(p)
    assert layer.data.shape[0] == 2 and layer.metadata["n_volumes"] == 2
    v0, v1 = np.asarray(layer.data[0]), np.asarray(layer.data[1])
    np.testing.assert_array_equal(v1, v0 + 1000)
    idx = np.asarray(layer.world_to_data(np.r_[0, (aff @ [2, 3, 1, 1])[:3][::-1]]))
    assert v0[tuple(int(i) for i in np.round(idx[1:]))] == vol[2, 3, 1]


def test_mixed_signed_and_unsigned_files_do_not_wrap(tmp_path):
    uid = generate_uid()
    for k in range(3):
        p = _slice(tmp_path / f"{k}.dcm", np.full((2, 2), -5 * k, np.int16), (0, 0, k),
                   AXIAL_IOP, SeriesInstanceUID=uid)
    ds = pydicom.dcmread(p)  # the last slice stored unsigned, with a value above int16
    ds.PixelRepresentation = 0
    ds.PixelData = np.full((2, 2), 40000, np.uint16).tobytes()
    ds.save_as(p)
    data = np.asarray(only_layer(tmp_path).data)
    assert data.dtype == np.int32
    assert sorted(np.unique(data)) == [-5, 0, 40000]
