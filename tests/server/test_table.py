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


@pytest.fixture
def cohort(archive, admin, tmp_path):
    """Project ``big``: 30 subjects with 1-4 studies (keys in mixed case), study, subject and
    file tags on some; project ``other`` with the same tags on everything (which ``big``'s
    filters must never count)."""
    from nora_server.archive import AddItem

    from tests.server.conftest import write_bytes

    items = {"big": [], "other": []}
    for i in range(30):
        for k in range(1 + i % 4):
            ref = f"S{(i * 7) % 30:03d}#{'ax' if k == 1 else 'S'}{k}"
            for p in ("t1_mprage/s001.nii", f"flair/s00{k}.nii"):
                src = write_bytes(tmp_path / "src" / ref.replace("#", "_") / p)
                items["big"].append(AddItem(src, ref, p))
                if i < 3:
                    items["other"].append(AddItem(src, ref, p))
    for name, batch in items.items():
        admin.create_project(name)
        admin.add_files(name, batch)
    for i in range(0, 30, 3):
        admin.tag("big", f"S{i:03d}", "vip")
    for st in admin.studies("big")[::4]:
        admin.tag("big", st.ref, "control")
    admin.tag_files(admin.select_files("big", "flair/s001.nii"), "good")
    admin.tag_files(admin.select_files("other", "*"), "good,control")
    for st in admin.studies("other"):
        admin.tag("other", st.ref, "control")
        admin.tag("other", st.ref.split("#")[0], "vip")
    return archive


BARS = [{"id": "PTAG:vip FTAG:good"}, {"files": "flair* & STAG:control"},
        {"id": "STAG:control S01"}, {"id": "PTAG:vi"}, {"files": "t1*"}, {"study": "s"},
        {"id": "FTAG:good & S00"}, {"desc": "nothing"}]


@pytest.mark.parametrize("slack,many", [(64, 10_000), (1, 1)])
def test_filtered_pages_walk_subjects_in_order(cohort, monkeypatch, slack, many):
    """A filtered page is the slice of the whole sorted list, with its total, whatever the
    page size and offset; the walk's slack (1: the last subject is always read again) and
    MariaDB's walk in subject order (any tag with an owner) change nothing; the other
    project's tags never count."""
    from nora_server.archive import query

    monkeypatch.setattr(query, "WALK_SLACK", slack)
    monkeypatch.setattr(query, "MANY_OWNERS", many)
    s = cohort.session("admin")
    for bars in BARS:
        whole = refs(s.studies("big", bars))
        assert s.count_studies("big", bars) == len(whole), bars
        for limit, offset in ((1, 0), (5, 0), (5, 3), (7, 11), (500, 0), (4, 40)):
            page = s.table("big", bars, limit=limit, offset=offset)
            assert refs(page.rows) == whole[offset:offset + limit], (bars, limit, offset)
            assert page.total == len(whole), (bars, limit, offset)
    assert len(refs(s.studies("big", BARS[0]))) > 10  # the tags matched something


def test_tag_bars_are_counted_from_the_tag_indexes(cohort):
    """The count of a bar of tag groups reads the tags of the project only and agrees with
    counting the joined table."""
    from nora_server.archive.query import tag_count_select

    s = cohort.session("admin")
    pid = s._project("big").id
    with cohort.engine.connect() as conn:
        for bars in BARS:
            q = tag_count_select(bars, identity=True, project_id=pid)
            if bars in ({"files": "t1*"}, {"study": "s"}, {"desc": "nothing"},
                        {"id": "STAG:control S01"}):
                assert q is None  # a group without a tag: counted by the join
                continue
            assert conn.execute(q).scalar() == len(s.studies("big", bars)), bars


def test_an_in_memory_archive_counts_on_its_own_connection(tmp_path, monkeypatch):
    """An in-memory SQLite database exists once per connection: a page that needs the count
    of its matches counts on its own connection (a helper connection saw no tables)."""
    from nora_server.archive import AddItem, Archive, query
    from nora_server.archive.admin import ensure_user
    from nora_server.archive.db import make_engine, upgrade

    from tests.server.conftest import write_bytes

    monkeypatch.setattr(query, "WALK_SLACK", 1)
    engine = make_engine("sqlite://")
    upgrade(engine)
    ensure_user(engine, "root", is_admin=True)
    (tmp_path / "storage").mkdir()
    s = Archive(engine, tmp_path / "storage").session("root")
    s.create_project("p")
    s.add_files("p", [AddItem(write_bytes(tmp_path / f"{i}.nii"), f"P{i}#S1", "t1/a.nii")
                      for i in range(6)])
    s.tag("p", "P1#S1", "x")
    s.tag("p", "P2#S1", "x")
    page = s.table("p", {"id": "P"}, limit=2)
    assert page.total == 6 and refs(page.rows) == ["P0#S1", "P1#S1"]
    assert s.table("p", {"id": "STAG:x"}, limit=1).total == 2
