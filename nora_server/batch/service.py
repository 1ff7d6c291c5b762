"""Launch batches, refresh job states, cancel, re-run the failed subset.

:class:`BatchRunner` receives its collaborators: the archive's engine (job table), a scheduler
(:mod:`nora_server.batch.scheduler`), the folder for submitit files and logs, the file source
used to resolve patterns inside jobs, and optionally the registrar of OUT files and the
environment jobs see (so ``nora`` works inside them).
"""

from __future__ import annotations

import logging
import pickle
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import bindparam, insert, select, update

from nora_server.archive.models import utcnow
from nora_server.batch.model import BatchError, parse_batch
from nora_server.batch.runner import LaunchSpec, status_path
from nora_server.batch.scheduler import FINAL, Resources, SchedulerUnavailable
from nora_server.batch.tables import BatchLaunch, GridJob

log = logging.getLogger(__name__)
ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class LaunchResult:
    launch_id: str
    job_ids: list[int]          # gridjobs ids, in target order
    scheduler_ids: list[str]


@dataclass
class RefreshReport:
    checked: int = 0
    changed: int = 0
    unknown: int = 0            # jobs the scheduler did not report (state kept)
    queries: int = 0            # scheduler queries this refresh made (retries not counted)
    error: str | None = None    # the scheduler did not answer: states kept, not errors
    counts: dict = field(default_factory=dict)


def parse_time(text: str | None) -> datetime | None:
    """ISO text (with or without zone; naive means local time) -> naive UTC."""
    if not text or text in ("Unknown", "None"):
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t.astimezone(timezone.utc).replace(tzinfo=None)


