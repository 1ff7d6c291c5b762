"""Create a project from existing data; re-scan; the schema migrations; read-only SQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from nora_server.archive import ArchiveError, NotFound
from nora_server.archive.db import check_schema, current_revision, downgrade, head_revision, \
    upgrade
from nora_server.archive.exportmeta import export_meta
from nora_server.archive.sql import readonly_sql

TREE = ["S01/2020_01/t1_mprage/s001.nii", "S01/2020_01/t1_mprage/s002.nii.gz",
        "S01/2020_01/dwi/dwi.nii.gz", "S01/2021_06/t1_mprage/s001.nii",
        "S02/base/flair/f.nii", "S02/base/notes.txt", "S03/v1/a/b/deep.json"]


@pytest.fixture
def tree(tmp_path, write):
    root = tmp_path / "existing"
    for rel in TREE:
        write(root / rel, rel.encode())
    write(root / "loose.nii")  # not inside a study folder: reported, not indexed
    write(root / "S01/.hidden/x.nii")  # hidden: ignored
    return root


def test_create_project_from_existing_data(admin, tree):
    calls = []
    rep = admin.create_project_from_folder("legacy", tree, progress=calls.append)
    assert (rep.subjects, rep.studies, rep.files) == (3, 4, 7)
    assert sum(calls) == 7
    assert any("loose.nii" in s for s in rep.skipped)
    files = admin.select_files("legacy")
    assert [f"{f.ref}/{f.path}" for f in files] == [
        "S01#2020_01/dwi/dwi.nii.gz", "S01#2020_01/t1_mprage/s001.nii",
        "S01#2020_01/t1_mprage/s002.nii.gz", "S01#2021_06/t1_mprage/s001.nii",
        "S02#base/flair/f.nii", "S02#base/notes.txt", "S03#v1/a/b/deep.json"]
    assert files[0].abspath == tree / "S01/2020_01/dwi/dwi.nii.gz"  # indexed in place
    assert [f.kind for f in files] == ["nifti"] * 5 + ["text", "json"]
    assert files[0].size == len(TREE[2])
    # selection by pattern works on the indexed tree
    assert len(admin.select_files("legacy", "t1*/s00_.nii*")) == 3


def test_rescan_adds_only_new_files(admin, tree, write):
    admin.create_project_from_folder("legacy", tree)
    write(tree / "S01/2020_01/t1_mprage/s003.nii")
    write(tree / "S04/new/x/y.nii")
    rep = admin.rescan("legacy")
    assert (rep.subjects, rep.studies, rep.files) == (1, 1, 2)
    assert len(admin.select_files("legacy")) == 9


def test_failed_import_leaves_no_project(admin, tree):
    with pytest.raises(NotFound):
        admin.create_project_from_folder("legacy", tree / "missing")
    admin.create_project("taken")
    with pytest.raises(ArchiveError, match="exists already"):
        admin.create_project_from_folder("taken", tree)
    assert [p.name for p in admin.projects()] == ["taken"]


def test_in_place_project_files_resolve(admin, tree):
    admin.create_project_from_folder("legacy", tree)
    info = admin.file_info(str(tree / "S02/base/flair/f.nii"))
    assert (info.project, info.ref, info.path) == ("legacy", "S02#base", "flair/f.nii")


def test_exportmeta(demo):
    s = demo.session("reader")
    csv = export_meta(s, "demo", "*", "META/radio*.json", ["*.mask.volume", "*.mask.diameter"])
    assert csv.splitlines() == [
        "subject,study,radiomics1.mask.volume,radiomics1.mask.diameter,"
        "radiomics2.mask.volume,radiomics2.mask.diameter",
        "P001,S1,20,3,,", "P003,S1,,,20,3"]
    everything = export_meta(s, "demo", "P003", "META/*.json")
    assert everything.splitlines() == [
        "subject,study,radiomics2.mask.volume,radiomics2.mask.diameter,radiomics2.id",
        "P003,S1,20,3,P003#S1"]


def test_readonly_sql(demo):
    s = demo.session("admin")
    cols, rows = readonly_sql(s, "SELECT pseudonym FROM subjects ORDER BY pseudonym")
    assert cols == ["pseudonym"] and rows == [("P001",), ("P002",), ("P003",)]
    for statement in ("DELETE FROM files", "DROP TABLE files", "UPDATE users SET is_admin=1",
                      "SELECT 1; DELETE FROM files", "CREATE TABLE x (a INT)"):
        with pytest.raises(ArchiveError):
            readonly_sql(s, statement)
    assert len(s.select_files("demo")) == 11
    assert "files" in inspect(demo.engine).get_table_names()
    assert "x" not in inspect(demo.engine).get_table_names()


def test_migrations_down_and_up(fresh_url):
    """A fresh database: empty -> head; the archive's own revision 0001 down to base and up
    again (later revisions belong to other packages and are tested there)."""
    from sqlalchemy import text

    from nora_server.archive.db import DatabaseError, make_engine

    eng = make_engine(fresh_url)
    try:
        with pytest.raises(DatabaseError, match="noractl db upgrade"):
            check_schema(eng)
        upgrade(eng, "0001")
        assert {"projects", "files", "rights"} <= set(inspect(eng).get_table_names())
        downgrade(eng, "base")
        assert set(inspect(eng).get_table_names()) <= {"alembic_version"}
        upgrade(eng)
        assert current_revision(eng) == head_revision()
        check_schema(eng)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM files")).scalar() == 0
    finally:
        eng.dispose()


def test_schema_of_the_migrations_is_the_models_schema(engine):
    """``noractl db upgrade`` builds exactly what the models declare (on both back ends)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from nora_server.archive.models import Base
    from nora_server.batch import tables  # noqa: F401 - its tables are on the same Base

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_head_revisions_without_alembic():
    from alembic.script import ScriptDirectory

    from nora_server.archive.db import alembic_config, head_revisions

    assert head_revisions() == set(ScriptDirectory.from_config(alembic_config(None)).get_heads())


