"""Launch batches, refresh job states, cancel, re-run the failed subset.

:class:`BatchRunner` receives its collaborators: the archive's engine (job table), a scheduler
(:mod:`nora_server.batch.scheduler`), the folder for submitit files and logs, the file source
used to resolve patterns inside jobs, and optionally the registrar of OUT files, the
environment jobs see (so ``nora`` works inside them), default resources and the site's queues
(``{"processing": partition, "import": partition}``). Views of the job table (listing, one
job's record, markers, logs) are in :mod:`nora_server.batch.jobviews`, mixed in here.
"""

from __future__ import annotations

import json
import logging
import pickle
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from nora_server.archive.models import utcnow
from nora_server.batch.jobtable import write_launch_rows
from nora_server.batch.jobviews import JobViews
from nora_server.batch.model import BatchError, check_resources, parse_batch
from nora_server.batch.runner import LaunchSpec, status_path
from nora_server.batch.states import ACTIVE, FINAL, Resources, SchedulerUnavailable
from nora_server.batch.tables import (BatchLaunch, GridJob, LaunchTargets, scheduler_id,
                                      with_launch)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchResult:
    launch_id: str
    count: int                  # jobs launched: one per target
    scheduler_ids: list[str]
    runner: BatchRunner = field(repr=False, compare=False)

    @cached_property
    def job_ids(self) -> list[int]:
        """The jobs' ids in the job table, in target order (writes the launch's rows if no
        reader did yet)."""
        return self.runner.launch_job_ids(self.launch_id)


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


#: how long a launch keeps its rows' transaction open for the scheduler's answer: SQLite holds
#: the archive's write lock meanwhile (sbatch answers in milliseconds; a stalled slurmctld
#: would block every other writer)
OVERLAP_S = 2.0


class _SlowScheduler(Exception):
    pass


def _answer(started) -> tuple:
    """``(submissions, None)`` or ``(None, error)`` of a submission the scheduler started
    (:class:`~nora_server.batch.states.Started`), or of one it refused at once (the error)."""
    if isinstance(started, Exception):
        return None, started
    try:
        return started.wait(), None
    except Exception as exc:  # noqa: BLE001 - recorded in the job table, then raised
        return None, exc


