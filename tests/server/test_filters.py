"""The filter-bar language: one parser, checked against every example in nora-docs.txt.

Each DOC_EXAMPLES row: (where the example is in the docs, bar column, text, expected parse,
expected PID#SID rows on the demo project).
"""

from __future__ import annotations

import pytest

from nora_server.archive import FilterError, PermissionDenied
from nora_server.archive.filters import Filter, Term, parse
from nora_server.archive.models import Study
from nora_server.archive.query import register_job_filter

T = Term
ALL = ["P001#S1", "P001#S2", "P002#S1", "P003#S1"]

DOC_EXAMPLES = [
    ("Filterbars: given name starts with A or B", "name", "A B",
     ((T("", "A"),), (T("", "B"),)), ["P001#S1", "P001#S2", "P002#S1"]),
    ("file search: all studies that have a T1 from a trio", "files", "t1_trio*/s0*.nii",
     ((T("", "t1_trio*/s0*.nii"),),), ["P001#S1", "P002#S1"]),
    ("file search: multiple queries", "files", "t1_trio*/s0*.nii MPR_t1*/s*.nii",
     ((T("", "t1_trio*/s0*.nii"),), (T("", "MPR_t1*/s*.nii"),)), ALL),
    ("file search restricted by study tag", "files", "t1_tri*/s0*.nii & STAG:control",
     ((T("", "t1_tri*/s0*.nii"), T("STAG", "control")),), ["P001#S1"]),
    ("special attribute: studies with tag control", "files", "STAG:control",
     ((T("STAG", "control"),),), ["P001#S1", "P003#S1"]),
    ("special attribute: subjects with an erroneous job", "id", "JOB:e",
     ((T("JOB", "e"),),), ["P002#S1"]),
    ("batch FILE argument pattern", "files", "t1*/s0__.nii",
     ((T("", "t1*/s0__.nii"),),), ["P001#S1", "P002#S1"]),
    ("batch FILE argument pattern (three underscores)", "files", "t1*/s0___.nii",
     ((T("", "t1*/s0___.nii"),),), []),
]

# The attributes the docs name without an example value, and the grammar's corners.
MORE = [
    ("id", "PTAG:vip", ((T("PTAG", "vip"),),), ["P002#S1"]),
    ("id", "FTAG:good", ((T("FTAG", "good"),),), ["P001#S1"]),
    ("desc", "SDESC:MRI", ((T("SDESC", "MRI"),),), ["P001#S1", "P001#S2", "P003#S1"]),
    ("desc", 'SDESC:"MRI follow"', ((T("SDESC", "MRI follow"),),), ["P001#S2"]),
    ("desc", "SDESC:MRI & PTAG:vip", ((T("SDESC", "MRI"), T("PTAG", "vip")),), []),
    ("id", "stag:young", ((T("STAG", "young"),),), ["P003#S1"]),
    ("id", "P003 P001 & STAG:control", ((T("", "P003"),), (T("", "P001"), T("STAG", "control"))),
     ["P001#S1", "P003#S1"]),
    ("id", "P002&STAG:patient", ((T("", "P002"), T("STAG", "patient")),), ["P002#S1"]),
    ("id", "P0_1", ((T("", "P0_1"),),), ["P001#S1", "P001#S2"]),
    ("id", "p00", ((T("", "p00"),),), ALL),
    ("name", "a", ((T("", "a"),),), ["P001#S1", "P001#S2"]),
    ("date", "2020", ((T("", "2020"),),), ["P001#S1", "P002#S1"]),
    ("date", "2020-06 2022", ((T("", "2020-06"),), (T("", "2022"),)), ["P002#S1", "P003#S1"]),
    ("birth", "19*-05", ((T("", "19*-05"),),), ["P002#S1"]),
    ("modality", "CT", ((T("", "CT"),),), ["P002#S1"]),
    ("study", "S2", ((T("", "S2"),),), ["P001#S2"]),
    ("desc", "100%", ((T("", "100%"),),), []),
    ("files", "*.json", ((T("", "*.json"),),), ["P001#S1", "P003#S1"]),
    ("files", "", (), ALL),
]


@pytest.mark.parametrize("where,column,text,groups,_", DOC_EXAMPLES,
                         ids=[r[0] for r in DOC_EXAMPLES])
def test_parse_doc_examples(where, column, text, groups, _):
    assert parse(text) == Filter(groups)


@pytest.mark.parametrize("column,text,groups,_", MORE, ids=[r[1] for r in MORE])
def test_parse_more(column, text, groups, _):
    assert parse(text) == Filter(groups)


