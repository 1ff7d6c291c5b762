"""The batch calls of the desktop (batch tool and job monitor) and of scripts: plain Python,
no Qt, every call checked against the user's rights on the project.

::

    from nora_server.batch.client import BatchClient
    bc = BatchClient(session, settings)               # the desktop context's session/settings
    bc.job_kinds()                                    # bash, python, registered functions + args
    bc.argument_rows("bet $f1 $o1 -f $n1")            # rows for $f1, $o1, $n1
    bc.preview("demo", "t1*/s0*.nii", ["P001", "P002"], study="last")   # files per subject
    bc.save("demo", doc); bc.load("demo", "skullstrip"); bc.batches("demo")
    res = bc.launch("demo", doc, ["P001", "P002"], resources={"time_min": 30})
    bc.refresh("demo"); bc.jobs("demo", states=["error"]); bc.job(res.job_ids[0])
    bc.log(job_id); bc.cancel([job_id]); bc.rerun_failed(res.launch_id)
    bc.markers("demo")                                # {"P001": {"state": "error", ...}}

Slow calls (``launch``, ``refresh``, ``preview`` over many subjects) belong in a thread worker.
"""

from __future__ import annotations

import dataclasses
import threading

from nora_server.archive.rights import require
from nora_server.batch import functions, model
from nora_server.batch.model import BatchError
from nora_server.batch.archive_link import (SessionFiles, site_settings, archive_targets,
                                            list_batches, load_batch, save_batch)
from nora_server.batch.resolve import PreviewRow, Target, preview
from nora_server.batch.service import RefreshReport


