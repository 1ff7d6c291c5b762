"""A user's view of the archive: every operation checks the user's role first.

:class:`ArchiveSession` is the client interface shared by the ``nora`` command, batch jobs and
the napari widgets. Its methods are grouped in mixins by subject (projects and users, files,
tags and documents, the subject/study table); this module holds what they share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from nora_server.archive.admin import AdminMixin
from nora_server.archive.errors import NotFound
from nora_server.archive.files import FilesMixin
from nora_server.archive.indexing import IndexMixin
from nora_server.archive.models import Project, Right, Study, Subject
from nora_server.archive.names import split_ref
from nora_server.archive.query import QueryMixin
from nora_server.archive.rights import allowed, require
from nora_server.archive.tags import TagsMixin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectRef:
    id: int
    name: str
    root: Path
    role: str | None

    def can(self, action: str) -> bool:
        return allowed(self.role, action)


class ArchiveSession(AdminMixin, FilesMixin, TagsMixin, QueryMixin, IndexMixin):
    """The archive as seen by one user (site admin or a role per project)."""

    def __init__(self, archive, user_id: int, user: str, is_admin: bool):
        self.archive = archive
        self.engine = archive.engine
        self.user_id = user_id
        self.user = user
        self.is_admin = is_admin

    def __repr__(self) -> str:
        return f"<ArchiveSession user={self.user!r} admin={self.is_admin}>"

    # -- shared helpers ------------------------------------------------------------------
    def _root(self, name: str, path: str | None) -> Path:
        return Path(path) if path else self.archive.storage / name

    def _project(self, name: str, action: str = "read", conn=None) -> ProjectRef:
        """Look the project up and check ``action``; unknown and invisible look the same."""
        if conn is None:
            with self.engine.connect() as c:
                return self._project(name, action, c)
        row = conn.execute(select(Project.id, Project.name, Project.path)
                           .where(Project.name == name)).first()
        role = None
        if row is not None:
            if self.is_admin:
                role = "admin"
            else:
                role = conn.execute(select(Right.role).where(
                    Right.project_id == row.id, Right.user_id == self.user_id)).scalar()
        if row is None or role is None:
            raise NotFound(f"project {name!r} does not exist or user {self.user!r} has no role "
                           "on it: see 'nora --admin project list'")
        ref = ProjectRef(row.id, row.name, self._root(row.name, row.path), role)
        require(role, action, row.name, self.user)
        return ref

    def _study_id(self, conn, project: ProjectRef, ref: str) -> tuple[int, int | None]:
        """``PID`` or ``PID#SID`` -> (subject id, study id or None); NotFound otherwise."""
        pid, sid = split_ref(ref)
        subject_id = conn.execute(select(Subject.id).where(
            Subject.project_id == project.id, Subject.pseudonym == pid)).scalar()
        if subject_id is None:
            raise NotFound(f"no subject {pid!r} in project {project.name!r}")
        if sid is None:
            return subject_id, None
        study_id = conn.execute(select(Study.id).where(
            Study.subject_id == subject_id, Study.key == sid)).scalar()
        if study_id is None:
            raise NotFound(f"no study {sid!r} for subject {pid!r} in project {project.name!r}")
        return subject_id, study_id

    def role(self, project: str) -> str:
        """The user's role on ``project`` (``"admin"`` for site admins)."""
        return self._project(project).role
