"""Engines and schema migrations.

One engine per process (:func:`make_engine`); the schema is created and upgraded only by
Alembic migrations shipped inside the package (:func:`upgrade`), never by ``create_all``.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

ALEMBIC_DIR = Path(__file__).with_name("alembic")


class DatabaseError(Exception):
    """The database cannot be reached or is not at the expected schema."""


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache (default: 2 MiB)
    cur.execute("PRAGMA mmap_size=1073741824")  # read through the OS page cache, no copies
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def in_memory(url) -> bool:
    """An in-memory SQLite URL: each connection has its own, empty database."""
    u = make_url(url)
    return u.get_backend_name() == "sqlite" and u.database in (None, "", ":memory:")


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``sqlite:///path`` or ``mysql+pymysql://...`` with the archive's settings.

    SQLite: foreign keys on, WAL journal, 30 s busy timeout. MySQL/MariaDB: utf8mb4, pings
    pooled connections before use.
    """
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if not in_memory(u):
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(u, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if u.get_backend_name() in ("mysql", "mariadb"):
        if "charset" not in u.query:
            u = u.update_query_dict({"charset": "utf8mb4"})
        if (u.host in (None, "localhost", "127.0.0.1", "::1")
                and not any(k.startswith("ssl") for k in u.query)):
            # loopback: PyMySQL's default "preferred" TLS would cost ~60 ms per connection
            # for nothing (loading the CA store); remote servers keep it
            kwargs.setdefault("connect_args", {"ssl_disabled": True})
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_recycle", 3600)
        return create_engine(u, **kwargs)
    return create_engine(u, **kwargs)


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the package's migrations up to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = alembic_config(None)
    return ScriptDirectory.from_config(cfg).get_current_head()


_REVISION_LINE = re.compile(r"^(revision|down_revision)\b[^=\n]*=(.*)$", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The head revision(s) of the shipped migrations, read from the ``revision`` and
    ``down_revision`` lines of the migration files: what :func:`head_revision` answers, without
    importing Alembic (a command such as ``nora -s`` in a job starts in a fraction of the
    time)."""
    revisions, parents = set(), set()
    for path in (ALEMBIC_DIR / "versions").glob("*.py"):
        for key, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            names = set(re.findall(r"['\"]([^'\"]+)['\"]", value))
            (revisions if key == "revision" else parents).update(names)
    return frozenset(revisions - parents)


def check_schema(engine: Engine) -> None:
    """Raise :class:`DatabaseError` unless the database is at the head revision."""
    try:
        with engine.connect() as conn:
            try:
                current = frozenset(conn.exec_driver_sql(
                    "SELECT version_num FROM alembic_version").scalars())
            except DBAPIError:  # no alembic_version table
                conn.rollback()
                current = None
    except Exception as exc:  # driver errors differ per back end
        raise DatabaseError(f"cannot reach the database {engine.url!r}: {exc}") from exc
    heads = head_revisions()
    if current != heads:
        if not current and not inspect(engine).get_table_names():
            raise DatabaseError(f"the database {engine.url!r} is empty: run 'noractl db upgrade'")
        have = ", ".join(sorted(current or ())) or None
        raise DatabaseError(f"the database is at revision {have}, this version needs "
                            f"{', '.join(sorted(heads))}: run 'noractl db upgrade'")
