"""The desktop answers filter bars on its in-memory table; the archive answers them in SQL.
Both must select the same studies (SQLite and MariaDB), for every role."""

from __future__ import annotations

import numpy as np
import pytest

from nora_server.archive.errors import FilterError, PermissionDenied
from nora_server.desktop.matching import Matcher
from nora_server.desktop.table import load_table, matching_study_ids

BARS = [
    {"name": "A B"}, {"name": "alice"}, {"name": "*ones"}, {"name": "B & *Jones"},
    {"id": "P00_"}, {"id": "PIZ1"}, {"id": "piz1"}, {"desc": "mri F"}, {"id": "P00* & PIZ2"}, {"id": "%"},
    {"study": "S2"}, {"date": "2020-0"}, {"date": "*-09-*"}, {"birth": "197"}, {"sex": "F"},
    {"desc": "MRI"}, {"desc": "*head"}, {"desc": "MRI*up"}, {"modality": "C M"},
    {"desc": 'SDESC:"MRI follow"'}, {"study": "STAG:control"}, {"study": "STAG:cont & PTAG:v"},
    {"name": "PTAG:vip"}, {"files": "FTAG:good"}, {"files": "t1_trio*/s0*.nii & STAG:control"},
    {"files": "t1_trio*/s0*.nii MPR_t1*/s*.nii"}, {"files": "*.json"}, {"files": "dwi/s00_.nii"},
    {"files": "T1"}, {"files": "t"}, {"files": "_eta/"}, {"files": "meta/radiomics1.json"},
    {"files": "flair/s004.nii & STAG:control"}, {"files": "zzz"},
    {"tags": "control young"}, {"tags": "PTAG:vip patient"}, {"job": "e"}, {"job": "qr"},
    {"desc": "MRI", "date": "2021", "files": "MPR*"}, {"sex": "*"}, {"date": "*"},
]


@pytest.fixture
def varied(demo):
    """The demo project plus a subject without identity fields and a study without a date."""
    s = demo.session("admin")
    s.create_subject("demo", "P004")
    s.create_study("demo", "P004#S1", description="MRI", modality="MR")
    s.create_study("demo", "P003#S2", study_date="2023-01-01", description="")
    return demo


@pytest.mark.parametrize("files", ["database", "index"])
@pytest.mark.parametrize("user", ["owner", "reader"])
def test_memory_and_sql_select_the_same_studies(varied, user, files):
    session = varied.session(user)
    table = load_table(session, "demo")
    matcher = Matcher(table).prepare()
    if files == "index":
        matcher.build_files(session)
        assert len(matcher.files) == len(session.select_files("demo", "*"))
    for bars in BARS:
        try:
            want = table.mask_of(matching_study_ids(session, "demo", bars))
        except PermissionDenied:
            with pytest.raises(PermissionDenied):
                matcher.match(session, bars)
            assert user == "reader"
            continue
        got = matcher.match(session, bars)
        assert np.array_equal(got, want), (bars, [table.ref(r) for r in np.flatnonzero(got)],
                                           [table.ref(r) for r in np.flatnonzero(want)])


def test_nulls_match_nothing_and_errors_speak(varied):
    session = varied.session("owner")
    matcher = Matcher(load_table(session, "demo"))
    table = matcher.table
    hits = {table.ref(r) for r in np.flatnonzero(matcher.match(session, {"name": "*"}))}
    assert "P004#S1" not in hits and "P001#S1" in hits
    with pytest.raises(FilterError, match="ends with '&'"):
        matcher.match(session, {"desc": "MRI &"})
    with pytest.raises(FilterError, match="unknown filter column 'colour'"):
        matcher.match(session, {"colour": "red"})
    with pytest.raises(FilterError, match="JOB:x"):
        matcher.match(session, {"job": "x"})


def test_job_markers_mark_studies_as_the_job_filter_does():
    """``table.jobs`` from BatchClient.markers: a subject-level job marks every study of its
    subject; error wins over running over queued; done and cancelled jobs leave no marker."""
    import numpy as np

    from nora_server.desktop.table import StudyTable, job_states

    table = StudyTable("demo", False, np.array([1, 2, 3, 4]), np.array([10, 10, 11, 12]),
                       {"subject": ["P001", "P001", "P002", "P003"],
                        "study": ["S1", "S2", "S1", "S1"]})
    markers = {"P001": {"state": "queued"}, "p001#s2": {"state": "error"},
               "P002#S1": {"state": "done"}, "P003": {"state": "running"},
               "P003#S1": {"state": "cancelled"}}
    assert job_states(table, markers) == {1: "q", 2: "e", 4: "r"}
