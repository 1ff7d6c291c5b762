"""Resolution: study selectors and file patterns -> absolute paths for one subject or study.

Files are listed by a plug-in, a *file source* with two methods (the archive provides one that
reads its file index; :class:`DirectoryFiles` walks a storage folder, for tests and archive-less
use). It must be picklable, because resolution runs inside the job::

    list_files(project, subject_id, study) -> list[str]   # paths relative to the study folder
    study_folder(project, subject_id, study) -> str       # absolute folder of the study

Patterns are the archive's (:mod:`nora_server.archive.patterns`; SQL LIKE as in NORA: ``*`` any
run of characters, ``_`` exactly one), matched against the whole study-relative path,
case-insensitively. A file source may also offer ``matching(project, pattern)`` ->
``{(subject, study): [relpath, ...]}`` (one query for a whole project), which :func:`preview`
uses when present.

Study selectors (the ``study`` of FILE/OUT/PATHOUT arguments): a position ``first`` ``last``
``all`` ``this`` ``N`` (N-th by date, 1-based) or ``-N`` (N-th from the last), followed by
filters ``tag:NAME`` and ``desc:PATTERN``, e.g. ``"last tag:CT"``. Studies are ordered by date
then id. ``this`` (the default at study level) is the study the job runs for; the default at
subject level is ``first``; ``all`` is allowed for FILE only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nora_server.archive.patterns import to_regex
from nora_server.batch.model import Argument, Job


class MissingInputError(RuntimeError):
    """A FILE argument matched nothing, or a study selector found no study."""


@dataclass(frozen=True)
class StudyInfo:
    id: str
    date: str = ""              # ISO date (YYYY-MM-DD or longer); sorts chronologically
    tags: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Target:
    """What one array task runs for: a subject (all its studies) and, at study level, one study."""
    project: str
    subject: str
    studies: tuple[StudyInfo, ...] = ()
    study: str | None = None     # the current study id at study level
    subject_tags: tuple[str, ...] = field(default=())
    subject_key: int | None = None  # archive row ids (None without an archive)
    study_key: int | None = None

    @property
    def label(self) -> str:
        return f"{self.subject}/{self.study}" if self.study else self.subject


def match_files(pattern: str, relpaths) -> list[str]:
    rx = to_regex(pattern)
    return sorted(p for p in relpaths if rx.fullmatch(p))


def select_studies(target: Target, selector: str, *, level: str) -> list[StudyInfo]:
    """Studies of ``target`` chosen by ``selector`` (see the module docstring)."""
    tokens = (selector or ("this" if level == "study" else "first")).split()
    position = "first"
    filters = []
    for tok in tokens:
        if tok.startswith(("tag:", "desc:")):
            filters.append(tok)
        else:
            position = tok.lower()
    studies = sorted(target.studies, key=lambda s: (s.date, s.id))
    for flt in filters:
        key, _, value = flt.partition(":")
        if key == "tag":
            studies = [s for s in studies if value.lower() in (t.lower() for t in s.tags)]
        else:
            rx = to_regex(value)
            studies = [s for s in studies if rx.fullmatch(s.description or "")]
    if position == "this":
        if target.study is None:
            raise MissingInputError(f"study selector {selector!r}: 'this' needs the study level")
        return [s for s in studies if s.id == target.study]
    if position == "all":
        return studies
    if position == "first":
        return studies[:1]
    if position == "last":
        return studies[-1:]
    try:
        n = int(position)
    except ValueError:
        raise MissingInputError(f"unknown study selector {selector!r}; use first, last, all, "
                                "this, N or -N with optional tag:NAME / desc:PATTERN") from None
    idx = n - 1 if n > 0 else n
    return [studies[idx]] if n != 0 and -len(studies) <= idx < len(studies) else []


def _describe(target: Target, selector: str) -> str:
    ids = ", ".join(f"{s.id} ({s.date or 'no date'})" for s in
                    sorted(target.studies, key=lambda s: (s.date, s.id))) or "none"
    return f"subject {target.subject} (studies: {ids}; selector {selector or 'default'!r})"


def resolve_job(job: Job, target: Target, files, *, level: str) -> dict:
    """Values of every variable of ``job`` for ``target``: FILE -> list of absolute paths,
    OUT/PATHOUT -> absolute path (parent folders created), others -> their value.

    Raises :class:`MissingInputError` with a message naming the job, variable, pattern, subject
    and studies when an input is missing.
    """
    values: dict = {}
    for arg in job.args:
        if arg.type == "FILE":
            values[arg.var] = _resolve_file(job, arg, target, files, level)
        elif arg.type in ("OUT", "PATHOUT"):
            values[arg.var] = _resolve_out(job, arg, target, files, level)
        else:
            values[arg.var] = arg.value
    return values


def _resolve_file(job: Job, arg: Argument, target: Target, files, level: str) -> list[str]:
    studies = select_studies(target, arg.study, level=level)
    if not studies:
        raise MissingInputError(f"job {job.name!r}: FILE ${arg.var} ({arg.pattern!r}): no study "
                                f"selected in {_describe(target, arg.study)}")
    found = []
    for st in studies:
        folder = files.study_folder(target.project, target.subject, st)
        found += [os.path.join(folder, p) for p in
                  match_files(arg.pattern, files.list_files(target.project, target.subject, st))]
    if not found:
        raise MissingInputError(
            f"job {job.name!r}: FILE ${arg.var} pattern {arg.pattern!r} matched no file in study "
            f"{', '.join(s.id for s in studies)} of {_describe(target, arg.study)}; fix the pattern "
            "or the data, then re-run the failed jobs")
    return found


def _resolve_out(job: Job, arg: Argument, target: Target, files, level: str) -> str:
    if arg.study.split()[:1] == ["all"]:
        raise MissingInputError(f"job {job.name!r}: {arg.type} ${arg.var} cannot use 'all'")
    studies = select_studies(target, arg.study, level=level)
    if not studies:
        raise MissingInputError(f"job {job.name!r}: {arg.type} ${arg.var} ({arg.name!r}): no study "
                                f"selected in {_describe(target, arg.study)}")
    path = Path(files.study_folder(target.project, target.subject, studies[0])) / arg.name
    (path if arg.type == "PATHOUT" else path.parent).mkdir(parents=True, exist_ok=True)
    return str(path)


@dataclass(frozen=True)
class DirectoryFiles:
    """File source on a storage folder ``root/<project>/<subject>/<study>/...`` (walks the disk)."""
    root: str

    def study_folder(self, project: str, subject: str, study: StudyInfo) -> str:
        return os.path.join(self.root, project, subject, study.id)

    def list_files(self, project: str, subject: str, study: StudyInfo) -> list[str]:
        base = self.study_folder(project, subject, study)
        out = []
        for dirpath, _dirs, names in os.walk(base):
            rel = os.path.relpath(dirpath, base)
            out += [n if rel == "." else f"{rel}/{n}" for n in names]
        return out


def directory_targets(root: str | os.PathLike, project: str, *, level: str = "subject",
                      subjects=None) -> list[Target]:
    """Targets from a storage folder (study date = the study folder's leading YYYYMMDD if any)."""
    base = Path(root) / project
    targets = []
    for subj in sorted(p for p in base.iterdir() if p.is_dir()):
        if subjects is not None and subj.name not in subjects:
            continue
        studies = tuple(StudyInfo(s.name, s.name[:8] if s.name[:8].isdigit() else "")
                        for s in sorted(subj.iterdir()) if s.is_dir())
        if level == "subject":
            targets.append(Target(project, subj.name, studies))
        else:
            targets += [Target(project, subj.name, studies, st.id) for st in studies]
    return targets


@dataclass(frozen=True)
class PreviewRow:
    """What a FILE pattern gives one target: the studies selected and the files matched (or
    the message the job would fail with)."""
    target: str                 # "PID" or "PID#SID"
    studies: tuple[str, ...]
    files: tuple[str, ...]      # absolute paths
    error: str | None = None


def preview(pattern: str, targets, files, *, study: str = "", level: str = "subject",
            project: str | None = None) -> list[PreviewRow]:
    """The files a FILE argument (``pattern`` with study selector ``study``) matches for each
    target, exactly as the job will resolve them; never raises for a missing input."""
    targets = list(targets)
    index = None
    if targets and hasattr(files, "matching"):
        index = files.matching(project or targets[0].project, pattern)
    rx = to_regex(pattern)
    out = []
    for t in targets:
        label = f"{t.subject}#{t.study}" if level == "study" and t.study else t.subject
        try:
            studies = select_studies(t, study, level=level)
        except MissingInputError as exc:
            out.append(PreviewRow(label, (), (), str(exc)))
            continue
        found = []
        for st in studies:
            folder = files.study_folder(t.project, t.subject, st)
            rel = (index.get((t.subject.lower(), st.id.lower()), []) if index is not None
                   else files.list_files(t.project, t.subject, st))
            found += [os.path.join(folder, p) for p in sorted(p for p in rel if rx.fullmatch(p))]
        error = None
        if not studies:
            error = f"no study selected in {_describe(t, study)}"
        elif not found:
            error = (f"pattern {pattern!r} matched no file in study "
                     f"{', '.join(s.id for s in studies)} of {_describe(t, study)}")
        out.append(PreviewRow(label, tuple(s.id for s in studies), tuple(found), error))
    return out
