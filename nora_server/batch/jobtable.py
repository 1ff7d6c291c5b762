"""The job table's rows of a launch: written after its submission, by the first reader.

A launch is timed against a bare ``sbatch --array`` (bench/batch_launch.py). It records
itself and its targets as one row each (``batch_launch_targets``, ``pending`` true), the way
Slurm keeps an array as one record until its tasks start: 1000 rows with their indexes cost
InnoDB 10-30 ms, two to four times the bare sbatch. Every reader of the job table first calls
:func:`write_pending`, which writes the rows of the launches still pending, each in one
transaction that claims the launch (clears ``pending``) first and drops its targets last: two
readers never write a launch's rows twice, and a failure leaves the launch pending for the
next reader.

The rows go in with one statement per launch, built by the server from the launch's rows:

* on SQLite, ``INSERT ... SELECT ... FROM batch_launches, batch_launch_targets,
  json_each(targets)``: what follows a pattern (the task index, the status file, the log
  paths) is built in SQL;
* on MariaDB >= 10.6 / MySQL >= 8.0.4 the same with ``JSON_TABLE``;
* elsewhere, the statement SQLAlchemy compiled for the dialect, executed once with every row.

Either way in task order: a launch's ids rise with its task index.

A job's scheduler id is its launch's ``array_prefix`` and its task index
(``tables.scheduler_id()``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from nora_server.archive.models import Study, Subject
from nora_server.batch.runner import status_path
from nora_server.batch.states import task_logs
from nora_server.batch.tables import BatchLaunch, GridJob, LaunchTargets

log = logging.getLogger(__name__)

COLUMNS = ("launch_id", "task_index", "project", "subject", "study", "subject_id", "study_id",
           "batch_name", "state", "scheduler", "submitted", "status_path", "log_out", "log_err")

SQLITE_INSERT = (
    f"INSERT INTO gridjobs ({', '.join(COLUMNS)}) SELECT l.id, j.key, l.project, "
    "json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), s.id, st.id, l.name, :state, "
    "l.scheduler, l.created, :status_dir || j.key || '.json', "
    ":log_prefix || j.key || :out_suffix, :log_prefix || j.key || :err_suffix "
    "FROM batch_launches AS l JOIN batch_launch_targets AS t ON t.launch_id = l.id "
    "JOIN json_each(t.targets) AS j "
    "LEFT JOIN subjects AS s ON s.id = json_extract(j.value, '$[2]') "
    "LEFT JOIN studies AS st ON st.id = json_extract(j.value, '$[3]') "
    "WHERE l.id = :launch_id ORDER BY j.key")

MYSQL_INSERT = (
    f"INSERT INTO gridjobs ({', '.join(COLUMNS)}) SELECT l.id, j.idx - 1, l.project, "
    "j.subject, j.study, s.id, st.id, l.name, %(state)s, l.scheduler, l.created, "
    "CONCAT(%(status_dir)s, j.idx - 1, '.json'), "
    "CONCAT(%(log_prefix)s, j.idx - 1, %(out_suffix)s), "
    "CONCAT(%(log_prefix)s, j.idx - 1, %(err_suffix)s) "
    "FROM batch_launches AS l JOIN batch_launch_targets AS t ON t.launch_id = l.id "
    "JOIN JSON_TABLE(t.targets, '$[*]' COLUMNS (idx FOR ORDINALITY, "
    "subject VARCHAR(128) PATH '$[0]', study VARCHAR(128) PATH '$[1]', "
    "subject_id INT PATH '$[2]', study_id INT PATH '$[3]')) AS j "
    "LEFT JOIN subjects AS s ON s.id = j.subject_id LEFT JOIN studies AS st ON st.id = j.study_id "
    "WHERE l.id = %(launch_id)s ORDER BY j.idx")

#: how many targets the launch has, by the server (NULL or an error for text that is no list)
TARGET_COUNT = {"sqlite": "SELECT json_array_length(targets) FROM batch_launch_targets "
                          "WHERE launch_id = :launch_id",
                "mysql": "SELECT JSON_LENGTH(targets) FROM batch_launch_targets "
                         "WHERE launch_id = %(launch_id)s AND JSON_TYPE(targets) = 'ARRAY'"}


def _server_side(dialect) -> bool:
    """Can the server read a launch's targets as rows? SQLite (``json_each``), MariaDB >= 10.6
    and MySQL >= 8.0.4 (``JSON_TABLE``)."""
    if dialect.name == "sqlite":
        return True
    if dialect.name != "mysql" or dialect.paramstyle not in ("format", "pyformat"):
        return False
    version = tuple(dialect.server_version_info or ())
    return version >= ((10, 6) if getattr(dialect, "is_mariadb", False) else (8, 0, 4))


def launch_paths(folder) -> tuple[str, tuple[str, str, str]]:
    """A launch's status folder and its tasks' logs (:func:`task_logs`) from its folder."""
    folder = Path(folder)
    return str(status_path(folder / "spec.pkl", 0).parent), task_logs(folder / "logs")


def write_launch_rows(conn, launch_id: str, folder, state: str = "queued") -> None:
    """One row per target of the launch ``launch_id`` (its :class:`LaunchTargets`), in
    ``state``; ``folder``: the launch's folder. The targets go once the rows are in. A
    subject or study deleted since the launch leaves its id empty, as its deletion does to
    written rows (``ON DELETE SET NULL``). ValueError if the targets are not a list."""
    status_dir, logs = launch_paths(folder)
    params = {"launch_id": launch_id, "state": state, "status_dir": f"{status_dir}/",
              "log_prefix": logs[0], "out_suffix": logs[1], "err_suffix": logs[2]}
    if _server_side(conn.dialect):
        sqlite = conn.dialect.name == "sqlite"
        wanted = conn.exec_driver_sql(TARGET_COUNT[conn.dialect.name], params).scalar()
        done = conn.exec_driver_sql(SQLITE_INSERT if sqlite else MYSQL_INSERT, params).rowcount
        if wanted is None or done != wanted:
            raise ValueError(f"launch {launch_id}: its targets are not a list of targets "
                             f"({done} job row(s) from them)")
    else:
        _write_rows_here(conn, launch_id, state, status_dir, logs)
    conn.execute(delete(LaunchTargets).where(LaunchTargets.launch_id == launch_id))


def _write_rows_here(conn, launch_id: str, state: str, status_dir: str, logs) -> None:
    """The rows built by us (dialects without ``json_each``/``JSON_TABLE``)."""
    launch = conn.execute(select(BatchLaunch, LaunchTargets.targets).join(
        LaunchTargets, LaunchTargets.launch_id == BatchLaunch.id)
        .where(BatchLaunch.id == launch_id)).one()
    targets = json.loads(launch.targets)
    known = {(model, i) for model, ids in ((Subject, {t[2] for t in targets}),
                                           (Study, {t[3] for t in targets}))
             for i in conn.execute(select(model.id).where(model.id.in_(ids - {None}))).scalars()}
    conn.execute(insert(GridJob), [
        {"subject": t[0], "study": t[1], "subject_id": t[2] if (Subject, t[2]) in known else None,
         "study_id": t[3] if (Study, t[3]) in known else None,
         "launch_id": launch_id, "task_index": i,
         "project": launch.project, "batch_name": launch.name, "state": state,
         "scheduler": launch.scheduler, "submitted": launch.created,
         "status_path": f"{status_dir}/{i}.json", "log_out": f"{logs[0]}{i}{logs[1]}",
         "log_err": f"{logs[0]}{i}{logs[2]}"} for i, t in enumerate(targets)])


def write_pending(engine) -> int:
    """Write the job rows of every launch still pending, oldest first, each in its own
    transaction that first claims the launch; the number of launches written. One indexed
    query when none is pending. A launch whose rows fail is logged and left pending: the view
    that called goes on."""
    with engine.connect() as conn:
        waiting = conn.execute(select(BatchLaunch.id, BatchLaunch.folder)
                               .where(BatchLaunch.pending)
                               .order_by(BatchLaunch.created)).all()
    written = 0
    for launch_id, folder in waiting:
        this = BatchLaunch.id == launch_id
        try:
            with engine.begin() as conn:  # the claim takes the row's lock (SQLite: the file's)
                claimed = conn.execute(update(BatchLaunch).where(this, BatchLaunch.pending)
                                       .values(pending=False))
                if claimed.rowcount != 1:  # another reader wrote them meanwhile
                    continue
                write_launch_rows(conn, launch_id, folder)
        except (SQLAlchemyError, ValueError) as exc:  # the views go on without its jobs
            log.error("launch %s: its job rows could not be written, it keeps its targets "
                      "and the next reader tries again: %s", launch_id, exc)
            continue
        written += 1
    return written


def launch_job_ids(conn, launch_id: str) -> list[int]:
    """Ids of the launch's job rows in task order."""
    return list(conn.execute(select(GridJob.id).where(GridJob.launch_id == launch_id)
                             .order_by(GridJob.task_index)).scalars())
