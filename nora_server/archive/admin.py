"""Projects, users and rights (a mixin of :class:`~nora_server.archive.session.ArchiveSession`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from nora_server.archive import journal
from nora_server.archive.errors import AlreadyExists, ArchiveError, NotFound, PermissionDenied
from nora_server.archive.models import ROLES, Project, Right, User, utcnow
from nora_server.archive.names import check_segment
from nora_server.archive.records import ProjectInfo, UserInfo

log = logging.getLogger(__name__)


class AdminMixin:
    def _require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise PermissionDenied(f"only site admins may {what}; user {self.user!r} is not one")

    # -- projects ------------------------------------------------------------------------
    def projects(self) -> list[ProjectInfo]:
        """Projects this user has a role on (all of them for a site admin)."""
        q = select(Project.name, Project.description, Project.module, Project.path)
        if self.is_admin:
            q = q.add_columns(Project.id)
        else:
            q = q.add_columns(Right.role).join(Right, Right.project_id == Project.id).where(
                Right.user_id == self.user_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(Project.name)).all()
        return [ProjectInfo(r[0], r[1], r[2], "admin" if self.is_admin else r[4],
                            self._root(r[0], r[3])) for r in rows]

    def project(self, name: str) -> ProjectInfo:
        ref = self._project(name)
        return next(p for p in self.projects() if p.name == ref.name)

    def create_project(self, name: str, *, description: str = "", module: str | None = None,
                       path: str | os.PathLike | None = None) -> ProjectInfo:
        """Create a project (site admins). ``path``: index an existing folder in place."""
        self._require_admin("create projects")
        check_segment(name, "project name")
        if path is not None:
            path = Path(path).resolve()
            if not path.is_dir():
                raise NotFound(f"folder {path} does not exist: give an existing folder")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(Project), [{
                    "name": name, "description": description, "module": module,
                    "path": str(path) if path else None, "created": utcnow()}])
        except IntegrityError:
            raise AlreadyExists(f"a project named {name!r} exists already: choose another name")
        root = self._root(name, str(path) if path else None)
        root.mkdir(parents=True, exist_ok=True)
        log.info("created project %s at %s", name, root)
        return self.project(name)

    def delete_project(self, name: str) -> None:
        """Delete a project's index and, for projects in the storage root, its folder."""
        ref = self._project(name, "manage")
        with self.engine.connect() as conn:
            external = conn.execute(select(Project.path).where(Project.id == ref.id)).scalar()
        plan = journal.new_plan()
        if not external and ref.root.exists():
            trash = str(ref.root.parent / f".nora-del-{plan['op']}")
            plan["moves"].append([str(ref.root), trash])
            plan["discard"].append(trash)
        journal.begin(self.engine, plan)
        try:
            journal.do_moves(self.engine, plan)
            with self.engine.begin() as conn:
                conn.execute(delete(Project).where(Project.id == ref.id))
                journal.mark_committed(conn, plan)
        except BaseException:
            journal.rollback(self.engine, plan)
            raise
        journal.finish(self.engine, plan)

    # -- users ---------------------------------------------------------------------------
    def users(self) -> list[UserInfo]:
        self._require_admin("list users")
        with self.engine.connect() as conn:
            rows = conn.execute(select(User.name, User.full_name, User.email, User.is_admin)
                                .order_by(User.name)).all()
        return [UserInfo(r[0], r[1], r[2], bool(r[3])) for r in rows]

    def create_user(self, name: str, *, full_name: str = "", email: str = "",
                    is_admin: bool = False) -> UserInfo:
        self._require_admin("create users")
        if not name or len(name) > 128 or name != name.strip():
            raise ArchiveError(f"user name {name!r} must be 1-128 characters without "
                               "leading/trailing spaces")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(User), [{"name": name, "full_name": full_name,
                                             "email": email, "is_admin": is_admin,
                                             "created": utcnow()}])
        except IntegrityError:
            raise AlreadyExists(f"a user named {name!r} exists already")
        return UserInfo(name, full_name, email, is_admin)

    def _user_id(self, conn, name: str) -> int:
        uid = conn.execute(select(User.id).where(User.name == name)).scalar()
        if uid is None:
            raise NotFound(f"unknown user {name!r}: add it with 'nora --admin user add {name}'")
        return uid

    def delete_user(self, name: str) -> None:
        self._require_admin("delete users")
        if name == self.user:
            raise ArchiveError("you cannot delete your own user; ask another site admin")
        with self.engine.begin() as conn:
            conn.execute(delete(User).where(User.id == self._user_id(conn, name)))

    def set_admin(self, name: str, is_admin: bool = True) -> None:
        self._require_admin("change site admins")
        with self.engine.begin() as conn:
            conn.execute(update(User).where(User.id == self._user_id(conn, name))
                         .values(is_admin=is_admin))

    # -- rights --------------------------------------------------------------------------
    def grant(self, user: str, project: str, role: str) -> None:
        """Give ``user`` the ``role`` (owner, member, reader) on ``project``."""
        if role not in ROLES:
            raise ArchiveError(f"role {role!r} is unknown: use one of {', '.join(ROLES)}")
        with self.engine.begin() as conn:
            ref = self._project(project, "manage", conn)
            uid = self._user_id(conn, user)
            conn.execute(delete(Right).where(Right.user_id == uid, Right.project_id == ref.id))
            conn.execute(insert(Right), [{"user_id": uid, "project_id": ref.id, "role": role}])

    def revoke(self, user: str, project: str) -> None:
        with self.engine.begin() as conn:
            ref = self._project(project, "manage", conn)
            uid = self._user_id(conn, user)
            conn.execute(delete(Right).where(Right.user_id == uid, Right.project_id == ref.id))

    def rights(self, project: str) -> dict[str, str]:
        """``{user: role}`` on ``project`` (visible to everyone with a role on it)."""
        with self.engine.connect() as conn:
            ref = self._project(project, "read", conn)
            rows = conn.execute(select(User.name, Right.role).join(Right, Right.user_id == User.id)
                                .where(Right.project_id == ref.id).order_by(User.name)).all()
        return {r[0]: r[1] for r in rows}


def ensure_user(engine, name: str, *, is_admin: bool = False) -> None:
    """Create ``name`` if missing (and make it a site admin if asked): the bootstrap used by
    ``noractl init`` and ``noractl user add``, which run with database access, not a session."""
    with engine.begin() as conn:
        uid = conn.execute(select(User.id).where(User.name == name)).scalar()
        if uid is None:
            conn.execute(insert(User), [{"name": name, "full_name": "", "email": "",
                                         "is_admin": is_admin, "created": utcnow()}])
        elif is_admin:
            conn.execute(update(User).where(User.id == uid).values(is_admin=True))