@pytest.fixture
def jobs(demo):
    """Grid jobs of the batch runner (its own tables, migration b001): the latest job of a
    study or subject decides its state. P001#S1: an error, then re-run and done; P001#S2:
    queued; P002#S1: error; P003 (a subject-level job): running."""
    from sqlalchemy import insert, select

    from nora_server.archive.models import Subject, utcnow
    from nora_server.batch.tables import BatchLaunch, GridJob

    with demo.engine.begin() as conn:
        ids = {f"{p}#{k}" if k else p: (si, st) for p, k, si, st in conn.execute(
            select(Subject.pseudonym, Study.key, Subject.id, Study.id).join(Study))}
        ids["P003"] = (ids["P003#S1"][0], None)
        conn.execute(insert(BatchLaunch), [{"id": "L1", "project": "demo", "user": "admin",
                                            "name": "b", "batch": {}, "scheduler": "local",
                                            "resources": {}, "folder": "/tmp",
                                            "created": utcnow()}])
        conn.execute(insert(GridJob), [
            {"launch_id": "L1", "task_index": n, "project": "demo", "subject": ref[:4],
             "study": ref[5:] or None, "subject_id": ids[ref][0], "study_id": ids[ref][1],
             "state": state, "scheduler": "local", "submitted": utcnow()}
            for n, (ref, state) in enumerate([("P001#S1", "error"), ("P001#S2", "queued"),
                                              ("P002#S1", "error"), ("P003", "running"),
                                              ("P001#S1", "done")])])
    return demo


def test_demo_rows_doc_examples(jobs):
    s = jobs.session("member")
    for where, column, text, _, expected in DOC_EXAMPLES:
        assert [r.ref for r in s.studies("demo", {column: text})] == expected, where


def test_demo_rows_more(demo):
    s = demo.session("member")
    for column, text, _, expected in MORE:
        assert [r.ref for r in s.studies("demo", {column: text})] == expected, text


def test_bars_are_combined_with_and(demo):
    s = demo.session("member")
    rows = s.studies("demo", {"name": "A B", "files": "t1_trio*/s0*.nii"})
    assert [r.ref for r in rows] == ["P001#S1", "P002#S1"]


def test_file_tags_follow_files_and_studies(demo):
    """A file tag carries its file's study (FTAG: reads it from the tag index): tagging files
    of other studies, untagging and deleting files keep FTAG: terms right."""
    from sqlalchemy import select

    from nora_server.archive.models import File, FileTag

    s = demo.session("member")
    assert [r.ref for r in s.studies("demo", {"id": "FTAG:good"})] == ["P001#S1"]
    s.tag_files(s.select_files("demo", "*", ref="P003#S1") + s.select_files("demo", "ct/*"),
                "good,new")
    assert [r.ref for r in s.studies("demo", {"id": "FTAG:good"})] == ["P001#S1", "P002#S1",
                                                                        "P003#S1"]
    with demo.engine.connect() as conn:
        assert conn.execute(select(FileTag.file_id).join(File, File.id == FileTag.file_id)
                            .where(FileTag.study_id != File.study_id)).all() == []
    s.tag_files(s.select_files("demo", "*", ref="P003#S1"), "good", remove=True)
    s.delete_files(s.select_files("demo", "ct/*"))
    assert [r.ref for r in s.studies("demo", {"id": "FTAG:good FTAG:new"})] == ["P001#S1",
                                                                              "P003#S1"]
    assert [r.ref for r in s.studies("demo", {"files": "t1_trio*/s0*.nii & FTAG:good"})] == [
        "P001#S1"]


def test_subject_level(demo):
    s = demo.session("member")
    assert [r.ref for r in s.subjects("demo", {"files": "STAG:control"})] == ["P001", "P003"]


@pytest.mark.parametrize("text,level,expected", [
    ("JOB:e", "subject", ["P002"]), ("JOB:r", "study", ["P003#S1"]),
    ("JOB:q", "study", ["P001#S2"]), ("JOB:qr", "study", ["P001#S2", "P003#S1"]),
    ("JOB:e PTAG:vip", "subject", ["P002"]), ("P00 & JOB:q", "study", ["P001#S2"])])
def test_job_states_of_the_batch_tables(jobs, text, level, expected):
    """Without any registration: the first JOB: term loads the batch runner's clause."""
    rows = jobs.session("reader").studies("demo", {"id": text}, level=level)
    assert [r.ref for r in rows] == expected


