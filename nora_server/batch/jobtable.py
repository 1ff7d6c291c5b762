"""Writing a launch's rows into the job table fast: the launch is timed against a bare
``sbatch --array`` (bench/batch_launch.py), so 1000 rows must cost a few milliseconds.

* rows go in with ONE driver-level ``executemany`` of a statement SQLAlchemy compiled for the
  dialect (SQLAlchemy's per-row parameter processing costs more than SQLite's insert itself);
* scheduler ids and log paths of an array (``<base>_<i>``, ``.../<base>_<i>_0_log.out``) are
  set by ONE ``UPDATE`` that builds them from ``task_index`` in SQL;
* the ids of the new rows come from ``min(id)``/``count`` when they are contiguous (one
  statement on one connection), else from a select.
"""

from __future__ import annotations

from sqlalchemy import String, bindparam, cast, func, insert, literal, select, update

from nora_server.batch.states import Submitted
from nora_server.batch.tables import GridJob

COLUMNS = ("launch_id", "task_index", "project", "subject", "study", "subject_id", "study_id",
           "batch_name", "state", "scheduler", "submitted", "finished", "status_path",
           "message", "scheduler_id", "log_out", "log_err")
DEFAULTS = {"scheduler_id": None, "log_out": "", "log_err": ""}
_SQL: dict = {}


def _insert_sql(dialect) -> tuple[str, tuple[str, ...]]:
    """The compiled positional INSERT for ``dialect`` and its parameter order (cached)."""
    if dialect.name not in _SQL:
        stmt = insert(GridJob.__table__).values({c: bindparam(c) for c in COLUMNS})
        compiled = stmt.compile(dialect=dialect)
        order = compiled.positiontup if compiled.positional else None
        _SQL[dialect.name] = (str(compiled), tuple(order) if order else None)
    return _SQL[dialect.name]


def _processors(dialect) -> dict:
    table = GridJob.__table__
    return {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in COLUMNS}


def insert_rows(conn, shared: dict, rows: list[dict]) -> None:
    """Insert ``rows`` (each a dict of the varying columns) with the ``shared`` columns."""
    sql, order = _insert_sql(conn.dialect)
    procs = _processors(conn.dialect)
    shared = {**{k: v for k, v in DEFAULTS.items() if k not in rows[0]}, **shared}
    fixed = {k: (procs[k](v) if procs[k] and v is not None else v) for k, v in shared.items()}
    varying = [c for c in COLUMNS if c not in fixed]
    for c in varying:
        if procs[c] is not None:
            for r in rows:
                if r.get(c) is not None:
                    r[c] = procs[c](r[c])
    if order is None:  # a named-parameter dialect
        params = [{**fixed, **{c: r.get(c) for c in varying}} for r in rows]
    else:
        keys = order
        params = [tuple(fixed[k] if k in fixed else r.get(k) for k in keys) for r in rows]
    conn.exec_driver_sql(sql, params)


def array_pattern(subs: list[Submitted]) -> tuple[str, str, str, str] | None:
    """``(job id prefix, log prefix, out suffix, err suffix)`` when every submission is
    ``<prefix><i>`` with logs ``<log prefix><i><suffix>``; else None."""
    if not subs:
        return None
    first = subs[0]
    if not first.job_id.endswith("_0"):
        return None
    prefix = first.job_id[:-1]
    try:
        lp, os_ = first.stdout.split(f"{prefix}0", 1)
        _, es = first.stderr.split(f"{prefix}0", 1)
    except ValueError:
        return None
    lprefix = lp + prefix
    for i, s in enumerate(subs):
        if (s.job_id != f"{prefix}{i}" or s.stdout != f"{lprefix}{i}{os_}"
                or s.stderr != f"{lprefix}{i}{es}"):
            return None
    return prefix, lprefix, os_, es


def set_submissions(conn, launch_id: str, subs: list[Submitted]) -> None:
    """Store the scheduler ids and log paths of a launch's rows (in task order)."""
    pattern = array_pattern(subs)
    if pattern is not None:
        prefix, lprefix, out_sfx, err_sfx = pattern
        idx = cast(GridJob.task_index, String)
        conn.execute(update(GridJob).where(GridJob.launch_id == launch_id).values(
            scheduler_id=literal(prefix, String) + idx,
            log_out=literal(lprefix, String) + idx + literal(out_sfx, String),
            log_err=literal(lprefix, String) + idx + literal(err_sfx, String)))
        return
    stmt = update(GridJob).where(GridJob.launch_id == bindparam("_launch"),
                                 GridJob.task_index == bindparam("_index")).values(
        scheduler_id=bindparam("sid"), log_out=bindparam("out"), log_err=bindparam("err"))
    conn.execute(stmt, [{"_launch": launch_id, "_index": i, "sid": s.job_id, "out": s.stdout,
                         "err": s.stderr} for i, s in enumerate(subs)])


def row_ids(conn, launch_id: str, n: int) -> list[int]:
    """Ids of the launch's ``n`` rows in task order."""
    lo, hi, count = conn.execute(select(func.min(GridJob.id), func.max(GridJob.id),
                                        func.count()).where(GridJob.launch_id == launch_id)).one()
    if count == n and hi - lo + 1 == n:
        first = conn.execute(select(GridJob.task_index).where(GridJob.id == lo)).scalar_one()
        last = conn.execute(select(GridJob.task_index).where(GridJob.id == hi)).scalar_one()
        if first == 0 and last == n - 1:
            return list(range(lo, hi + 1))
    return list(conn.execute(select(GridJob.id).where(GridJob.launch_id == launch_id)
                             .order_by(GridJob.task_index)).scalars())
