"""The batch runner on the archive: targets from the subject/study table, files from the index,
OUT files registered with their tags, saved batches, the autoexecution queue, ``JOB:`` filters.

The file source and registrar are small picklable records (database URL, storage root, user):
inside a job they open the archive once per process.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select

from nora_server.archive.errors import NotFound
from nora_server.archive.models import Study, StudyTag, Subject, SubjectTag
from nora_server.archive.names import split_ref
from nora_server.archive.query import register_job_filter
from nora_server.batch.jobtable import write_pending
from nora_server.batch.model import BatchError, parse_batch
from nora_server.batch.resolve import StudyInfo, Target
from nora_server.batch.tables import GridJob

log = logging.getLogger(__name__)
JOB_LETTERS = {"q": "queued", "r": "running", "e": "error", "c": "cancelled", "d": "done"}
_SESSIONS: dict = {}


@dataclass(frozen=True)
class ArchiveAccess:
    """How a job reaches the archive as the launching user: through the site's ``nora.toml``
    (``config``; no password lands in job files), else a database URL and storage root."""
    user: str
    config: str | None = None
    database: str = ""
    storage: str = ""

    @classmethod
    def of(cls, session, config=None) -> "ArchiveAccess":
        if config:
            return cls(session.user, str(config))
        return cls(session.user, None, session.engine.url.render_as_string(hide_password=False),
                   str(session.archive.storage))

    def session(self):
        key = (self.user, self.config, self.database, self.storage)
        if key not in _SESSIONS:
            from nora_server.archive.core import Archive
            from nora_server.archive.db import make_engine
            if self.config:
                from nora_server.config import load_settings
                archive = Archive.from_settings(load_settings(self.config), check=False)
            else:
                archive = Archive(make_engine(self.database), self.storage)
            _SESSIONS[key] = archive.session(self.user)
        return _SESSIONS[key]

    def job_env(self) -> dict:
        """Environment for jobs: ``nora`` on the PATH, the same user and configuration."""
        env = {"NORA_USER": self.user,
               "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                        os.environ.get("PATH", "/usr/bin:/bin")])}
        if self.config:
            env["NORA_CONFIG"] = str(self.config)
        return env


class SessionFiles:
    """File source on an open archive session (in this process: previews in the desktop)."""

    def __init__(self, session):
        self.session = session
        self._roots: dict = {}

    def study_folder(self, project: str, subject: str, study: StudyInfo) -> str:
        if project not in self._roots:
            self._roots[project] = self.session.project(project).root
        return str(self._roots[project] / subject / study.id)

    def list_files(self, project: str, subject: str, study: StudyInfo) -> list[str]:
        files = self.session.select_files(project, "*", ref=f"{subject}#{study.id}")
        return [f.path for f in files if f.subject.lower() == subject.lower()
                and f.study.lower() == study.id.lower()]

    def matching(self, project: str, pattern: str) -> dict:
        """``{(subject, study) lower-cased: [relpath, ...]}`` of the files matching
        ``pattern`` in the whole project: one query."""
        out: dict = {}
        for f in self.session.select_files(project, pattern):
            out.setdefault((f.subject.lower(), f.study.lower()), []).append(f.path)
        return out


@dataclass(frozen=True)
class ArchiveFiles:
    """File source reading the archive's index (selection never walks the disk); picklable:
    inside a job it opens the archive through :class:`ArchiveAccess`."""
    access: ArchiveAccess

    def _files(self) -> SessionFiles:
        return SessionFiles(self.access.session())

    def study_folder(self, project: str, subject: str, study: StudyInfo) -> str:
        return self._files().study_folder(project, subject, study)

    def list_files(self, project: str, subject: str, study: StudyInfo) -> list[str]:
        return self._files().list_files(project, subject, study)

    def matching(self, project: str, pattern: str) -> dict:
        return self._files().matching(project, pattern)


@dataclass(frozen=True)
class ArchiveRegistrar:
    """Registers a job's OUT file in the archive index with its ``TAG(...)`` tags."""
    access: ArchiveAccess

    def __call__(self, target: Target, path: str, tags) -> None:
        self.access.session().index_files([path], tags=list(tags))