class BatchRunner:
    def __init__(self, engine, scheduler, *, folder, files, registrar=None, job_env=None,
                 user: str = "", default_resources: Resources | None = None):
        self.engine, self.scheduler = engine, scheduler
        self.folder = Path(folder)
        self.files, self.registrar = files, registrar
        self.job_env = dict(job_env or {})
        self.user = user
        self.default_resources = default_resources or Resources()

    # -- launch ------------------------------------------------------------------------
    def launch(self, batch_doc: dict, targets, *, project: str, resources: dict | None = None,
               parent_id: str | None = None) -> LaunchResult:
        """Submit ``batch_doc`` for every target as ONE array; returns the new job ids."""
        batch = parse_batch(batch_doc)
        targets = list(targets)
        if not targets:
            raise BatchError(f"batch {batch.name!r}: no subject or study selected in {project!r}")
        if batch.level == "study" and any(t.study is None for t in targets):
            raise BatchError(f"batch {batch.name!r} runs per study: select studies, not subjects")
        res = Resources.from_dict({**batch.resources, **(resources or {})}, self.default_resources)
        launch_id = uuid.uuid4().hex
        folder = self.folder / project / launch_id
        spec = LaunchSpec(launch_id, batch.to_dict(), targets, self.files, self.registrar,
                          self.job_env)
        spec_path = spec.dump(folder)
        with self.engine.begin() as conn:
            conn.execute(insert(BatchLaunch), [{
                "id": launch_id, "project": project, "user": self.user, "name": batch.name,
                "batch": batch.to_dict(), "scheduler": self.scheduler.kind,
                "resources": res.__dict__, "folder": str(folder), "parent_id": parent_id,
                "created": utcnow()}])
        now = utcnow()
        try:
            subs = self.scheduler.submit_launch(spec_path, len(targets), folder / "logs", res,
                                                f"nora-{batch.name}")
        except Exception as exc:
            self._insert(launch_id, project, batch.name, now, targets, spec_path, None,
                         state="error", message=f"submission failed: {exc}")
            raise
        ids = self._insert(launch_id, project, batch.name, now, targets, spec_path, subs)
        log.info("launched %s: %d job(s) of %r on %s", launch_id, len(ids), batch.name,
                 self.scheduler.kind)
        return LaunchResult(launch_id, ids, [s.job_id for s in subs])

    def _insert(self, launch_id, project, batch_name, now, targets, spec_path, subs, *,
                state="queued", message=None) -> list[int]:
        """One multi-row insert; the columns shared by every row are bound once."""
        status_dir = str(status_path(spec_path, 0).parent)
        stmt = insert(GridJob).values(
            launch_id=launch_id, project=project, batch_name=batch_name, state=state,
            scheduler=self.scheduler.kind, submitted=now, message=message,
            finished=now if state != "queued" else None)
        rows = [{"task_index": i, "subject": t.subject, "study": t.study,
                 "subject_id": t.subject_key, "study_id": t.study_key,
                 "status_path": f"{status_dir}/{i}.json",
                 "scheduler_id": subs[i].job_id if subs else None,
                 "log_out": subs[i].stdout if subs else "",
                 "log_err": subs[i].stderr if subs else ""} for i, t in enumerate(targets)]
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)
            return list(conn.execute(select(GridJob.id).where(
                GridJob.launch_id == launch_id).order_by(GridJob.task_index)).scalars())

    # -- refresh -----------------------------------------------------------------------
    def refresh(self, *, project: str | None = None, launch_id: str | None = None) -> RefreshReport:
        """Bring queued/running jobs up to date with ONE scheduler query for all of them."""
        q = select(GridJob.id, GridJob.scheduler_id, GridJob.status_path, GridJob.state,
                   GridJob.started).where(GridJob.state.in_(ACTIVE),
                                          GridJob.scheduler == self.scheduler.kind,
                                          GridJob.scheduler_id.is_not(None))
        if project:
            q = q.where(GridJob.project == project)
        if launch_id:
            q = q.where(GridJob.launch_id == launch_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        report = RefreshReport(checked=len(rows))
        if not rows:
            return report
        report.queries = 1
        try:
            obs = self.scheduler.query({r.scheduler_id: Path(r.status_path) for r in rows})
        except SchedulerUnavailable as exc:
            report.error, report.unknown = str(exc), len(rows)
            log.warning("job states not refreshed: %s", exc)
            return report
        now, updates = utcnow(), []
        for r in rows:
            o = obs.get(r.scheduler_id)
            if o is None or o.state is None:
                report.unknown += 1
                continue
            report.counts[o.state] = report.counts.get(o.state, 0) + 1
            if o.state != r.state:
                report.changed += 1
            updates.append({"_id": r.id, "state": o.state, "checked": now,
                            "started": parse_time(o.started) or r.started,
                            "finished": parse_time(o.finished) or (now if o.state in FINAL
                                                                   else None),
                            "message": o.message})
        if updates:
            stmt = update(GridJob).where(GridJob.id == bindparam("_id")).values(
                state=bindparam("state"), checked=bindparam("checked"),
                started=bindparam("started"), finished=bindparam("finished"),
                message=bindparam("message"))
            with self.engine.begin() as conn:
                conn.execute(stmt, updates)
        return report

    # -- control -----------------------------------------------------------------------
    def cancel(self, job_ids) -> int:
        """Cancel grid jobs (ids of the job table) that are still queued or running."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(GridJob.id, GridJob.scheduler_id).where(
                GridJob.id.in_(list(job_ids)), GridJob.state.in_(ACTIVE))).all()
        self.scheduler.cancel([r.scheduler_id for r in rows if r.scheduler_id])
        if rows:
            with self.engine.begin() as conn:
                conn.execute(update(GridJob).where(GridJob.id.in_([r.id for r in rows])).values(
                    state="cancelled", finished=utcnow(), message=f"cancelled by {self.user or 'user'}"))
        return len(rows)

    def rerun(self, launch_id: str, *, states=("error", "cancelled"),
              batch_doc: dict | None = None) -> LaunchResult:
        """Launch again, as one new array, only the targets of ``launch_id`` whose job ended in
        ``states`` (optionally with a corrected ``batch_doc``)."""
        with self.engine.connect() as conn:
            launch = conn.execute(select(BatchLaunch).where(BatchLaunch.id == launch_id)).first()
            if launch is None:
                raise BatchError(f"no launch {launch_id!r}")
            idx = list(conn.execute(select(GridJob.task_index).where(
                GridJob.launch_id == launch_id, GridJob.state.in_(list(states)))
                .order_by(GridJob.task_index)).scalars())
        if not idx:
            raise BatchError(f"launch {launch_id}: no job in state {', '.join(states)} to re-run")
        with open(Path(launch.folder) / "spec.pkl", "rb") as fh:
            spec: LaunchSpec = pickle.load(fh)
        return self.launch(batch_doc or launch.batch, [spec.targets[i] for i in idx],
                           project=launch.project, resources=launch.resources,
                           parent_id=launch_id)

    # -- views -------------------------------------------------------------------------
    def jobs(self, *, project: str | None = None, states=None, launch_id: str | None = None,
             include_done: bool = False) -> list:
        """Job rows, newest first. By default finished (done) jobs leave the view; failed and
        cancelled ones stay."""
        q = select(GridJob)
        if project:
            q = q.where(GridJob.project == project)
        if launch_id:
            q = q.where(GridJob.launch_id == launch_id)
        if states:
            q = q.where(GridJob.state.in_(list(states)))
        elif not include_done:
            q = q.where(GridJob.state != "done")
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(GridJob.id.desc())).all())

    def log_text(self, job_id: int) -> str:
        with self.engine.connect() as conn:
            row = conn.execute(select(GridJob.log_out, GridJob.log_err, GridJob.message).where(
                GridJob.id == job_id)).first()
        if row is None:
            raise BatchError(f"no job {job_id} in the job table")
        parts = []
        for label, path in (("stdout", row.log_out), ("stderr", row.log_err)):
            p = Path(path) if path else None
            text = p.read_text(errors="replace") if p and p.is_file() else "(no log yet)"
            parts.append(f"==> {label}: {path}\n{text}")
        if row.message:
            parts.append(f"==> message\n{row.message}")
        return "\n".join(parts)