class BatchClient:
    """Batch processing for one user (an archive session) on one site (its settings)."""

    def __init__(self, session, settings=None, *, runner=None):
        self.session = session
        self.settings = settings or site_settings(session)
        self.runner = runner or self._open(None)
        self._runners = {self.runner.scheduler.kind: self.runner}
        self._lock = threading.Lock()
        self.files = SessionFiles(session)

    def _open(self, executor: str | None):
        from nora_server.batch.site import batch_section, open_runner
        settings = self.settings
        if executor:
            section = {**batch_section(settings), "executor": executor}
            settings = dataclasses.replace(settings, sections={**settings.sections,
                                                               "batch": section})
        return open_runner(settings, self.session.archive, self.session)

    def runner_for(self, executor: str | None = None):
        """The runner of scheduler kind ``executor`` (``local``/``slurm``; default: the
        site's ``[batch] executor``), opened once: a job is refreshed, killed and re-run by
        the scheduler that runs it."""
        if not executor:
            return self.runner
        with self._lock:
            if executor not in self._runners:
                self._runners[executor] = self._open(executor)
            return self._runners[executor]

    # -- composing (batch tool) -------------------------------------------------------
    @staticmethod
    def job_kinds() -> list[dict]:
        """Job kinds for the "add job" menu; the function kind lists the registered functions
        with their argument templates."""
        return model.job_kinds()

    @staticmethod
    def functions() -> list[dict]:
        return functions.catalog()

    @staticmethod
    def argument_types() -> list[dict]:
        return model.argument_types()

    @staticmethod
    def argument_rows(code: str, args=()) -> list[dict]:
        """The argument rows a generic job's script needs (one per ``$f1``... it mentions)."""
        return model.argument_rows(code, args)

    @staticmethod
    def validate(doc: dict) -> dict:
        """The batch in its normal form, or :class:`~nora_server.batch.model.BatchError`
        naming the job and argument that is wrong."""
        return model.parse_batch(doc).to_dict()

    def targets(self, project: str, refs=None, *, level: str = "subject",
                bars: dict | None = None) -> list[Target]:
        """The subjects (or studies) a launch on ``refs`` (``"PID"``/``"PID#SID"``; else the
        filter ``bars``; else all) runs for, with their studies."""
        return archive_targets(self.session, project, level=level, refs=refs, bars=bars)

    def preview(self, project: str, pattern: str, refs=None, *, study: str = "",
                level: str = "subject", bars: dict | None = None,
                targets: list[Target] | None = None) -> list[PreviewRow]:
        """For each selected subject (or study): the studies the selector picks and the files
        the pattern matches there, or the message the job would fail with (one query).
        ``targets`` (from :meth:`targets`) replaces ``refs``/``bars`` when several patterns
        are previewed on one selection."""
        if targets is None:
            targets = self.targets(project, refs, level=level, bars=bars)
        return preview(pattern, targets, self.files, study=study, level=level, project=project)

    def batches(self, project: str) -> list[str]:
        return list_batches(self.session, project)

    def save(self, project: str, doc: dict) -> str:
        """Validate and save the batch in the project (under its name); returns the name."""
        return save_batch(self.session, project, doc)

    def load(self, project: str, name: str) -> dict:
        return load_batch(self.session, project, name)

    # -- running ------------------------------------------------------------------------
    def queues(self) -> dict:
        """The site's named queues (``processing``, ``import``) and their partitions."""
        return dict(self.runner.queues)

    def launch(self, project: str, doc: dict, refs=None, *, level: str | None = None,
               resources: dict | None = None, bars: dict | None = None,
               executor: str | None = None):
        """Launch ``doc`` (a batch, or the name of a saved one) on ``refs`` at ``level``
        (default: the batch's) with run options ``resources`` (cpus, mem_gb, time_min,
        partition or queue, array_parallelism), on ``executor`` (default: the site's).
        Returns the LaunchResult."""
        require(self.session.role(project), "write", project, self.session.user)
        if isinstance(doc, str):
            doc = self.load(project, doc)
        if level:
            doc = {**doc, "level": level}
        targets = self.targets(project, refs, level=doc.get("level", "subject"), bars=bars)
        return self.runner_for(executor).launch(doc, targets, project=project,
                                                resources=resources)

    def refresh(self, project: str | None = None) -> RefreshReport:
        """Ask each scheduler kind with queued/running jobs (of ``project``) ONCE about all of
        its jobs; the reports summed (``error``: ``"kind: message"`` of those not answering)."""
        total, errors = RefreshReport(), []
        for kind in self.runner.active_schedulers(project):
            rep = self.runner_for(kind).refresh(project=project)
            total.checked += rep.checked
            total.changed += rep.changed
            total.unknown += rep.unknown
            total.queries += rep.queries
            for state, n in rep.counts.items():
                total.counts[state] = total.counts.get(state, 0) + n
            if rep.error:
                errors.append(f"{kind}: {rep.error}")
        total.error = "; ".join(errors) or None
        return total

    # -- monitoring (Gridstats) -----------------------------------------------------------
    def _visible(self, project: str | None) -> list[str]:
        if project:
            self.session.role(project)  # NotFound for a project the user may not see
            return [project]
        return [p.name for p in self.session.projects()]

    def jobs(self, project: str | None = None, *, states=None, include_done: bool = False,
             launch_id: str | None = None, subjects=None, search: str | None = None,
             limit: int | None = None) -> list[dict]:
        """Job rows as dicts, newest first; done jobs only with ``include_done`` or when
        ``states`` asks for them; only projects the user may read."""
        visible = set(self._visible(project))
        rows = self.runner.jobs(project=project, states=states, include_done=include_done,
                                launch_id=launch_id, subjects=subjects, search=search,
                                limit=limit)
        return [dict(r._mapping) for r in rows if r.project in visible]

    def job(self, job_id: int) -> dict:
        """The job's JSON: its row, launch and batch document."""
        out = self.runner.job(job_id)
        self.session.role(out["project"])
        return out

    def log(self, job_id: int, *, tail: int | None = 200_000) -> str:
        self.session.role(self.runner.job_project(job_id))
        return self.runner.log_text(job_id, tail=tail)

    def _writable(self, job_ids) -> dict[str, list[int]]:
        """``{scheduler kind: [job id, ...]}`` of ``job_ids`` (one query), after checking that
        they exist and the user may write in their projects."""
        job_ids = [int(j) for j in job_ids]
        rows = self.runner.jobs(ids=job_ids, include_done=True) if job_ids else []
        missing = set(job_ids) - {r.id for r in rows}
        if missing:
            raise BatchError(f"no job {', '.join(map(str, sorted(missing)))} in the job table")
        for p in {r.project for r in rows}:
            require(self.session.role(p), "write", p, self.session.user)
        by_kind: dict[str, list[int]] = {}
        for r in rows:
            by_kind.setdefault(r.scheduler, []).append(r.id)
        return by_kind

    def cancel(self, job_ids) -> int:
        """Cancel the queued or running jobs among ``job_ids``, each by its own scheduler."""
        return sum(self.runner_for(kind).cancel(ids)
                   for kind, ids in self._writable(job_ids).items())

    def rerun_failed(self, launch_id: str, *, doc: dict | None = None,
                     resources: dict | None = None):
        """Launch again only the failed and cancelled jobs of ``launch_id`` (one new array,
        on the scheduler of the launch)."""
        launch = self.runner.launches(launch_id=launch_id, limit=None)
        if not launch:
            raise BatchError(f"no launch {launch_id!r}")
        project = launch[0]["project"]
        require(self.session.role(project), "write", project, self.session.user)
        return self.runner_for(launch[0]["scheduler"]).rerun(launch_id, batch_doc=doc,
                                                             resources=resources)

    def rerun_jobs(self, job_ids, *, doc: dict | None = None, resources: dict | None = None):
        """Launch the given finished jobs again (one new array per original launch)."""
        return [res for kind, ids in self._writable(job_ids).items()
                for res in self.runner_for(kind).rerun_jobs(ids, batch_doc=doc,
                                                            resources=resources)]

    def launches(self, project: str | None = None, *, limit: int = 100) -> list[dict]:
        visible = set(self._visible(project))
        return [r for r in self.runner.launches(project=project, limit=limit)
                if r["project"] in visible]

    def markers(self, project: str) -> dict[str, dict]:
        """``{"PID" or "PID#SID": {"state", "job_id", "batch", "message"}}``: the latest job of
        each subject/study, for the markers in the subject table."""
        self.session.role(project)
        return self.runner.markers(project)