def archive_targets(session, project: str, *, level: str = "subject", refs=None,
                    bars: dict | None = None) -> list[Target]:
    """Targets of ``project``: the subjects (or studies) given by ``refs`` (``PID`` or
    ``PID#SID``), else those matching the filter ``bars``, else all. A subject target carries
    all of its studies (with date, tags, description) for the study selectors."""
    proj = session.project(project)  # checks the user may read the project
    with session.engine.connect() as conn:
        rows = conn.execute(
            select(Subject.id, Subject.pseudonym, Study.id, Study.key, Study.study_date,
                   Study.description)
            .join(Study, Study.subject_id == Subject.id)
            .where(Subject.project_id == _project_id(conn, proj.name))
            .order_by(Subject.pseudonym, Study.study_date, Study.key)).all()
        stags, ptags = {}, {}
        study_ids = [r[2] for r in rows]
        for k in range(0, len(study_ids), 900):
            for sid, tag in conn.execute(select(StudyTag.study_id, StudyTag.tag).where(
                    StudyTag.study_id.in_(study_ids[k:k + 900]))):
                stags.setdefault(sid, []).append(tag)
        subj_ids = sorted({r[0] for r in rows})
        for k in range(0, len(subj_ids), 900):
            for sid, tag in conn.execute(select(SubjectTag.subject_id, SubjectTag.tag).where(
                    SubjectTag.subject_id.in_(subj_ids[k:k + 900]))):
                ptags.setdefault(sid, []).append(tag)
    subjects: dict = {}
    for subj_id, pseud, st_id, key, date, desc in rows:
        info = StudyInfo(key, date.isoformat() if date else "", tuple(stags.get(st_id, ())),
                         desc or "")
        subjects.setdefault(pseud, (subj_id, []))[1].append((st_id, info))
    if refs is not None:
        wanted = [split_ref(r) for r in refs]
    elif bars:
        wanted = [(r.subject, r.study if level == "study" else None)
                  for r in session.studies(project, bars)]
    else:
        wanted = [(p, None) for p in subjects]
    out, seen = [], set()
    lower = {p.lower(): p for p in subjects}
    for pid, sid in wanted:
        pseud = lower.get(pid.lower())
        if pseud is None:
            raise NotFound(f"no subject {pid!r} (with studies) in project {project!r}")
        subj_id, studies = subjects[pseud]
        infos = tuple(i for _, i in studies)
        tags = tuple(ptags.get(subj_id, ()))
        if level == "subject":
            if pseud not in seen:
                seen.add(pseud)
                out.append(Target(project, pseud, infos, None, tags, subj_id))
            continue
        chosen = [(st_id, i) for st_id, i in studies if sid is None or i.id.lower() == sid.lower()]
        if sid is not None and not chosen:
            raise NotFound(f"no study {pid}#{sid} in project {project!r}")
        for st_id, i in chosen:
            if (pseud, i.id) not in seen:
                seen.add((pseud, i.id))
                out.append(Target(project, pseud, infos, i.id, tags, subj_id, st_id))
    return out


def _project_id(conn, name: str) -> int:
    from nora_server.archive.models import Project
    return conn.execute(select(Project.id).where(Project.name == name)).scalar_one()


def save_batch(session, project: str, doc: dict) -> str:
    """Validate and store a batch as a JSON document of the project (kind ``batch``)."""
    batch = parse_batch(doc)
    session.save_document("batch", batch.name, batch.to_dict(), project=project)
    return batch.name


def load_batch(session, project: str, name: str) -> dict:
    """A saved batch of the project (the JSON document as saved)."""
    try:
        return session.document("batch", name, project=project)
    except NotFound:
        raise BatchError(f"project {project!r} has no saved batch {name!r} (saved: "
                         f"{', '.join(list_batches(session, project)) or 'none'})") from None


def list_batches(session, project: str) -> list[str]:
    """Names of the batches saved in the project."""
    return list(session.documents("batch", project=project))


def autoexec_batch(session, project: str, queue: str = "DEFAULT") -> dict:
    """The project's autoexecution queue as ONE batch: the saved batches it lists, their jobs
    concatenated in order. The queue lives in the project's ``settings`` document ``autoexec``:
    ``{"DEFAULT": ["batch name", ...], "other queue": [...]}``."""
    try:
        queues = session.document("settings", "autoexec", project=project)
    except NotFound:
        raise BatchError(f"project {project!r} has no autoexecution queue: save a settings "
                         "document 'autoexec' such as {\"DEFAULT\": [\"my batch\"]}") from None
    names = queues.get(queue) if isinstance(queues, dict) else None
    if not names:
        raise BatchError(f"project {project!r}: autoexecution queue {queue!r} is empty or unknown "
                         f"(queues: {', '.join(queues) if isinstance(queues, dict) else 'none'})")
    batches = [parse_batch(load_batch(session, project, n)) for n in names]
    levels = {b.level for b in batches}
    if len(levels) > 1:
        raise BatchError(f"autoexecution queue {queue!r} mixes subject and study level batches")
    jobs = [j.to_dict() for b in batches for j in b.jobs]
    return {"name": f"autoexec:{queue}", "level": levels.pop(), "jobs": jobs,
            "resources": batches[0].resources}


