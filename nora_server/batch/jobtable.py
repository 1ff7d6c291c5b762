"""Writing a launch's rows into the job table fast: the launch is timed against a bare
``sbatch --array`` (bench/batch_launch.py), so 1000 rows must cost a few milliseconds of CPU.

The rows go in while the submission runs (their job ids are not known yet), with one
statement:

* on SQLite, ``INSERT ... SELECT ... FROM json_each(?)``: the per-task values travel as one
  JSON array, and what follows a pattern (the task index, the status file, the log paths) is
  built in SQL. Half the CPU of ``executemany``, no per-row parameter processing in Python;
* on MariaDB >= 10.6 / MySQL >= 8.0.4 the same with ``JSON_TABLE``;
* elsewhere, the statement SQLAlchemy compiled for the dialect, executed once with every row.

Once the scheduler answered, the job ids are set by one row: an array's tasks are
``<array id>_<i>``, so the launch keeps ``array_prefix`` (read back with
``tables.scheduler_id()``). The ids of the new rows come from ``last_insert_rowid()`` on
SQLite (the write lock is held, rowids are consecutive); on MariaDB/MySQL from the statement's
first id, which the driver tells, once two primary-key lookups found tasks 0 and n-1 at its
ends (the rows go in in task order); elsewhere from ``min(id)``/``max(id)``/``count`` when
contiguous, else from a select.
"""

from __future__ import annotations

import json

from sqlalchemy import bindparam, func, insert, select, update

from nora_server.batch.tables import BatchLaunch, GridJob

SHARED = ("launch_id", "project", "batch_name", "state", "scheduler", "submitted")
VARYING = ("subject", "study", "subject_id", "study_id")
COLUMNS = ("launch_id", "task_index", "project", "subject", "study", "subject_id", "study_id",
           "batch_name", "state", "scheduler", "submitted", "status_path", "log_out", "log_err")
_SQL: dict = {}


def _processed(conn, values: dict) -> dict:
    """Shared values as the driver wants them (SQLAlchemy's bind processors: datetimes)."""
    key = ("processors", conn.dialect.name)
    if key not in _SQL:
        table = GridJob.__table__
        _SQL[key] = {k: table.c[k].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
                     for k in SHARED}
    procs = _SQL[key]
    return {k: (procs[k](v) if procs[k] and v is not None else v) for k, v in values.items()}


SQLITE_INSERT = (
    f"INSERT INTO gridjobs ({', '.join(COLUMNS)}) SELECT :launch_id, j.key, :project, "
    "json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), "
    "json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'), :batch_name, :state, "
    ":scheduler, :submitted, :status_dir || j.key || '.json', "
    ":log_prefix || j.key || :out_suffix, :log_prefix || j.key || :err_suffix "
    "FROM json_each(:rows) AS j")


def insert_rows(conn, shared: dict, rows: list[tuple], status_dir: str,
                logs: tuple[str, str, str]) -> int | None:
    """Insert one row per task, without its job id: ``shared`` values (SHARED), each row's
    VARYING values (a tuple in that order), the status file ``<status_dir>/<i>.json`` and the
    logs ``<prefix><i><suffix>`` (``logs``). Returns the first row's id where the driver
    tells it (MariaDB/MySQL: the statement's first AUTO_INCREMENT value), else None."""
    fixed = _processed(conn, {k: shared.get(k) for k in SHARED})
    status_dir = status_dir.rstrip("/")
    if conn.dialect.name == "sqlite" or _has_json_table(conn.dialect):
        # the driver's own named parameters: no SQLAlchemy compilation of a 100 kB parameter
        done = conn.exec_driver_sql(
            SQLITE_INSERT if conn.dialect.name == "sqlite" else MYSQL_INSERT, {
                **fixed, "rows": json.dumps(rows), "status_dir": f"{status_dir}/",
                "log_prefix": logs[0], "out_suffix": logs[1], "err_suffix": logs[2]})
        return done.lastrowid if conn.dialect.name != "sqlite" else None
    key = ("compiled", conn.dialect.name)
    if key not in _SQL:
        stmt = insert(GridJob.__table__).values({c: bindparam(c) for c in COLUMNS})
        compiled = stmt.compile(dialect=conn.dialect)
        order = tuple(compiled.positiontup) if compiled.positional else None
        _SQL[key] = (str(compiled), order)
    sql, order = _SQL[key]
    per_task = [{**dict(zip(VARYING, r)), "task_index": i,
                 "status_path": f"{status_dir}/{i}.json", "log_out": f"{logs[0]}{i}{logs[1]}",
                 "log_err": f"{logs[0]}{i}{logs[2]}"} for i, r in enumerate(rows)]
    if order is None:
        conn.exec_driver_sql(sql, [{**fixed, **t} for t in per_task])
    else:
        conn.exec_driver_sql(sql, [tuple(t[k] if k in t else fixed[k] for k in order)
                                   for t in per_task])
    return None