def test_migrations_0002_0003_0004_keep_existing_files_and_tags(fresh_url, tmp_path):
    """A database with files and tags from before 0002 gets each file's project (0002), each
    file tag's study (0003) and each tag's project (0004) filled in, keeps case-insensitive
    paths and tags, and downgrades back."""
    from sqlalchemy import text

    from nora_server.archive import Archive
    from nora_server.archive.admin import ensure_user
    from nora_server.archive.db import make_engine

    eng = make_engine(fresh_url)
    try:
        upgrade(eng, "b001")
        with eng.begin() as conn:
            for n, name in ((1, "a"), (2, "b")):
                conn.execute(text(f"INSERT INTO projects (id, name, description, created) "
                                  f"VALUES ({n}, '{name}', '', '2020-01-01')"))
                conn.execute(text(f"INSERT INTO subjects (id, project_id, pseudonym, created) "
                                  f"VALUES ({n}, {n}, 'P1', '2020-01-01')"))
                key = conn.dialect.identifier_preparer.quote("key")
                conn.execute(text(f"INSERT INTO studies (id, subject_id, {key}, description, "
                                  f"modality, created) VALUES ({n}, {n}, 'S1', '', '', "
                                  "'2020-01-01')"))
                conn.execute(text(f"INSERT INTO files (study_id, path, kind, size, added) VALUES "
                                  f"({n}, 'T1_mprage/s{n}.nii', 'nifti', {n}, '2020-01-01')"))
                conn.execute(text(f"INSERT INTO file_tags (file_id, tag) VALUES ({n}, 'good')"))
                conn.execute(text(f"INSERT INTO subject_tags (subject_id, tag) VALUES ({n}, "
                                  f"'vip{n}')"))
                conn.execute(text(f"INSERT INTO study_tags (study_id, tag) VALUES ({n}, 'ctl')"))
        upgrade(eng)
        check_schema(eng)
        with eng.connect() as conn:
            assert conn.execute(text("SELECT study_id, project_id FROM files ORDER BY 1")
                                ).all() == [(1, 1), (2, 2)]
            assert conn.execute(text("SELECT file_id, study_id FROM file_tags ORDER BY 1")
                                ).all() == [(1, 1), (2, 2)]
            for table, owner in (("file_tags", "file_id"), ("subject_tags", "subject_id"),
                                 ("study_tags", "study_id")):
                assert conn.execute(text(f"SELECT {owner}, project_id FROM {table} ORDER BY 1")
                                    ).all() == [(1, 1), (2, 2)]
        ensure_user(eng, "root", is_admin=True)
        s = Archive(eng, tmp_path).session("root")
        assert [f.path for f in s.select_files("b", "t1*/*")] == ["T1_mprage/s2.nii"]
        # '=' on the rebuilt table still ignores case (SQLite: the column kept NOCASE)
        assert s.file_info("p1#s1/t1_MPRAGE/S2.NII", project="b").path == "T1_mprage/s2.nii"
        assert [r.ref for r in s.studies("a", {"id": "FTAG:GOOD", "files": "t1_"})] == ["P1#S1"]
        assert [r.ref for r in s.studies("b", {"id": "PTAG:VIP STAG:ctl"})] == ["P1#S1"]
        assert s.studies("a", {"id": "PTAG:vip2"}) == []  # b's subject: not counted in a
        assert s.count_studies("b", {"id": "STAG:ctl"}) == 1
        assert s.tag_files(s.select_files("b", "t1*/*"), "Good") == 0  # the tag kept NOCASE
        assert s.tag_files(s.select_files("b", "t1*/*"), "best") == 1
        downgrade(eng, "b001")
        with eng.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM files WHERE path LIKE 't1%'")
                                ).scalar() == 2
        upgrade(eng)
    finally:
        eng.dispose()


