"""C-ECHO, C-FIND, C-MOVE, C-GET and C-STORE toward real PACS: Orthanc and the strict
dcmqrscp."""

from __future__ import annotations

import pydicom
import pytest

from tests.dicom.dicom_tools import run_tool
from nora_server.dicom import scu
from nora_server.dicom.settings import RemoteNode


@pytest.fixture(scope="module")
def study_uid(oblique_series):
    return str(pydicom.dcmread(next(oblique_series[0].iterdir())).StudyInstanceUID)


@pytest.fixture(params=["orthanc", "dcmqrscp"])
def pacs(request):
    return request.getfixturevalue(request.param)


def test_echo(pacs):
    assert scu.echo(pacs.node) == 0


def test_echo_unreachable_node_says_so():
    dead = RemoteNode("dead", "DEAD", "127.0.0.1", 9)
    with pytest.raises(scu.DicomNetworkError, match="dead .*could not be reached"):
        scu.echo(dead)


def test_find_patient_by_name_with_caret_and_wildcard(pacs):
    found = scu.find(pacs.node, "PATIENT", PatientName="Test^Phan*")
    assert [r["PatientID"] for r in found] == ["PHANTOM01"]


def test_find_studies_by_date_range_and_modality(pacs, study_uid):
    found = scu.find(pacs.node, "STUDY", StudyDate="2024-03-01..2024-03-31")
    assert [r["StudyInstanceUID"] for r in found] == [study_uid]
    assert scu.find(pacs.node, "STUDY", StudyDate="20240316-") == []
    mr = {r["StudyInstanceUID"] for r in scu.find(pacs.node, "STUDY", Modality="MR")}
    assert study_uid in mr


def test_find_studies_open_ended_range_finds_old_study(orthanc):
    found = scu.find(orthanc.node, "STUDY", StudyDate="-20050101")
    assert {r["PatientID"] for r in found} >= {"1CT1", "4MR1"}


def test_find_series_of_a_study(pacs, study_uid):
    (series,) = scu.find(pacs.node, "SERIES", StudyInstanceUID=study_uid)
    assert series["Modality"] == "MR" and series["SeriesInstanceUID"]
    if pacs.node.name == "orthanc":  # dcmqrscp answers only the keys it indexes
        assert series["SeriesDescription"] == "t1 oblique"
        assert int(series["NumberOfSeriesRelatedInstances"]) == 12


def test_series_query_without_study_is_refused_here(orthanc):
    with pytest.raises(ValueError, match="StudyInstanceUID"):
        scu.find(orthanc.node, "SERIES", Modality="MR")


def test_find_agrees_with_findscu(orthanc):
    ours = {r["StudyInstanceUID"] for r in scu.find(orthanc.node, "STUDY", PatientName="*")}
    out = run_tool("findscu", "-S", "-aet", "FINDSCU", "-aec", "ORTHANC", "-k",
                   "QueryRetrieveLevel=STUDY", "-k", "PatientName=*", "-k", "StudyInstanceUID",
                   "127.0.0.1", orthanc.dicom_port)
    theirs = {line.split("[")[1].split("]")[0].rstrip("\x00") for line in out.stderr.splitlines()
              if "(0020,000d)" in line and "[" in line}
    assert ours == theirs and len(ours) >= 4


def test_move_study_to_our_node(pacs, make_node, study_uid):
    node = make_node(quiet_s=60)
    seen = []
    summary = scu.move(pacs.node, "STUDY", {"StudyInstanceUID": study_uid}, destination="NORA",
                       progress=lambda done, total: seen.append((done, total)))
    assert summary.ok and summary.completed == 12, summary
    assert len(list((node.spool.incoming / study_uid).glob("*.dcm"))) == 12
    assert seen and seen[-1][0] == 12


def test_get_series_into_a_folder(orthanc, study_uid, tmp_path):
    (series,) = scu.find(orthanc.node, "SERIES", StudyInstanceUID=study_uid)
    summary = scu.get(orthanc.node, "SERIES", {"StudyInstanceUID": study_uid,
                      "SeriesInstanceUID": series["SeriesInstanceUID"]}, tmp_path / "got")
    assert summary.ok and summary.completed == 12 and len(summary.files) == 12
    assert all(pydicom.dcmread(f).SeriesInstanceUID == series["SeriesInstanceUID"]
               for f in summary.files)


def test_send_folder_then_find_it(pacs, two_series_folder):
    summary = scu.send(pacs.node, [two_series_folder])
    assert summary.ok and summary.completed == 11, summary
    study = str(pydicom.dcmread(next(two_series_folder.iterdir())).StudyInstanceUID)
    series = scu.find(pacs.node, "SERIES", StudyInstanceUID=study)
    assert len(series) == 2
    if pacs.node.name == "orthanc":
        assert sorted(s["SeriesDescription"] for s in series) == ["flair sag", "t2 axial"]
