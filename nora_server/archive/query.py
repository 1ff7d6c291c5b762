"""The subject/study table with its filter bars (a session mixin).

Each bar holds one filter expression (:mod:`nora_server.archive.filters`) for one column;
the table shows the rows that satisfy every non-empty bar. Columns:

============  ===============================================  =================
bar           matches                                           needs
============  ===============================================  =================
``id``        subject pseudonym, and the real patient ID        read (ID: identity)
``name``      real patient name                                 identity
``birth``     birth date (``YYYY-MM-DD``)                       identity
``sex``       sex                                               identity
``study``     study key (folder name)                           read
``date``      study date (``YYYY-MM-DD``)                       read
``desc``      study description                                 read
``modality``  modality                                          read
``files``     a file in the study whose path matches            read
============  ===============================================  =================

Job states (``JOB:q|r|e``) come from the batch runner, which registers a clause builder with
:func:`register_job_filter`; until then ``JOB:`` terms match nothing.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Callable

from sqlalchemy import String, and_, cast, distinct, false, func, or_, select, true

from nora_server.archive.errors import FilterError, PermissionDenied
from nora_server.archive.filters import Filter, Term, parse
from nora_server.archive.models import File, FileTag, Study, StudyTag, Subject, SubjectTag
from nora_server.archive.patterns import like
from nora_server.archive.records import StudyRow

log = logging.getLogger(__name__)

ALIASES = {"pid": "id", "patient": "name", "sid": "study", "description": "desc",
           "file": "files", "birthdate": "birth", "studydate": "date"}
COLUMNS = ("id", "name", "birth", "sex", "study", "date", "desc", "modality", "files")
IDENTITY = ("name", "birth", "sex")

_job_filter: Callable[[str], object] | None = None


def register_job_filter(builder: Callable[[str], object] | None) -> None:
    """Let the batch runner answer ``JOB:`` terms: ``builder(states)`` gets the letters
    (``"e"``, ``"qr"``...) and returns an SQL clause on ``Study.id``/``Subject.id``."""
    global _job_filter
    _job_filter = builder


def term_clause(column: str, term: Term, *, identity: bool):
    """SQL clause for one term of the bar ``column`` (every term ends in a wildcard)."""
    v = term.value
    if term.attr == "STAG":
        return Study.id.in_(select(StudyTag.study_id).where(like(StudyTag.tag, v,
                                                                 trailing_wildcard=True)))
    if term.attr == "PTAG":
        return Subject.id.in_(select(SubjectTag.subject_id).where(
            like(SubjectTag.tag, v, trailing_wildcard=True)))
    if term.attr == "FTAG":
        return Study.id.in_(select(File.study_id).join(FileTag, FileTag.file_id == File.id)
                            .where(like(FileTag.tag, v, trailing_wildcard=True)))
    if term.attr == "SDESC":
        return like(Study.description, v, trailing_wildcard=True)
    if term.attr == "JOB":
        if _job_filter is None:
            log.warning("JOB:%s matches nothing: no batch runner registered job states", v)
            return false()
        return _job_filter(v)
    if column == "files":
        return Study.id.in_(select(File.study_id).where(like(File.path, v,
                                                             trailing_wildcard=True)))
    if column == "id":
        clause = like(Subject.pseudonym, v, trailing_wildcard=True)
        if identity:
            clause = or_(clause, like(Subject.patient_id, v, trailing_wildcard=True))
        return clause
    col = {"name": Subject.patient_name, "birth": cast(Subject.birth_date, String),
           "sex": Subject.sex, "study": Study.key, "date": cast(Study.study_date, String),
           "desc": Study.description, "modality": Study.modality}[column]
    return like(col, v, trailing_wildcard=True)


def filter_clause(column: str, flt: Filter, *, identity: bool):
    if flt.empty:
        return true()
    return or_(*(and_(*(term_clause(column, t, identity=identity) for t in group))
                 for group in flt.groups))


def bars_clause(bars: dict[str, str] | None, *, identity: bool):
    """AND of every non-empty bar; raises FilterError / PermissionDenied with clear messages."""
    clauses = []
    for name, text in (bars or {}).items():
        column = ALIASES.get(name.lower(), name.lower())
        if column not in COLUMNS:
            raise FilterError(f"unknown filter column {name!r}: use one of {', '.join(COLUMNS)}")
        flt = parse(text)
        if flt.empty:
            continue
        if column in IDENTITY and not identity and any(t.attr == "" for g in flt.groups
                                                       for t in g):
            raise PermissionDenied(f"filtering by {column} needs a role that may see patient "
                                   "identities (member or owner)")
        clauses.append(filter_clause(column, flt, identity=identity))
    return and_(true(), *clauses)


class QueryMixin:
    def studies(self, project: str, bars: dict[str, str] | None = None, *,
                level: str = "study", limit: int | None = None,
                offset: int = 0) -> list[StudyRow]:
        """Rows of the subject/study table of ``project`` matching the filter bars.

        >>> s.studies("demo", {"name": "A B", "files": "t1_trio*/s0*.nii & STAG:control"})
        ... # doctest: +SKIP

        ``level="subject"`` returns one row per subject that has a matching study (or, with
        no bars, every subject). Identity fields are ``None`` for roles that may not see them.
        """
        proj = self._project(project)
        identity = proj.can("identity")
        where = bars_clause(bars, identity=identity)
        # dates come back as text and are parsed here: much faster than per-row type processing
        subj_cols = (Subject.pseudonym, Subject.patient_id, Subject.patient_name,
                     cast(Subject.birth_date, String), Subject.sex)
        if level == "subject":
            q = (select(*subj_cols).distinct().select_from(Subject)
                 .outerjoin(Study, Study.subject_id == Subject.id))
            order = (Subject.pseudonym,)
        elif level == "study":
            q = select(*subj_cols, Study.key, cast(Study.study_date, String), Study.description,
                       Study.modality).join(Study, Study.subject_id == Subject.id)
            order = (Subject.pseudonym, Study.key)
        else:
            raise FilterError(f"level {level!r} is unknown: use 'study' or 'subject'")
        q = q.where(Subject.project_id == proj.id, where).order_by(*order)
        if limit:
            q = q.limit(limit)
        if offset:
            q = q.offset(offset)
        with self.engine.connect() as conn:
            result = conn.execute(q).all()
        iso = date.fromisoformat
        if level == "subject":
            if identity:
                return [StudyRow(r[0], None, None, "", "", r[1], r[2],
                                 iso(r[3][:10]) if r[3] else None, r[4]) for r in result]
            return [StudyRow(r[0], None) for r in result]
        if identity:
            return [StudyRow(r[0], r[5], iso(r[6][:10]) if r[6] else None, r[7] or "",
                             r[8] or "", r[1], r[2], iso(r[3][:10]) if r[3] else None, r[4])
                    for r in result]
        return [StudyRow(r[0], r[5], iso(r[6][:10]) if r[6] else None, r[7] or "", r[8] or "")
                for r in result]

    def subjects(self, project: str, bars: dict[str, str] | None = None) -> list[StudyRow]:
        return self.studies(project, bars, level="subject")

    def count_studies(self, project: str, bars: dict[str, str] | None = None, *,
                      level: str = "study") -> int:
        """How many rows :meth:`studies` would return (for a paged table: count + first page
        with ``limit``/``offset``)."""
        proj = self._project(project)
        where = bars_clause(bars, identity=proj.can("identity"))
        if level == "subject":
            q = (select(func.count(distinct(Subject.id))).select_from(Subject)
                 .outerjoin(Study, Study.subject_id == Subject.id))
        else:
            q = select(func.count()).select_from(Subject).join(Study,
                                                               Study.subject_id == Subject.id)
        with self.engine.connect() as conn:
            return conn.execute(q.where(Subject.project_id == proj.id, where)).scalar()
