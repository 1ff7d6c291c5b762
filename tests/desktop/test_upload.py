"""The Upload tab: into the selected study, by native IDs (JSON sidecar, BIDS folders, DICOM
headers), DICOM zips and folders through the import pipeline (real dcm2niix)."""

from __future__ import annotations

import json
import zipfile

import nibabel as nib
import numpy as np

from tests.desktop.conftest import wait_for
from tests.helpers import make_affine, write_dicom_series


def nifti(path, value=5):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full((4, 5, 6), value, np.int16), np.eye(4)), path)
    return path


def uploaded(desktop, qtbot, paths, *, native=False):
    up = desktop.tools["Upload"]
    up.add_paths(paths)
    desktop.wait()
    (up.to_native if native else up.to_selected).setChecked(True)
    up.upload()
    wait_for(qtbot, desktop, lambda: up.upload_button.isEnabled())
    return up


def paths_of(session, ref):
    return [f.path for f in session.select_files("demo", "*", ref=ref)]


def test_upload_into_the_selected_study(make_desktop, qtbot, demo, tmp_path):
    _, desktop = make_desktop("member")
    desktop.context.selection = ["P001#S2"]
    single = nifti(tmp_path / "in" / "extra.nii.gz")
    nifti(tmp_path / "in" / "dwi_run" / "d1.nii.gz")
    (tmp_path / "in" / "dwi_run" / "d1.bval").write_text("0 1000\n")
    notes = tmp_path / "in" / "notes.docx"
    notes.write_bytes(b"PK")
    up = desktop.tools["Upload"]
    up.series.setText("derived")
    up.series.editingFinished.emit()
    up = uploaded(desktop, qtbot, [single, tmp_path / "in" / "dwi_run", notes])
    assert set(paths_of(demo.session("admin"), "P001#S2")) == {
        "MPR_t1/s001.nii", "flair/s004.nii", "derived/extra.nii.gz", "dwi_run/d1.nii.gz",
        "dwi_run/d1.bval"}
    text = up.log.toPlainText()
    assert "notes.docx: not a file type the archive keeps" in text
    assert "done: 3 file(s) added, 1 error(s)" in text
    assert up.progress.maximum() == 4 and up.progress.value() == 4  # every item done
    b = desktop.tools["Browser"]
    b.context.selection = ["P001#S2"]
    wait_for(qtbot, desktop, lambda: b.files.item_for("derived/extra.nii.gz") is not None)


def test_upload_by_native_ids(make_desktop, qtbot, demo, tmp_path):
    _, desktop = make_desktop("owner")
    scan = nifti(tmp_path / "drop" / "t2.nii.gz")
    (tmp_path / "drop" / "t2.json").write_text(json.dumps({
        "PatientID": "PIZ200", "StudyDate": "20240102", "StudyTime": "101500.00",
        "StudyDescription": "MRI head", "Modality": "MR", "SeriesDescription": "t2"}))
    bids = tmp_path / "sub-NEW01"
    nifti(bids / "ses-02" / "anat" / "sub-NEW01_ses-02_T1w.nii.gz")
    anonymous = nifti(tmp_path / "plain.nii.gz")
    up = uploaded(desktop, qtbot, [scan, tmp_path / "drop" / "t2.json", bids, anonymous],
                  native=True)
    session = demo.session("admin")
    assert paths_of(session, "P002#20240102101500") == ["upload/t2.json", "upload/t2.nii.gz"]
    row = next(r for r in session.studies("demo") if r.ref == "P002#20240102101500")
    assert (row.study_date.isoformat(), row.description, row.modality) == (
        "2024-01-02", "MRI head", "MR")  # the existing subject of PIZ200: P002
    assert paths_of(session, "NEW01#02") == ["anat/sub-NEW01_ses-02_T1w.nii.gz"]
    assert "plain.nii.gz: no native IDs" in up.log.toPlainText()
    b = desktop.tools["Browser"]
    wait_for(qtbot, desktop, lambda: b.model.position_of("NEW01#02") is not None)


def dicom_series(folder, patient="PHANTOM01"):
    import pydicom

    vol = np.random.default_rng(5).integers(0, 400, (20, 18, 8)).astype(np.int16)
    write_dicom_series(folder, vol, make_affine(zooms=(1.0, 1.2, 3.0)), description="t1 ax")
    for f in folder.iterdir():
        ds = pydicom.dcmread(f)
        ds.PatientID, ds.StudyDate, ds.StudyTime = patient, "20240315", "101500"
        ds.save_as(f)
    return folder


def test_dicom_zip_goes_through_the_import_pipeline(make_desktop, qtbot, demo, tmp_path):
    _, desktop = make_desktop("owner")
    folder = dicom_series(tmp_path / "dcm")
    archive_zip = tmp_path / "study.zip"
    with zipfile.ZipFile(archive_zip, "w") as z:
        for f in sorted(folder.iterdir()):
            z.write(f, f"export/{f.name}")
    up = uploaded(desktop, qtbot, [archive_zip], native=True)
    session = demo.session("admin")
    files = paths_of(session, "PHANTOM01#20240315101500")
    assert "t1_ax_3/s003.nii" in files and "t1_ax_3/s003.json" in files  # dcm2niix output
    docs = session.documents("metadata", project="demo", ref="PHANTOM01#20240315101500")
    assert [d for d in docs if d.startswith("dicom-series:")]  # the import's series record
    img = nib.load(session.select_files("demo", "t1_ax_3/s003.nii")[0].location)
    assert img.shape == (20, 18, 8)
    assert "imported PHANTOM01#20240315101500/t1_ax_3" in up.log.toPlainText()
    # the same DICOM folder into the selected study: the pipeline puts it there
    desktop.context.selection = ["P003#S1"]
    uploaded(desktop, qtbot, [dicom_series(tmp_path / "dcm2", "OTHER")])
    assert "t1_ax_3/s003.nii" in paths_of(session, "P003#S1")
    assert "OTHER" not in {r.subject for r in session.subjects("demo")}


def test_native_ids_in_a_pseudonymising_project_get_the_importers_subject(demo, tmp_path):
    """No pseudonym key: a random pseudonym (one per patient, across series folders), never
    the real PatientID; no keep_identity: no name or birth date in the subject row."""
    from nora_server.config import Settings
    from nora_server.desktop import upload as uploads

    exam = tmp_path / "exam"
    for series in ("t1", "t2"):
        nifti(exam / series / f"{series}.nii.gz")
        (exam / series / f"{series}.json").write_text(json.dumps({
            "PatientID": "REAL123", "PatientName": "Doe^Jane", "PatientBirthDate": "19700101",
            "PatientSex": "F", "StudyDate": "20240102", "StudyTime": "101500"}))
    policy = {"pseudonymise": True, "keep_identity": False}
    settings = Settings(database="", storage=demo.storage,
                        sections={"dicom": {"policies": {"demo": policy}}})
    report = uploads.upload(demo.session("owner"), "demo", uploads.scan([exam]),
                            settings=settings)
    assert not report.errors and len(report.added) == 4
    session = demo.session("admin")
    row = next(r for r in session.subjects("demo") if r.patient_id == "REAL123")
    assert row.subject != "REAL123" and row.subject.startswith("P")
    assert (row.patient_name, row.birth_date, row.sex) == (None, None, "F")
    assert set(paths_of(session, f"{row.subject}#20240102101500")) == {
        "exam/t1/t1.nii.gz", "exam/t1/t1.json", "exam/t2/t2.nii.gz", "exam/t2/t2.json"}
