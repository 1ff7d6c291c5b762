"""The job monitor's logic, without Qt: refresh the job table (one scheduler query per
scheduler kind in use), a job as JSON, its log, kill, re-run the failed jobs of launches.

Every call goes through the desktop's :class:`~nora_server.batch.client.BatchClient`
(``context.batch``), which checks the user's rights and sends each job to the scheduler that
runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: the job table's states in NORA's order, and those of jobs not finished
from nora_server.batch.states import ACTIVE, STATES

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


def _plain(row: dict) -> dict:
    return {k: v.replace(microsecond=0).isoformat(sep=" ") if isinstance(v, datetime) else v
            for k, v in row.items()}


def refresh(context, project: str | None, *, include_done: bool = False,
            query: bool = True) -> Snapshot:
    """Bring active jobs up to date (``query``: ONE scheduler query per scheduler kind in use)
    and read the job table of ``project``: finished jobs only with ``include_done``; failed
    and cancelled jobs always; none without a project."""
    snap = Snapshot()
    if project is None:
        return snap
    client = context.batch
    if query:
        report = client.refresh(project)
        snap.queries, snap.changed = report.queries, report.changed
        if report.error:
            snap.errors.append(report.error)
    snap.rows = [_plain(r) for r in client.jobs(project, include_done=include_done)]
    return snap


def job_document(context, job: dict) -> dict:
    """The job's row with its launch (user, scheduler, resources) and batch document."""
    return context.batch.job(int(job["id"]))


def log_text(context, job_id: int) -> str:
    return context.batch.log(int(job_id))


def kill(context, jobs: list[dict]) -> int:
    """Cancel the queued or running ``jobs`` (rows)."""
    return context.batch.cancel([j["id"] for j in jobs if j["state"] in ACTIVE])


def rerun_failed(context, jobs: list[dict]) -> list:
    """Re-run, as one new launch each, the failed and cancelled jobs of the launches of the
    failed or cancelled ``jobs`` (rows); jobs that are done or still active are left alone.
    Returns the LaunchResults."""
    launches = list(dict.fromkeys(j["launch_id"] for j in jobs if j["state"] in FAILED))
    if not launches:
        raise ValueError("no failed or cancelled job selected to re-run")
    return [context.batch.rerun_failed(launch_id) for launch_id in launches]


def counts(rows: list[dict]) -> dict[str, int]:
    out = {s: 0 for s in STATES}
    for r in rows:
        out[r["state"]] = out.get(r["state"], 0) + 1
    return out
