"""The archive: one database engine plus one storage root, shared by every user session."""

from __future__ import annotations

import getpass
import logging
import os
from pathlib import Path

from sqlalchemy import Engine, select

from nora_server.archive import journal
from nora_server.archive.db import check_schema, make_engine
from nora_server.archive.errors import NotFound
from nora_server.archive.models import User
from nora_server.config import Settings, load_settings

log = logging.getLogger(__name__)

USER_ENV = "NORA_USER"


class Archive:
    """Database + storage root. Obtain a user's view with :meth:`session`.

    >>> archive = Archive(make_engine("sqlite:///nora.sqlite"), "storage")  # doctest: +SKIP
    >>> s = archive.session("alice")                                        # doctest: +SKIP
    """

    def __init__(self, engine: Engine, storage: str | os.PathLike):
        self.engine = engine
        self.storage = Path(storage).resolve()

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, check: bool = True) -> Archive:
        settings = settings or load_settings()
        archive = cls(make_engine(settings.database), settings.storage)
        if check:
            check_schema(archive.engine)
        return archive

    def session(self, user: str | None = None):
        """A session bound to ``user`` (default ``$NORA_USER``, else the login name)."""
        from nora_server.archive.session import ArchiveSession

        name = user or os.environ.get(USER_ENV) or getpass.getuser()
        with self.engine.connect() as conn:
            row = conn.execute(select(User.id, User.name, User.is_admin)
                               .where(User.name == name)).first()
        if row is None:
            raise NotFound(f"unknown user {name!r}: a site admin adds users with "
                           f"'nora --admin user add {name}' (or set {USER_ENV})")
        return ArchiveSession(self, row.id, row.name, bool(row.is_admin))

    def recover(self, *, force: bool = False) -> list[str]:
        """Finish or roll back file operations left by crashed processes."""
        return journal.recover(self.engine, force=force)

    def dispose(self) -> None:
        self.engine.dispose()


def connect(config: str | os.PathLike | None = None, user: str | None = None):
    """Open the archive described by ``nora.toml`` and return ``user``'s session."""
    return Archive.from_settings(load_settings(config)).session(user)
