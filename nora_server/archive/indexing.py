"""Bulk indexing of a folder tree ``<subject>/<study>/<series folder>/<file>``.

Used by "create project from existing data" and by re-scans. Walks with ``os.scandir`` and
writes with Core ``executemany`` inserts in chunks (no ORM objects), inside the caller's
transaction, so a failed index leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import insert, select

from nora_server.archive import journal
from nora_server.archive.models import File, Study, Subject, utcnow
from nora_server.archive.names import RESERVED_PREFIX, file_kind

log = logging.getLogger(__name__)

CHUNK = 20_000
_BAD = re.compile(r"[\\#\x00-\x1f*%?]")


@dataclass
class IndexReport:
    subjects: int = 0
    studies: int = 0
    files: int = 0
    skipped: list[str] = field(default_factory=list)  # paths not indexed, with the reason


def _dirs(path: str):
    with os.scandir(path) as it:
        for e in it:
            if e.name.startswith(".") or _BAD.search(e.name) or len(e.name) > 128:
                continue
            if e.is_dir(follow_symlinks=False):
                yield e.name, e.path


def _walk_files(study_dir: str, prefix: str = ""):
    """Yield (relpath, size) under a study folder (hidden and reserved names skipped)."""
    with os.scandir(study_dir) as it:
        for e in it:
            name = e.name
            if name.startswith(".") or name.startswith(RESERVED_PREFIX):
                continue
            rel = prefix + name
            if e.is_dir(follow_symlinks=False):
                yield from _walk_files(e.path, rel + "/")
            elif e.is_file():
                yield rel, e.stat().st_size


def index_tree(conn, project_id: int, root: str | os.PathLike, *,
               progress: Callable[[int], None] | None = None) -> IndexReport:
    """Index every file under ``root`` that is not indexed yet (inside ``conn``'s transaction).

    ``progress(n)`` is called after every chunk of ``n`` files written.
    """
    root = str(Path(root))
    report = IndexReport()
    now = utcnow()
    subjects = {k.lower(): v for k, v in conn.execute(
        select(Subject.pseudonym, Subject.id).where(Subject.project_id == project_id))}
    tree = {pid: list(_dirs(ppath)) for pid, ppath in _dirs(root)}
    new_subj = [{"project_id": project_id, "pseudonym": pid, "created": now}
                for pid in tree if pid.lower() not in subjects]
    if new_subj:
        conn.execute(insert(Subject), new_subj)
        subjects = {k.lower(): v for k, v in conn.execute(
            select(Subject.pseudonym, Subject.id).where(Subject.project_id == project_id))}
    report.subjects = len(new_subj)

    def study_map():
        q = (select(Study.subject_id, Study.key, Study.id).join(Subject)
             .where(Subject.project_id == project_id))
        return {(s, k.lower()): i for s, k, i in conn.execute(q)}

    studies = study_map()
    new_st = [{"subject_id": subjects[pid.lower()], "key": sid, "description": "",
               "modality": "", "created": now}
              for pid, sts in tree.items() for sid, _ in sts
              if (subjects[pid.lower()], sid.lower()) not in studies]
    for k in range(0, len(new_st), CHUNK):
        conn.execute(insert(Study), new_st[k:k + CHUNK])
    if new_st:
        studies = study_map()
    report.studies = len(new_st)

    existing = set()
    if report.studies < len(studies):  # re-scan: skip what is indexed already
        q = select(File.study_id, File.path).where(File.project_id == project_id)
        existing = {(s, p.lower()) for s, p in conn.execute(q)}
    batch: list[tuple] = []
    # one executemany of plain tuples per chunk, straight to the driver: SQLAlchemy's
    # per-row parameter processing would cost as much as walking the tree
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {File.__tablename__} (project_id, study_id, path, kind, size, "
           f"checksum, added) VALUES ({', '.join([mark] * 7)})")
    added = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # how SQLAlchemy stores a DateTime as text

    def flush():
        if batch:
            conn.exec_driver_sql(sql, batch)
            journal.checkpoint("index:chunk")
            report.files += len(batch)
            if progress:
                progress(len(batch))
            batch.clear()

    for pid, sts in tree.items():
        for sid, spath in sts:
            st = studies[(subjects[pid.lower()], sid.lower())]
            seen = set()
            for rel, size in _walk_files(spath):
                low = rel.lower()
                if (st, low) in existing:
                    continue
                if low in seen or len(rel) > 512:
                    report.skipped.append(f"{spath}/{rel}: path differs only in case from "
                                          "another, or is longer than 512 characters")
                    continue
                seen.add(low)
                batch.append((project_id, st, rel, file_kind(rel), size, None, added))
                if len(batch) >= CHUNK:
                    flush()
    flush()
    with os.scandir(root) as it:
        report.skipped += [f"{e.path}: files must lie in <subject>/<study>/..." for e in it
                           if e.is_file() and not e.name.startswith(".")]
    log.info("indexed %d subjects, %d studies, %d files under %s", report.subjects,
             report.studies, report.files, root)
    return report


class IndexMixin:
    """Session methods: create a project from existing data, re-scan a project."""

    def create_project_from_folder(self, name: str, folder, *, description: str = "",
                                   module: str | None = None, progress=None) -> IndexReport:
        """Index an existing folder tree in place as project ``name`` (site admins).

        The folder keeps its place (the project's root is ``folder``); the project and its
        index are created in one transaction, so a failure leaves no project behind.
        """
        from nora_server.archive.errors import AlreadyExists, NotFound
        from nora_server.archive.models import Project
        from nora_server.archive.names import check_segment

        self._require_admin("create projects")
        check_segment(name, "project name")
        folder = Path(folder).resolve()
        if not folder.is_dir():
            raise NotFound(f"folder {folder} does not exist: give an existing folder")
        with self.engine.begin() as conn:
            if conn.execute(select(Project.id).where(Project.name == name)).first():
                raise AlreadyExists(f"a project named {name!r} exists already")
            pid = conn.execute(insert(Project).values(
                name=name, description=description, module=module, path=str(folder),
                created=utcnow())).inserted_primary_key[0]
            return index_tree(conn, pid, folder, progress=progress)

    def rescan(self, project: str, *, progress=None) -> IndexReport:
        """Index files that appeared in the project's folder without being added."""
        ref = self._project(project, "write")
        with self.engine.begin() as conn:
            return index_tree(conn, ref.id, ref.root, progress=progress)