def site_settings(session):
    """The ``nora.toml`` of the archive ``session`` is on (``$NORA_CONFIG`` or the user's), if
    it describes the same storage; else settings of the session alone (local executor)."""
    from nora_server.config import ConfigError, Settings, load_settings
    try:
        settings = load_settings()
        if Path(settings.storage).resolve() == Path(session.archive.storage).resolve():
            return settings
    except ConfigError:
        pass
    log.warning("no nora.toml for the archive at %s: batches run with the default [batch] "
                "settings (local executor)", session.archive.storage)
    return Settings(database=session.engine.url.render_as_string(hide_password=False),
                    storage=Path(session.archive.storage))


def launch_autoexec(session, project: str, refs, queue: str = "DEFAULT", *, settings=None,
                    runner=None, resources: dict | None = None):
    """Launch the project's autoexecution queue ``queue`` for ``refs`` (``"PID"`` or
    ``"PID#SID"``: the studies an import just stored). Subject-level batches run once per
    subject, study-level ones once per study. The jobs go to the site's import queue when
    ``[batch] import_partition`` is set. Returns the
    :class:`~nora_server.batch.service.LaunchResult`.

    This is the call behind ``nora --import ... --autoexec_queue`` and
    ``nora --launch_autoexec``. Every failure (no such queue, a saved batch missing or
    invalid, the scheduler refusing the submission) is a :class:`BatchError` whose message
    says what to do; nothing is half-launched. ``settings``: the site's ``nora.toml`` (default:
    the one of ``$NORA_CONFIG`` when it describes this archive).
    """
    from nora_server.archive.errors import ArchiveError
    from nora_server.archive.rights import require
    refs = [r for r in refs if r]
    if not refs:
        raise BatchError(f"autoexec {queue}: no subject or study given")
    try:
        require(session.role(project), "write", project, session.user)
    except ArchiveError as exc:
        raise BatchError(f"autoexec {queue}: {exc}") from None
    doc = autoexec_batch(session, project, queue)
    if runner is None:
        from nora_server.batch.site import open_runner
        runner = open_runner(settings or site_settings(session), session.archive, session)
    try:
        targets = archive_targets(session, project, level=doc["level"], refs=refs)
    except NotFound as exc:
        raise BatchError(f"autoexec {queue}: {exc}") from None
    run_opts = dict(resources or {})
    asked = set(doc["resources"]) | set(run_opts)
    if "import" in runner.queues and not {"partition", "queue"} & asked:
        run_opts["queue"] = "import"
    try:
        return runner.launch(doc, targets, project=project, resources=run_opts)
    except BatchError:
        raise
    except Exception as exc:  # noqa: BLE001 - one error type for the importer
        raise BatchError(f"autoexec {queue} for {', '.join(refs)}: the submission failed: "
                         f"{exc}") from exc


def job_clause(letters: str):
    """SQL clause on Study.id / Subject.id: the latest grid job of the study (or subject) is in
    one of the states ``letters`` (q queued, r running, e error, c cancelled, d done). The
    archive writes the job rows of launches waiting for them first (``write_pending``)."""
    states = [JOB_LETTERS[c] for c in letters.lower() if c in JOB_LETTERS]
    latest = select(func.max(GridJob.id)).group_by(GridJob.subject_id, GridJob.study_id)
    hit = (GridJob.id.in_(latest), GridJob.state.in_(states))
    by_study = select(GridJob.study_id).where(*hit, GridJob.study_id.isnot(None))
    by_subject = select(GridJob.subject_id).where(*hit, GridJob.study_id.is_(None))
    return or_(Study.id.in_(by_study), Subject.id.in_(by_subject))


def install_job_filter() -> None:
    """Let the archive's filter bars answer ``JOB:q|r|e`` (call once per process)."""
    register_job_filter(job_clause, write_pending)