def set_scheduler_ids(conn, launch_id: str, subs) -> None:
    """The job ids of the launch's rows: ``subs`` (a :class:`SubmittedArray`, task ``i`` being
    ``<prefix><i>``) gives one row, the launch's ``array_prefix``."""
    conn.execute(update(BatchLaunch).where(BatchLaunch.id == launch_id)
                 .values(array_prefix=subs.pattern[0]))


MYSQL_INSERT = (
    f"INSERT INTO gridjobs ({', '.join(COLUMNS)}) SELECT %(launch_id)s, j.idx - 1, "
    "%(project)s, j.subject, j.study, j.subject_id, j.study_id, %(batch_name)s, %(state)s, "
    "%(scheduler)s, %(submitted)s, CONCAT(%(status_dir)s, j.idx - 1, '.json'), "
    "CONCAT(%(log_prefix)s, j.idx - 1, %(out_suffix)s), "
    "CONCAT(%(log_prefix)s, j.idx - 1, %(err_suffix)s) "
    "FROM JSON_TABLE(%(rows)s, '$[*]' COLUMNS (idx FOR ORDINALITY, "
    "subject VARCHAR(128) PATH '$[0]', study VARCHAR(128) PATH '$[1]', "
    "subject_id INT PATH '$[2]', study_id INT PATH '$[3]')) AS j ORDER BY j.idx")


def _has_json_table(dialect) -> bool:
    """MariaDB >= 10.6 and MySQL >= 8.0.4 have ``JSON_TABLE``."""
    if dialect.name != "mysql" or dialect.paramstyle not in ("format", "pyformat"):
        return False
    version = tuple(dialect.server_version_info or ())
    return version >= ((10, 6) if getattr(dialect, "is_mariadb", False) else (8, 0, 4))


def row_ids(conn, launch_id: str, n: int, first: int | None = None) -> list[int]:
    """Ids of the launch's ``n`` rows in task order; ``first``: the first row's id, if the
    driver told it (:func:`insert_rows`)."""
    if first:  # ids rise in task order (ORDER BY): tasks 0 and n-1 at first and first+n-1
        ends = dict(conn.execute(select(GridJob.id, GridJob.task_index).where(
            GridJob.id.in_([first, first + n - 1]), GridJob.launch_id == launch_id)).all())
        if ends == {first: 0, first + n - 1: n - 1}:  # no other launch's row in between
            return list(range(first, first + n))
    elif conn.dialect.name == "sqlite":  # the write lock is ours: rowids are max + 1, + 2...
        last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar()
        if last:
            return list(range(last - n + 1, last + 1))
    lo, hi, count = conn.execute(select(func.min(GridJob.id), func.max(GridJob.id),
                                        func.count()).where(GridJob.launch_id == launch_id)).one()
    if count == n and hi - lo + 1 == n:  # one statement, in task order, nobody in between
        return list(range(lo, hi + 1))
    return list(conn.execute(select(GridJob.id).where(GridJob.launch_id == launch_id)
                             .order_by(GridJob.task_index)).scalars())