def test_a_launch_waiting_for_its_job_rows_counts_in_job_filters(jobs):
    """A launch records its targets; its job rows are written by the first reader. A JOB:
    term (the archive's count and table, the desktop's job bar) writes them before it runs:
    P002#S1, in error, was launched again and is queued."""
    import json

    from sqlalchemy import insert, select, update

    from nora_server.archive.models import Subject, utcnow
    from nora_server.batch.tables import BatchLaunch, GridJob, LaunchTargets
    from nora_server.desktop.table import matching_study_ids

    s = jobs.session("reader")
    checks = {"count": lambda: s.count_studies("demo", {"id": "JOB:e"}) == 0,
              "table": lambda: [r.ref for r in s.studies("demo", {"id": "JOB:q"})] == [
                  "P001#S2", "P002#S1"],
              "desktop": lambda: list(matching_study_ids(s, "demo", {"job": "e"})) == []}
    for launch_id, check in checks.items():
        with jobs.engine.begin() as conn:
            subject_id, study_id = conn.execute(select(Subject.id, Study.id).join(Study).where(
                Subject.pseudonym == "P002")).one()
            conn.execute(insert(BatchLaunch), [{
                "id": launch_id, "project": "demo", "user": "admin", "name": "again",
                "batch": {}, "scheduler": "slurm", "resources": {}, "folder": "/tmp/x",
                "created": utcnow(), "pending": True}])
            conn.execute(insert(LaunchTargets), [{"launch_id": launch_id, "targets": json.dumps(
                [["P002", "S1", subject_id, study_id]])}])
        assert check(), launch_id
        with jobs.engine.connect() as conn:
            assert conn.execute(select(BatchLaunch.pending).where(
                BatchLaunch.id == launch_id)).scalar() is False
        with jobs.engine.begin() as conn:  # P002#S1 in error again for the next check
            conn.execute(update(GridJob).where(GridJob.launch_id == launch_id)
                         .values(state="error"))


def test_job_states_come_from_the_batch_runner(demo):
    s = demo.session("member")
    register_job_filter(lambda states: Study.key == "S2" if "e" in states else Study.key == "")
    try:
        assert [r.ref for r in s.studies("demo", {"id": "JOB:e"})] == ["P001#S2"]
        assert [r.ref for r in s.studies("demo", {"id": "JOB:q"})] == []
    finally:
        register_job_filter(None)


def test_identity_filters_follow_the_role(demo):
    member, reader = demo.session("member"), demo.session("reader")
    # the real patient ID XYZ300 of P003 is searchable only for roles that may see it
    assert [r.ref for r in member.studies("demo", {"id": "XYZ"})] == ["P003#S1"]
    assert reader.studies("demo", {"id": "XYZ"}) == []
    with pytest.raises(PermissionDenied, match="identities"):
        reader.studies("demo", {"name": "A"})
    # special attributes in an identity column need no identity
    assert len(reader.studies("demo", {"name": "STAG:control"})) == 2


@pytest.mark.parametrize("text,message", [
    ("& A", "between two terms"), ("A &", "ends with '&'"), ("A && B", "between two terms"),
    ("STAG:", "needs a value"), ("JOB:x", "JOB:q"), ('SDESC:"open', "unbalanced quote"),
])
def test_parse_errors_say_what_to_do(text, message):
    with pytest.raises(FilterError, match=message):
        parse(text)


def test_unknown_column(demo):
    with pytest.raises(FilterError, match="unknown filter column"):
        demo.session("member").studies("demo", {"colour": "red"})


def test_count_and_pages(demo):
    s = demo.session("member")
    assert s.count_studies("demo") == 4
    assert s.count_studies("demo", {"files": "STAG:control"}) == 2
    assert s.count_studies("demo", {"name": "A"}, level="subject") == 1
    assert [r.ref for r in s.studies("demo", limit=2, offset=1)] == ["P001#S2", "P002#S1"]


def test_date_prefixes_become_exact_ranges():
    """A date bar term is a text prefix of YYYY-MM-DD; its index range must select exactly
    the dates whose text starts with it (every prefix of every day of 1999-2001, leap year
    2000 included, plus prefixes no date has)."""
    from datetime import date, timedelta

    from nora_server.archive.dateterms import prefix_range

    days = [date(1999, 1, 1) + timedelta(k) for k in range(3 * 365 + 1)]
    texts = [d.isoformat() for d in days]
    prefixes = {t[:n] for t in texts for n in range(1, 11)} | {
        "2000-13", "2001-02-29", "2000-02-3", "1999-", "1999-12-", "2000-1", "2000-0"}
    for p in prefixes:
        want = [t for t in texts if t.startswith(p)]
        span = prefix_range(p)
        if span is None:  # falls back to LIKE: allowed only where no date matches
            assert want == [], p
            continue
        lo, hi = span
        assert [d.isoformat() for d in days if lo <= d and (hi is None or d < hi)] == want, p
    assert prefix_range("19*-05") is None and prefix_range("2016-03-1x") is None
    assert prefix_range("9999") == (date(9999, 1, 1), None)
