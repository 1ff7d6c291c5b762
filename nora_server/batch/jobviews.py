"""Views of the job table (NORA's Gridstats) for ``nora jobs`` and the desktop's job monitor:
listing with filters, one job as JSON, launches with their counts, per-subject markers, logs.

Mixed into :class:`nora_server.batch.service.BatchRunner` (it needs ``self.engine``).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, or_, select

from nora_server.batch.jobtable import launch_job_ids, write_pending
from nora_server.batch.model import BatchError
from nora_server.batch.states import ACTIVE
from nora_server.batch.tables import (BatchLaunch, GridJob, job_columns, scheduler_id,
                                      with_launch)

LOG_TAIL_CHARS = 200_000


def _tail(path: str, limit: int | None) -> str:
    p = Path(path) if path else None
    if not p or not p.is_file():
        return "(no log yet)"
    with open(p, "rb") as fh:
        if limit is not None:
            size = fh.seek(0, 2)
            if size > limit:
                fh.seek(size - limit)
                return f"(... {size - limit} bytes before)\n" + \
                    fh.read().decode("utf-8", "replace")
            fh.seek(0)
        return fh.read().decode("utf-8", "replace")


class JobViews:
    """Reads of the job table. Each view that may show a launch's jobs first writes the rows
    of launches recorded without them yet (:func:`jobtable.write_pending`); a job id exists
    only once its row does."""
    engine = None

    def write_pending(self) -> int:
        """Write the job rows of the launches still waiting for them; how many launches."""
        return write_pending(self.engine)

    def launch_job_ids(self, launch_id: str) -> list[int]:
        """Ids of a launch's jobs in the job table, in target order."""
        self.write_pending()
        with self.engine.connect() as conn:
            return launch_job_ids(conn, launch_id)

    def jobs(self, *, project: str | None = None, states=None, launch_id: str | None = None,
             include_done: bool = False, subjects=None, search: str | None = None,
             limit: int | None = None, ids=None) -> list:
        """Job rows (the ``gridjobs`` columns), newest first. By default finished (done) jobs
        leave the view; failed and cancelled ones stay. ``subjects``: pseudonyms; ``search``:
        a piece of the subject, study, batch name, scheduler id or message; ``ids``: only
        these jobs."""
        self.write_pending()
        q = with_launch(select(*job_columns()))
        if ids is not None:
            q = q.where(GridJob.id.in_(list(ids)))
        if project:
            q = q.where(GridJob.project == project)
        if launch_id:
            q = q.where(GridJob.launch_id == launch_id)
        if states:
            q = q.where(GridJob.state.in_(list(states)))
        elif not include_done:
            q = q.where(GridJob.state != "done")
        if subjects:
            q = q.where(GridJob.subject.in_(list(subjects)))
        if search:
            pat = f"%{search}%"
            q = q.where(or_(GridJob.subject.like(pat), GridJob.study.like(pat),
                            GridJob.batch_name.like(pat), scheduler_id().like(pat),
                            GridJob.message.like(pat)))
        q = q.order_by(GridJob.id.desc())
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return list(conn.execute(q).all())

    def active_schedulers(self, project: str | None = None) -> list[str]:
        """Scheduler kinds (``local``, ``slurm``) with queued or running jobs (of ``project``)."""
        self.write_pending()
        q = select(GridJob.scheduler).where(GridJob.state.in_(ACTIVE)).distinct()
        if project:
            q = q.where(GridJob.project == project)
        with self.engine.connect() as conn:
            return sorted(conn.execute(q).scalars())

    def job_project(self, job_id: int) -> str:
        """The project of job ``job_id`` (one query); BatchError when there is no such job."""
        with self.engine.connect() as conn:
            project = conn.execute(select(GridJob.project).where(GridJob.id == job_id)).scalar()
        if project is None:
            raise BatchError(f"no job {job_id} in the job table")
        return project

    def job(self, job_id: int) -> dict:
        """One job as a JSON-able dict: its row, its launch (user, scheduler, resources) and the
        batch document it ran (the monitor's "job JSON")."""
        with self.engine.connect() as conn:
            row = conn.execute(with_launch(select(*job_columns()))
                               .where(GridJob.id == job_id)).first()
            if row is None:
                raise BatchError(f"no job {job_id} in the job table")
            launch = conn.execute(select(BatchLaunch).where(
                BatchLaunch.id == row.launch_id)).first()
        out = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
               for k, v in row._mapping.items()}
        out["target"] = row.subject + (f"#{row.study}" if row.study else "")
        if launch is not None:
            out["launch"] = {"id": launch.id, "user": launch.user, "scheduler": launch.scheduler,
                             "resources": launch.resources, "folder": launch.folder,
                             "parent_id": launch.parent_id,
                             "created": launch.created.isoformat() if launch.created else None}
            out["batch"] = launch.batch
        return out

    def launches(self, *, project: str | None = None, launch_id: str | None = None,
                 limit: int | None = 100) -> list[dict]:
        """Recent launches, newest first, with the count of their jobs in each state."""
        self.write_pending()
        q = select(BatchLaunch.id, BatchLaunch.project, BatchLaunch.user, BatchLaunch.name,
                   BatchLaunch.scheduler, BatchLaunch.parent_id, BatchLaunch.created)
        if project:
            q = q.where(BatchLaunch.project == project)
        if launch_id:
            q = q.where(BatchLaunch.id == launch_id)
        q = q.order_by(BatchLaunch.created.desc())
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            launches = conn.execute(q).all()
            ids = [r.id for r in launches]
            counts: dict = {}
            if ids:
                for lid, state, n in conn.execute(
                        select(GridJob.launch_id, GridJob.state, func.count())
                        .where(GridJob.launch_id.in_(ids))
                        .group_by(GridJob.launch_id, GridJob.state)):
                    counts.setdefault(lid, {})[state] = n
        return [{**r._mapping, "counts": counts.get(r.id, {})} for r in launches]

    def markers(self, project: str) -> dict[str, dict]:
        """Job markers for the subject/study table: for every subject (``"PID"``, jobs run per
        subject) and study (``"PID#SID"``, jobs run per study), its latest job's state, id,
        batch name and message. The same "latest job" rule as the ``JOB:q|r|e`` filter."""
        self.write_pending()
        latest = (select(func.max(GridJob.id)).where(GridJob.project == project)
                  .group_by(GridJob.subject, GridJob.study))
        with self.engine.connect() as conn:
            rows = conn.execute(select(GridJob.id, GridJob.subject, GridJob.study, GridJob.state,
                                       GridJob.batch_name, GridJob.message)
                                .where(GridJob.id.in_(latest))).all()
        return {r.subject + (f"#{r.study}" if r.study else ""):
                {"state": r.state, "job_id": r.id, "batch": r.batch_name, "message": r.message}
                for r in rows}

    def log_text(self, job_id: int, *, tail: int | None = LOG_TAIL_CHARS) -> str:
        """The job's stdout and stderr (the last ``tail`` bytes of each) and its message."""
        with self.engine.connect() as conn:
            row = conn.execute(select(GridJob.log_out, GridJob.log_err, GridJob.message).where(
                GridJob.id == job_id)).first()
        if row is None:
            raise BatchError(f"no job {job_id} in the job table")
        parts = [f"==> {label}: {path}\n{_tail(path, tail)}"
                 for label, path in (("stdout", row.log_out), ("stderr", row.log_err))]
        if row.message:
            parts.append(f"==> message\n{row.message}")
        return "\n".join(parts)
