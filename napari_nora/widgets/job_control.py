"""The job monitor's logic, without Qt: refresh the job table (one scheduler query per
scheduler in use), a job as JSON, kill, re-run the failed jobs of launches.

Every call goes through the desktop's batch runners (:func:`batch_compose.runner_for`), one per
scheduler kind (``local``, ``slurm``): a job is refreshed, killed and re-run by the scheduler
that runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import distinct, select

from napari_nora.widgets.batch_compose import runner_for

#: the states of the job table, in NORA's order (see nora_server.batch.scheduler.STATES)
STATES = ("queued", "running", "done", "error", "cancelled")
FAILED = ("error", "cancelled")
COLUMNS = ("id", "state", "subject", "study", "batch_name", "scheduler", "scheduler_id",
           "submitted", "started", "finished", "message")


@dataclass
class Snapshot:
    """One refresh: the rows shown and what the schedulers said."""

    rows: list[dict] = field(default_factory=list)
    queries: int = 0          # scheduler queries made (one per scheduler kind with active jobs)
    changed: int = 0          # jobs whose state changed
    errors: list[str] = field(default_factory=list)  # schedulers that did not answer


def _plain(row) -> dict:
    d = dict(row._mapping)
    for k, v in d.items():
        if isinstance(v, datetime):
            d[k] = v.replace(microsecond=0).isoformat(sep=" ")
    return d


def active_schedulers(engine, project: str | None) -> list[str]:
    """Scheduler kinds with queued or running jobs (of ``project``)."""
    from nora_server.batch.tables import GridJob

    q = select(distinct(GridJob.scheduler)).where(GridJob.state.in_(("queued", "running")))
    if project:
        q = q.where(GridJob.project == project)
    with engine.connect() as conn:
        return sorted(conn.execute(q).scalars())


def refresh(context, project: str | None, *, include_done: bool = False,
            query: bool = True) -> Snapshot:
    """Bring active jobs up to date (``query``: ONE scheduler query per scheduler kind in use)
    and read the job table of ``project``: finished jobs only with ``include_done``; failed
    and cancelled jobs always."""
    snap = Snapshot()
    runner = runner_for(context)
    if query:
        for kind in active_schedulers(runner.engine, project):
            report = runner_for(context, kind).refresh(project=project)
            snap.queries += report.queries
            snap.changed += report.changed
            if report.error:
                snap.errors.append(f"{kind}: {report.error}")
    snap.rows = [_plain(r) for r in runner.jobs(project=project, include_done=include_done)]
    return snap


def job_document(context, job: dict) -> dict:
    """The job's row with its launch (the batch document, resources, user, re-run parent)."""
    from nora_server.batch.tables import BatchLaunch

    with runner_for(context).engine.connect() as conn:
        launch = conn.execute(select(BatchLaunch).where(
            BatchLaunch.id == job["launch_id"])).first()
    out = dict(job)
    if launch is not None:
        out["launch"] = _plain(launch)
    return out


def log_text(context, job_id: int) -> str:
    return runner_for(context).log_text(int(job_id))


def kill(context, jobs: list[dict]) -> int:
    """Cancel the queued or running ``jobs`` (rows), each through its own scheduler."""
    by_kind: dict[str, list[int]] = {}
    for j in jobs:
        if j["state"] in ("queued", "running"):
            by_kind.setdefault(j["scheduler"], []).append(int(j["id"]))
    return sum(runner_for(context, kind).cancel(ids) for kind, ids in by_kind.items())


def rerun_failed(context, jobs: list[dict]) -> list:
    """Re-run, as one new launch each, the failed and cancelled jobs of the launches of
    ``jobs`` (rows); launches without such jobs are left alone. Returns the LaunchResults."""
    from nora_server.batch.model import BatchError

    launches: dict[str, str] = {}
    for j in jobs:
        if j["state"] in FAILED:
            launches.setdefault(j["launch_id"], j["scheduler"])
    if not launches:
        raise BatchError("no failed or cancelled job selected to re-run")
    return [runner_for(context, kind).rerun(launch_id) for launch_id, kind in launches.items()]


def counts(rows: list[dict]) -> dict[str, int]:
    out = {s: 0 for s in STATES}
    for r in rows:
        out[r["state"]] = out.get(r["state"], 0) + 1
    return out