def test_migration_b003_keeps_the_job_ids_of_array_launches(fresh_url):
    """Jobs of an array launch read their ids from the launch's ``array_prefix`` (b003); a
    downgrade writes them back into the rows, and old rows keep theirs."""
    from sqlalchemy import text

    from nora_server.archive.db import make_engine

    eng = make_engine(fresh_url)
    try:
        upgrade(eng)
        with eng.begin() as conn:
            for launch, prefix in (("new", "'77_'"), ("old", "NULL")):
                conn.execute(text(
                    "INSERT INTO batch_launches (id, project, user, name, batch, scheduler, "
                    f"resources, folder, created, array_prefix) VALUES ('{launch}', 'p', 'u', "
                    f"'b', '{{}}', 'slurm', '{{}}', '/f', '2020-01-01', {prefix})"))
            for launch, i, sid in (("new", 0, "NULL"), ("new", 1, "NULL"), ("old", 0, "'5_0'")):
                conn.execute(text(
                    "INSERT INTO gridjobs (launch_id, task_index, project, subject, batch_name, "
                    "state, scheduler, scheduler_id, submitted, log_out, log_err, status_path) "
                    f"VALUES ('{launch}', {i}, 'p', 'P{i}', 'b', 'queued', 'slurm', {sid}, "
                    "'2020-01-01', '', '', '')"))
        from nora_server.batch.jobviews import JobViews

        views = JobViews()
        views.engine = eng  # the job table's views, as nora jobs and the monitor read it
        assert sorted(r.scheduler_id for r in views.jobs(project="p")) == ["5_0", "77_0", "77_1"]
        assert [r.subject for r in views.jobs(project="p", search="77_1")] == ["P1"]
        downgrade(eng, "0003")
        with eng.connect() as conn:
            assert conn.execute(text("SELECT scheduler_id FROM gridjobs ORDER BY scheduler_id")
                                ).scalars().all() == ["5_0", "77_0", "77_1"]
        upgrade(eng)
    finally:
        eng.dispose()


def test_migration_b004_downgrade_waits_for_pending_job_rows(fresh_url):
    """A launch whose job rows are not written yet (b004) would lose its jobs in a downgrade:
    it is refused with what to do; once a view wrote the rows, it goes down."""
    from sqlalchemy import text

    from nora_server.archive.db import make_engine
    from nora_server.batch.jobviews import JobViews

    eng = make_engine(fresh_url)
    try:
        upgrade(eng)
        with eng.begin() as conn:
            conn.execute(text(
                "INSERT INTO batch_launches (id, project, user, name, batch, scheduler, "
                "resources, folder, created, array_prefix, pending) VALUES ('L', 'p', 'u', 'b', "
                "'{}', 'slurm', '{}', '/f', '2020-01-01', '9_', 1)"))
            conn.execute(text("INSERT INTO batch_launch_targets (launch_id, targets) VALUES "
                              "('L', '[[\"P1\",null,null,null],[\"P2\",null,null,null]]')"))
        with pytest.raises(RuntimeError, match="1 launch.*nora jobs"):
            downgrade(eng, "0004")
        assert current_revision(eng) == head_revision()
        views = JobViews()
        views.engine = eng
        assert sorted(r.scheduler_id for r in views.jobs(project="p")) == ["9_0", "9_1"]
        downgrade(eng, "0004")
        with eng.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM gridjobs")).scalar() == 2
        upgrade(eng)
    finally:
        eng.dispose()