class BatchRunner(JobViews):
    def __init__(self, engine, scheduler, *, folder, files, registrar=None, job_env=None,
                 user: str = "", default_resources: Resources | None = None,
                 queues: dict | None = None):
        self.engine, self.scheduler = engine, scheduler
        self.folder = Path(folder)
        self.files, self.registrar = files, registrar
        self.job_env = dict(job_env or {})
        self.user = user
        self.default_resources = default_resources or Resources()
        self.queues = {k: v for k, v in (queues or {}).items() if v}

    def resources(self, *layers: dict | None) -> Resources:
        """Resources from the batch's ``resources`` and run options (later layers win);
        ``queue`` (``processing``/``import``) picks the site's partition."""
        merged: dict = {}
        for layer in layers:
            merged.update(layer or {})
        check_resources(merged)
        queue = merged.pop("queue", None)
        if queue and "partition" not in merged:
            if queue not in self.queues:
                raise BatchError(f"queue {queue!r} is not configured; this site has "
                                 f"{', '.join(sorted(self.queues)) or 'no named queues'} "
                                 "([batch] partition / import_partition in nora.toml)")
            merged["partition"] = self.queues[queue]
        try:
            return Resources.from_dict(merged, self.default_resources)
        except (TypeError, ValueError) as exc:
            raise BatchError(f"resources {merged}: {exc}") from None

    # -- launch ------------------------------------------------------------------------
    def launch(self, batch_doc: dict, targets, *, project: str, resources: dict | None = None,
               parent_id: str | None = None) -> LaunchResult:
        """Submit ``batch_doc`` for every target as ONE array; returns the LaunchResult.

        While the scheduler takes the submission (sbatch waits on slurmctld), the launch's spec
        is written and the launch goes into the job table with its targets (one row each);
        once it answered, the launch row gets the array's job-id prefix, or the job rows are
        written in state ``error`` if it failed (then the error is raised), and the transaction
        commits. The job rows of a launch that went well are written after it returns, by the
        first reader of the job table (:mod:`nora_server.batch.jobtable`). A scheduler that
        has not answered within ``OVERLAP_S`` has the transaction rolled back and written again
        after its answer (SQLite would hold the archive's write lock). If the spec or the
        database fails, the submitted jobs are cancelled: no half-written launch, no job the
        table does not know."""
        batch = parse_batch(batch_doc)
        targets = list(targets)
        if not targets:
            raise BatchError(f"batch {batch.name!r}: no subject or study selected in {project!r}")
        if batch.level == "study" and any(t.study is None for t in targets):
            raise BatchError(f"batch {batch.name!r} runs per study: select studies, not subjects")
        res = self.resources(batch.resources, resources)
        launch_id = uuid.uuid4().hex
        folder = (self.folder / project / launch_id).absolute()  # rows may be written elsewhere
        spec = LaunchSpec(launch_id, batch.to_dict(), targets, self.files, self.registrar,
                          self.job_env)
        spec_path = folder / "spec.pkl"
        now = utcnow()
        try:  # submit first: the spec and rows are written while the scheduler works
            started = self.scheduler.start_launch(spec_path, len(targets), folder / "logs", res,
                                                  f"nora-{batch.name}")
        except Exception as exc:  # noqa: BLE001 - recorded in the job table, then raised
            started = exc

        row = {"id": launch_id, "project": project, "user": self.user, "name": batch.name,
               "batch": batch.to_dict(), "scheduler": self.scheduler.kind,
               "resources": res.as_dict(), "folder": str(folder), "parent_id": parent_id,
               "created": now, "pending": True}  # its job rows: on first need (jobtable)
        todo = {"launch_id": launch_id,
                "targets": json.dumps([(t.subject, t.study, t.subject_key, t.study_key)
                                       for t in targets], separators=(",", ":"))}

        def record(conn) -> None:
            conn.execute(insert(BatchLaunch), [row])
            conn.execute(insert(LaunchTargets), [todo])

        def settle(conn) -> None:  # the scheduler's answer, in the same transaction
            this = BatchLaunch.id == launch_id
            if failure is None:
                conn.execute(update(BatchLaunch).where(this)
                             .values(array_prefix=subs.pattern[0]))
                return
            conn.execute(update(BatchLaunch).where(this).values(pending=False))
            write_launch_rows(conn, launch_id, folder, state="error")
            conn.execute(update(GridJob).where(GridJob.launch_id == launch_id).values(
                finished=now, message=f"submission failed: {failure}"))

        subs = failure = None
        try:
            spec.dump(folder)  # a task that starts before waits for it (runner.load_spec)
            try:
                with self.engine.begin() as conn:
                    record(conn)
                    if not (isinstance(started, Exception) or started.ready(OVERLAP_S)):
                        raise _SlowScheduler  # roll back: never hold the write lock long
                    subs, failure = _answer(started)
                    started = None
                    settle(conn)
            except _SlowScheduler:  # a scheduler that takes seconds: its answer, then the rows
                subs, failure = _answer(started)
                started = None
                with self.engine.begin() as conn:
                    record(conn)
                    settle(conn)
        except BaseException:
            if started is not None:  # the database failed first: the scheduler's answer
                subs = _answer(started)[0]
            if subs:  # the job table could not be written: no jobs nobody knows of
                self._withdraw(subs, spec_path)
            raise
        if failure is not None:
            raise failure
        log.info("launched %s: %d job(s) of %r on %s", launch_id, len(targets), batch.name,
                 self.scheduler.kind)
        return LaunchResult(launch_id, len(targets), subs.job_ids, self)

    def _withdraw(self, subs, spec_path) -> None:
        try:
            self.scheduler.cancel([s.job_id for s in subs],
                                  [status_path(spec_path, i) for i in range(len(subs))])
        except Exception as exc:  # noqa: BLE001
            log.error("could not cancel the unrecorded jobs %s..: %s", subs[0].job_id, exc)

    # -- refresh -----------------------------------------------------------------------
    def refresh(self, *, project: str | None = None, launch_id: str | None = None) -> RefreshReport:
        """Bring queued/running jobs up to date with ONE scheduler query for all of them
        (Slurm: a second one only for jobs accounting does not know yet)."""
        self.write_pending()
        sid = scheduler_id()
        q = with_launch(select(GridJob.id, sid, GridJob.status_path, GridJob.state,
                               GridJob.started)).where(GridJob.state.in_(ACTIVE),
                                                       GridJob.scheduler == self.scheduler.kind,
                                                       sid.is_not(None))
        if project:
            q = q.where(GridJob.project == project)
        if launch_id:
            q = q.where(GridJob.launch_id == launch_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        report = RefreshReport(checked=len(rows))
        if not rows:
            return report
        try:
            obs = self.scheduler.query({r.scheduler_id: Path(r.status_path) for r in rows})
        except SchedulerUnavailable as exc:
            report.error, report.unknown = str(exc), len(rows)
            report.queries = max(1, getattr(self.scheduler, "last_queries", 1))
            log.warning("job states not refreshed: %s", exc)
            return report
        report.queries = getattr(self.scheduler, "last_queries", 1)
        now, updates, same = utcnow(), {}, []
        for r in rows:
            o = obs.get(r.scheduler_id)
            if o is None or o.state is None:
                report.unknown += 1
                continue
            report.counts[o.state] = report.counts.get(o.state, 0) + 1
            if o.state == r.state and (o.state == "queued" or r.started):
                same.append(r.id)  # only 'checked' changes
                continue
            if o.state != r.state:
                report.changed += 1
            values = (o.state, parse_time(o.started) or r.started,
                      parse_time(o.finished) or (now if o.state in FINAL else None), o.message)
            updates.setdefault(values, []).append(r.id)  # jobs that ended alike: one UPDATE
        still_active = GridJob.state.in_(ACTIVE)  # a cancel in between wins
        with self.engine.begin() as conn:
            for k in range(0, len(same), 900):
                conn.execute(update(GridJob).where(GridJob.id.in_(same[k:k + 900]))
                             .values(checked=now))
            for (state, started, finished, message), ids in updates.items():
                for k in range(0, len(ids), 900):
                    conn.execute(update(GridJob).where(GridJob.id.in_(ids[k:k + 900]),
                                                       still_active).values(
                        state=state, checked=now, started=started, finished=finished,
                        message=message))
        return report

    # -- control -----------------------------------------------------------------------
    def cancel(self, job_ids) -> int:
        """Cancel grid jobs (ids of the job table) that are still queued or running."""
        with self.engine.connect() as conn:
            rows = conn.execute(with_launch(select(GridJob.id, scheduler_id(),
                                                   GridJob.status_path))
                                .where(GridJob.id.in_(list(job_ids)),
                                       GridJob.state.in_(ACTIVE),
                                       GridJob.scheduler == self.scheduler.kind)).all()
        rows = [r for r in rows if r.scheduler_id]
        if not rows:
            return 0
        self.scheduler.cancel([r.scheduler_id for r in rows], [r.status_path for r in rows])
        with self.engine.begin() as conn:
            conn.execute(update(GridJob).where(GridJob.id.in_([r.id for r in rows]),
                                               GridJob.state.in_(ACTIVE)).values(
                state="cancelled", finished=utcnow(),
                message=f"cancelled by {self.user or 'user'}"))
        return len(rows)

    def rerun(self, launch_id: str, *, states=("error", "cancelled"),
              batch_doc: dict | None = None, resources: dict | None = None) -> LaunchResult:
        """Launch again, as one new array, only the targets of ``launch_id`` whose job ended in
        ``states`` (optionally with a corrected ``batch_doc`` or other ``resources``)."""
        self.write_pending()
        with self.engine.connect() as conn:
            idx = list(conn.execute(select(GridJob.task_index).where(
                GridJob.launch_id == launch_id, GridJob.state.in_(list(states)))
                .order_by(GridJob.task_index)).scalars())
        if not idx and self._launch(launch_id) is not None:
            raise BatchError(f"launch {launch_id}: no job in state {', '.join(states)} to re-run")
        return self._relaunch(launch_id, idx, batch_doc, resources)

    def rerun_jobs(self, job_ids, *, batch_doc: dict | None = None,
                   resources: dict | None = None) -> list[LaunchResult]:
        """Launch the given jobs again (any state but queued/running): one new array per
        launch they came from."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(GridJob.id, GridJob.launch_id, GridJob.task_index,
                                       GridJob.state).where(GridJob.id.in_(list(job_ids)))
                                .order_by(GridJob.launch_id, GridJob.task_index)).all()
        missing = set(job_ids) - {r.id for r in rows}
        if missing:
            raise BatchError(f"no job {', '.join(map(str, sorted(missing)))} in the job table")
        active = [r.id for r in rows if r.state in ACTIVE]
        if active:
            raise BatchError(f"job(s) {', '.join(map(str, active))} are still queued or "
                             "running: cancel them first")
        by_launch: dict[str, list[int]] = {}
        for r in rows:
            by_launch.setdefault(r.launch_id, []).append(r.task_index)
        return [self._relaunch(lid, idx, batch_doc, resources) for lid, idx in by_launch.items()]

    def _launch(self, launch_id: str):
        with self.engine.connect() as conn:
            return conn.execute(select(BatchLaunch).where(BatchLaunch.id == launch_id)).first()

    def _relaunch(self, launch_id, indices, batch_doc, resources) -> LaunchResult:
        launch = self._launch(launch_id)
        if launch is None:
            raise BatchError(f"no launch {launch_id!r}")
        try:
            with open(Path(launch.folder) / "spec.pkl", "rb") as fh:
                spec: LaunchSpec = pickle.load(fh)
        except OSError as exc:
            raise BatchError(f"launch {launch_id}: its files are gone ({exc}); launch the "
                             "batch again for these subjects") from None
        return self.launch(batch_doc or launch.batch, [spec.targets[i] for i in indices],
                           project=launch.project, resources={**launch.resources,
                                                              **(resources or {})},
                           parent_id=launch_id)

    def clear(self, *, project: str | None = None, states=("done",),
              launch_id: str | None = None) -> int:
        """Delete finished job records (default: the done ones) from the job table."""
        bad = set(states) - FINAL
        if bad:
            raise BatchError(f"only finished jobs can be cleared, not {', '.join(sorted(bad))}")
        stmt = delete(GridJob).where(GridJob.state.in_(list(states)))
        if project:
            stmt = stmt.where(GridJob.project == project)
        if launch_id:
            stmt = stmt.where(GridJob.launch_id == launch_id)
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount
