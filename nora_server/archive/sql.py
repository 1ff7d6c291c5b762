"""``nora -q``: one SQL statement, read-only, for site admins.

Read-only is enforced by the database itself, not by inspecting the text: SQLite runs the
statement with ``PRAGMA query_only``; MySQL/MariaDB inside ``START TRANSACTION READ ONLY`` on a
session set to read-only, rolled back afterwards. The connection is discarded after use.
Drivers run one statement per call, so ``SELECT 1; DROP TABLE x`` is refused too.
"""

from __future__ import annotations

from nora_server.archive.errors import ArchiveError


def readonly_sql(session, statement: str) -> tuple[list[str], list[tuple]]:
    """Run ``statement``; return (column names, rows)."""
    session._require_admin("run SQL statements")
    conn = session.engine.connect()
    try:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA query_only=ON")
        else:
            conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
            conn.exec_driver_sql("START TRANSACTION READ ONLY")
        try:
            result = conn.exec_driver_sql(statement)
            if not result.returns_rows:
                raise ArchiveError("the statement returned no rows: only queries are allowed")
            return list(result.keys()), [tuple(r) for r in result.fetchall()]
        except ArchiveError:
            raise
        except Exception as exc:  # noqa: BLE001 - driver errors differ per back end
            msg = str(getattr(exc, "orig", exc)) or type(exc).__name__
            raise ArchiveError(f"SQL statement failed (read-only, one statement): {msg}") from exc
    finally:
        try:
            conn.rollback()
        finally:
            conn.invalidate()
            conn.close()
