"""Every role against every operation of the archive API.

Roles, weakest first: no role (``outsider``), ``reader``, ``member``, ``owner``, site ``admin``.
Each operation names the weakest role allowed; every weaker role must be refused (and change
nothing in the database), every stronger one must succeed. Each role works on its own target
so that destructive operations can be tried by every allowed role.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from nora_server.archive import NotFound, PermissionDenied
from nora_server.archive.models import Base
from nora_server.archive.sql import readonly_sql

ROLES = ["outsider", "reader", "member", "owner", "admin"]


def _sees_project(s, r, ctx):
    if "demo" not in [p.name for p in s.projects()]:
        raise PermissionDenied("not listed")


def _sees_identity(s, r, ctx):
    if s.studies("demo")[0].patient_id is None:
        raise PermissionDenied("identity hidden")


OPERATIONS = {
    # reading
    "list project": ("reader", _sees_project),
    "subject/study table": ("reader", lambda s, r, c: s.studies("demo")),
    "count rows": ("reader", lambda s, r, c: s.count_studies("demo")),
    "table page": ("reader", lambda s, r, c: s.table("demo", {"files": "t1*"}, limit=2)),
    "tags of rows": ("reader", lambda s, r, c: s.row_tags("demo", ["P001#S1", "P002"])),
    "files of a study": ("reader", lambda s, r, c: s.study_files("demo", "P001#S1")),
    "select files": ("reader", lambda s, r, c: s.select_files("demo", "t1*/s0*.nii")),
    "file info": ("reader", lambda s, r, c: s.file_info("P001#S1/dwi/s003.nii.gz",
                                                        project="demo")),
    "read tags": ("reader", lambda s, r, c: s.tags("demo", "P001#S1")),
    "read metadata": ("reader", lambda s, r, c: s.metadata("demo", "P001#S1", "info")),
    "list rights": ("reader", lambda s, r, c: s.rights("demo")),
    "export metadata": ("reader", lambda s, r, c: __import__(
        "nora_server.archive.exportmeta", fromlist=["x"]).export_meta(s, "demo", "*", "META/*")),
    # identities
    "see real identity": ("member", _sees_identity),
    "filter by name": ("member", lambda s, r, c: s.studies("demo", {"name": "A"})),
    # writing
    "add file": ("member", lambda s, r, c: s.add_file("demo", c["src"], "P001#S1",
                                                      f"new/{r}.nii")),
    "index in place": ("member", lambda s, r, c: s.index_files([c["inplace"][r]])),
    "delete file": ("member", lambda s, r, c: s.delete_files([f"P001#S1/del/{r}.nii"],
                                                             project="demo")),
    "delete study": ("member", lambda s, r, c: s.delete_refs("demo", [f"P001#D{r}"])),
    "create subject": ("member", lambda s, r, c: s.create_subject("demo", f"N{r}")),
    "tag files": ("member", lambda s, r, c: s.tag_files(c["files"], f"t{r}")),
    "tag study": ("member", lambda s, r, c: s.tag("demo", "P001#S1", f"t{r}")),
    "tag many rows": ("member", lambda s, r, c: s.tag_rows("demo", ["P001#S1", "P002"], r)),
    "sort by name": ("member", lambda s, r, c: s.table("demo", order="name")),
    "write metadata": ("member", lambda s, r, c: s.set_metadata("demo", "P001#S1", r, {})),
    "output location": ("member", lambda s, r, c: s.output_location("demo", "P001#S1",
                                                                    f"out/{r}.nii")),
    "rescan folder": ("member", lambda s, r, c: s.rescan("demo")),
    # managing the project
    "grant": ("owner", lambda s, r, c: s.grant("guest", "demo", "reader")),
    "revoke": ("owner", lambda s, r, c: s.revoke("reader2", "demo")),
    "notify a project user": ("owner", lambda s, r, c: s.notify("reader2", "hi", project="demo")),
    "delete project": ("owner", lambda s, r, c: s.delete_project(f"p{r}")),
    # site-wide
    "create project": ("admin", lambda s, r, c: s.create_project(f"new{r}")),
    "create project from folder": ("admin", lambda s, r, c: s.create_project_from_folder(
        f"idx{r}", c["tree"])),
    "list users": ("admin", lambda s, r, c: s.users()),
    "create user": ("admin", lambda s, r, c: s.create_user(f"u{r}")),
    "make site admin": ("admin", lambda s, r, c: s.set_admin("guest")),
    "read-only SQL": ("admin", lambda s, r, c: readonly_sql(s, "SELECT 1")),
    "site-wide document": ("admin", lambda s, r, c: s.save_document("settings", r, {})),
}


def snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                for t in Base.metadata.sorted_tables}


@pytest.fixture
def ctx(demo, tmp_path, write):
    admin = demo.session("admin")
    admin.create_user("guest")
    admin.create_user("reader2")
    admin.grant("reader2", "demo", "reader")
    admin.set_metadata("demo", "P001#S1", "info", {"a": 1})
    src = write(tmp_path / "src.nii")
    inplace = {}
    for role in ROLES:
        admin.add_file("demo", src, "P001#S1", f"del/{role}.nii")
        admin.create_study("demo", f"P001#D{role}")
        inplace[role] = write(demo.storage / f"demo/P002/S1/inplace/{role}.nii")
        admin.create_project(f"p{role}")
        for user in ("reader", "member", "owner"):
            admin.grant(user, f"p{role}", user)
    (tmp_path / "tree/X1/S1/t1").mkdir(parents=True)
    write(tmp_path / "tree/X1/S1/t1/a.nii")
    return {"src": src, "inplace": inplace, "tree": tmp_path / "tree",
            "files": admin.select_files("demo", "t2/*")}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_role_matrix(demo, ctx, operation):
    weakest, op = OPERATIONS[operation]
    for role in ROLES:
        s = demo.session(role)
        if ROLES.index(role) < ROLES.index(weakest):
            before = snapshot(demo.engine)
            # a user without a role does not even learn that the project exists
            expected = (PermissionDenied, NotFound) if role == "outsider" else PermissionDenied
            with pytest.raises(expected):
                op(s, role, ctx)
            assert snapshot(demo.engine) == before, f"{role} changed something: {operation}"
        else:
            op(s, role, ctx)


def test_every_api_operation_is_in_the_matrix():
    """New public session methods must be added to the matrix above."""
    from nora_server.archive.session import ArchiveSession

    public = {n for n in dir(ArchiveSession) if not n.startswith("_")}
    covered = {"projects", "studies", "count_studies", "select_files", "file_info", "tags",
               "metadata", "rights", "table", "row_tags", "study_files", "tag_rows",
               "add_file", "index_files", "delete_files", "delete_refs", "create_subject",
               "tag_files", "tag", "set_metadata", "output_location", "rescan", "grant",
               "revoke", "notify", "delete_project", "create_project",
               "create_project_from_folder", "users", "create_user", "set_admin",
               "save_document"}
    # thin wrappers or reads that go through the covered checks:
    via = {"project": "projects", "add_files": "add_file", "subjects": "studies",
           "create_study": "create_subject", "document": "metadata", "documents": "metadata",
           "resolve_path": "index_files", "role": "projects", "delete_user": "create_user",
           "notifications": "own notifications only"}
    assert public - covered - set(via) == set()
