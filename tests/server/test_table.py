"""What the desktop's subject/study table, file tree and upload dialog call: one call each."""

from __future__ import annotations

from datetime import date

import pytest

from nora_server.archive import AddItem, ArchiveError, FilterError, NotFound, TablePage


def refs(rows) -> list[str]:
    return [r.ref for r in rows]


def test_table_page_with_total_and_tags(demo):
    s = demo.session("member")
    page = s.table("demo", {"files": "t1*/s0*.nii MPR*"}, limit=2)
    assert isinstance(page, TablePage)
    assert page.total == 4 and refs(page.rows) == ["P001#S1", "P001#S2"]
    first = page.rows[0]
    assert (first.tags, first.subject_tags) == (("control",), ())
    assert (first.patient_id, first.study_date) == ("PIZ100", date(2020, 1, 10))
    rest = s.table("demo", {"files": "t1*/s0*.nii MPR*"}, limit=2, offset=2)
    assert rest.total == 4 and refs(rest.rows) == ["P002#S1", "P003#S1"]
    assert (rest.rows[0].tags, rest.rows[0].subject_tags) == (("patient",), ("vip",))
    assert rest.rows[1].tags == ("control", "young")
    whole = s.table("demo")
    assert whole.total == 4 and len(whole.rows) == 4
    assert s.table("demo", limit=2, count=False).total is None


def test_table_without_tags_is_the_studies_list(demo):
    s = demo.session("member")
    assert s.table("demo", with_tags=False).rows == s.studies("demo")
    assert all(r.tags == () for r in s.studies("demo"))
    assert s.studies("demo", with_tags=True)[2].subject_tags == ("vip",)


@pytest.mark.parametrize("order,descending,expected", [
    ("date", False, ["P001#S1", "P002#S1", "P001#S2", "P003#S1"]),
    ("date", True, ["P003#S1", "P001#S2", "P002#S1", "P001#S1"]),
    ("modality", False, ["P002#S1", "P001#S1", "P001#S2", "P003#S1"]),
    ("desc", False, ["P002#S1", "P001#S2", "P001#S1", "P003#S1"]),
    ("name", True, ["P003#S1", "P002#S1", "P001#S2", "P001#S1"]),  # ties reversed too
    ("id", True, ["P003#S1", "P002#S1", "P001#S2", "P001#S1"]),
])
def test_sorting(demo, order, descending, expected):
    rows = demo.session("owner").studies("demo", order=order, descending=descending)
    assert refs(rows) == expected


def test_sorting_subjects_and_pages(demo):
    s = demo.session("member")
    rows = s.table("demo", level="subject", order="birth", descending=True, limit=2)
    assert rows.total == 3 and refs(rows.rows) == ["P003", "P002"]
    assert rows.rows[1].tags == ("vip",) and rows.rows[1].birth_date == date(1980, 5, 6)
    rows = s.table("demo", {"files": "*.nii", "id": "P00"}, level="subject", order="birth",
                   descending=True, limit=2, offset=1)
    assert rows.total == 3 and refs(rows.rows) == ["P002", "P001"]
    assert rows.rows[0].tags == ("vip",)
    assert s.table("demo", {"id": "P00"}, limit=2, offset=9) == TablePage(4, [])
    with pytest.raises(FilterError, match="cannot sort subject rows by 'date'"):
        s.table("demo", level="subject", order="date")
    with pytest.raises(FilterError, match="cannot sort"):
        s.studies("demo", order="colour")


def test_readers_get_rows_without_identities(demo):
    page = demo.session("reader").table("demo", {"id": "P002"})
    (row,) = page.rows
    assert (row.patient_id, row.patient_name, row.birth_date, row.sex) == (None,) * 4
    assert (row.ref, row.tags, row.subject_tags, row.modality) == ("P002#S1", ("patient",),
                                                                   ("vip",), "CT")


def test_tags_of_many_rows(demo):
    s = demo.session("reader")
    assert s.row_tags("demo", ["P003#S1", "P002", "p001#s2", "P001"]) == {
        "P003#S1": ("control", "young"), "P002": ("vip",), "p001#s2": (), "P001": ()}
    with pytest.raises(NotFound, match="no study 'S9'"):
        s.row_tags("demo", ["P001#S9"])


def test_tag_many_rows_all_or_nothing(demo):
    s = demo.session("member")
    assert s.tag_rows("demo", ["P001#S1", "P001#S2", "P002"], "qc,Control") == 5
    assert s.row_tags("demo", ["P001#S1", "P001#S2", "P002"]) == {
        "P001#S1": ("control", "qc"), "P001#S2": ("Control", "qc"),
        "P002": ("Control", "qc", "vip")}
    with pytest.raises(NotFound, match="P404"):
        s.tag_rows("demo", ["P003#S1", "P404"], "late")
    assert s.tags("demo", "P003#S1") == ["control", "young"]  # nothing changed
    assert s.tag_rows("demo", ["P001#S1", "P002"], "QC,control", remove=True) == 4
    assert s.row_tags("demo", ["P001#S1", "P002"]) == {"P001#S1": (), "P002": ("vip",)}
    # the filter bars see the new tags
    assert refs(s.studies("demo", {"id": "STAG:qc"})) == ["P001#S2"]


def test_files_of_one_study(demo, tmp_path, write):
    s = demo.session("reader")
    files = s.study_files("demo", "P001#S1")
    assert [(f.series, f.path) for f in files] == [  # names sort case-insensitively
        ("dwi", "dwi/s003.nii.gz"), ("META", "META/radiomics1.json"),
        ("t1_trio_mprage", "t1_trio_mprage/s001.nii"),
        ("t1_trio_mprage", "t1_trio_mprage/s002.nii")]
    assert files[2].tags == ("good",) and files[2].abspath.is_file()
    # exact references: '_' is a character here, not a wildcard
    admin = demo.session("admin")
    src = write(tmp_path / "x.nii")
    admin.add_files("demo", [AddItem(src, "Q_1#S_1", "a/x.nii"),
                             AddItem(src, "QX1#SX1", "b/x.nii")])
    assert [f.path for f in s.study_files("demo", "Q_1#S_1")] == ["a/x.nii"]
    with pytest.raises(ArchiveError, match="not a study reference"):
        s.study_files("demo", "P001")
    with pytest.raises(NotFound):
        s.study_files("demo", "P001#S7")


def test_upload_progress_counts_bytes(demo, tmp_path, write):
    s = demo.session("member")
    a, b = write(tmp_path / "a.nii", b"a" * 3_000_000), write(tmp_path / "b.nii", b"b" * 10)
    done = []
    s.add_files("demo", [AddItem(a, "P001#S1", "up/a.nii"), AddItem(b, "P001#S1", "up/b.nii")],
                progress=done.append)
    assert sum(done) == 3_000_010 and len(done) >= 3  # 1 MiB chunks: the bar moves
