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
:func:`register_job_filter`. The first ``JOB:`` term loads it (``nora_server.batch``, imported
lazily: the archive itself does not depend on the batch package); without a batch package
``JOB:`` terms match nothing.
"""

from __future__ import annotations

import importlib
import logging
from datetime import date
from typing import Callable

from sqlalchemy import (String, and_, cast, distinct, exists, false, func, or_, select,
                        true)

from nora_server.archive.dateterms import prefix_range
from nora_server.archive.errors import FilterError, PermissionDenied
from nora_server.archive.filters import Filter, Term, parse
from nora_server.archive.models import File, FileTag, Study, StudyTag, Subject, SubjectTag
from nora_server.archive.patterns import like
from nora_server.archive.records import StudyRow, TablePage, bulk

log = logging.getLogger(__name__)

ALIASES = {"pid": "id", "patient": "name", "sid": "study", "description": "desc",
           "file": "files", "birthdate": "birth", "studydate": "date"}
COLUMNS = ("id", "name", "birth", "sex", "study", "date", "desc", "modality", "files")
IDENTITY = ("name", "birth", "sex")
SUBJECT_COLUMNS = ("id", "name", "birth", "sex")
ORDER = {"id": Subject.pseudonym, "name": Subject.patient_name, "birth": Subject.birth_date,
         "sex": Subject.sex, "study": Study.key, "date": Study.study_date,
         "desc": Study.description, "modality": Study.modality}
LEVELS = ("study", "subject")
PAGE_BY_IDS = 5000  # pages up to this size are fetched by id after one evaluation of the bars

_job_filter: Callable[[str], object] | None = None


def register_job_filter(builder: Callable[[str], object] | None) -> None:
    """Let the batch runner answer ``JOB:`` terms: ``builder(states)`` gets the letters
    (``"e"``, ``"qr"``...) and returns an SQL clause on ``Study.id``/``Subject.id``."""
    global _job_filter
    _job_filter = builder


BATCH_LINK = "nora_server.batch.archive_link"


def _load_job_filter():
    """Install the batch runner's ``JOB:`` clause builder if the batch package is there."""
    try:
        importlib.import_module(BATCH_LINK).install_job_filter()
    except ModuleNotFoundError as exc:
        if exc.name is None or not BATCH_LINK.startswith(exc.name):
            raise
    return _job_filter


def term_clause(column: str, term: Term, *, identity: bool, project_id: int | None = None,
                per_study: bool = False):
    """SQL clause for one term of the bar ``column`` (every term ends in a wildcard).
    ``project_id`` lets a file search read only that project's part of the file index;
    ``per_study``: check a file search within each candidate study instead."""
    v = term.value
    if term.attr == "STAG":
        return Study.id.in_(select(StudyTag.study_id).where(like(StudyTag.tag, v,
                                                                 trailing_wildcard=True)))
    if term.attr == "PTAG":
        return Subject.id.in_(select(SubjectTag.subject_id).where(
            like(SubjectTag.tag, v, trailing_wildcard=True)))
    if term.attr == "FTAG":
        return Study.id.in_(select(FileTag.study_id).where(like(FileTag.tag, v,
                                                                 trailing_wildcard=True)))
    if term.attr == "SDESC":
        return like(Study.description, v, trailing_wildcard=True)
    if term.attr == "JOB":
        builder = _job_filter or _load_job_filter()
        if builder is None:
            log.warning("JOB:%s matches nothing: no batch runner registered job states", v)
            return false()
        return builder(v)
    if column == "files" and per_study:
        return exists().where(File.study_id == Study.id,
                              like(File.path, v, trailing_wildcard=True))
    if column == "files":
        files = select(File.study_id).where(like(File.path, v, trailing_wildcard=True))
        if project_id is not None:
            files = files.where(File.project_id == project_id)
        return Study.id.in_(files)
    if column in ("date", "birth"):
        col = Study.study_date if column == "date" else Subject.birth_date
        span = prefix_range(v)  # a date prefix: an index range instead of LIKE on text
        if span is not None:
            lo, hi = span
            return col >= lo if hi is None else and_(col >= lo, col < hi)
    if column == "id":
        clause = like(Subject.pseudonym, v, trailing_wildcard=True)
        if identity:
            clause = or_(clause, like(Subject.patient_id, v, trailing_wildcard=True))
        return clause
    col = {"name": Subject.patient_name, "birth": cast(Subject.birth_date, String),
           "sex": Subject.sex, "study": Study.key, "date": cast(Study.study_date, String),
           "desc": Study.description, "modality": Study.modality}[column]
    return like(col, v, trailing_wildcard=True)


def filter_clause(column: str, flt: Filter, *, identity: bool, project_id: int | None = None):
    if flt.empty:
        return true()
    return or_(*(_group_clause(column, group, identity=identity, project_id=project_id)
                 for group in flt.groups))


def _group_clause(column: str, group, *, identity: bool, project_id: int | None):
    # a file search AND a study-level tag (``t1*/s0*.nii & STAG:control``): the database reads
    # the tagged studies from the tag index and checks the pattern within each (one seek in
    # (study_id, path)) instead of reading every path of the pattern's prefix in the project
    per_study = column == "files" and any(t.attr in ("STAG", "FTAG") for t in group)
    return and_(*(term_clause(column, t, identity=identity, project_id=project_id,
                              per_study=per_study) for t in group))


def bars_clause(bars: dict[str, str] | None, *, identity: bool, project_id: int | None = None):
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
        clauses.append(filter_clause(column, flt, identity=identity, project_id=project_id))
    return and_(true(), *clauses)


class _Dates(dict):
    """ISO text -> date, parsed once per distinct value (a table repeats its dates a lot)."""

    def __missing__(self, text):
        value = self[text] = date.fromisoformat(text[:10]) if text else None
        return value


class QueryMixin:
    """The subject/study table. ``table`` answers a filtered, sorted page and the row count in
    one call; ``studies``/``subjects``/``count_studies`` are its parts."""

    def _table_select(self, proj, bars, level: str, order, descending: bool, *, ids: bool,
                      only_ids: bool = False, within=None):
        """(select of the rows, where clause, identity?) for ``studies`` and ``table``.
        ``only_ids``: select just the row's id (study level: the study id; subject level:
        the subject id, and what DISTINCT needs to sort);
        ``within``: a clause that replaces the bars (the rows of one page)."""
        if level not in LEVELS:
            raise FilterError(f"level {level!r} is unknown: use 'study' or 'subject'")
        identity = proj.can("identity")
        where = (bars_clause(bars, identity=identity, project_id=proj.id) if within is None
                 else within)
        # dates come back as text and are parsed here: much faster than per-row type processing
        cols = [Subject.pseudonym]
        if identity:
            cols += [Subject.patient_id, Subject.patient_name, cast(Subject.birth_date, String),
                     Subject.sex]
        if level == "study":
            cols += [Study.key, cast(Study.study_date, String), Study.description,
                     Study.modality]
        if ids or only_ids:
            cols += [Subject.id] + ([Study.id] if level == "study" else [])
        if only_ids:
            cols = cols[-1:] + ([] if level == "study" else [Subject.pseudonym])
        column = ALIASES.get(order.lower(), order.lower()) if order else "id"
        if column not in ORDER or (level == "subject" and column not in SUBJECT_COLUMNS):
            allowed = SUBJECT_COLUMNS if level == "subject" else tuple(ORDER)
            raise FilterError(f"cannot sort {level} rows by {order!r}: use one of "
                              f"{', '.join(allowed)}")
        if column in IDENTITY and not identity:
            raise PermissionDenied(f"sorting by {column} needs a role that may see patient "
                                   "identities (member or owner)")
        if level == "subject":
            q = (select(*cols).distinct().select_from(Subject)
                 .outerjoin(Study, Study.subject_id == Subject.id))
            keys = [Subject.pseudonym]
            if column != "id":  # DISTINCT needs the sort key among the columns
                q = q.add_columns(ORDER[column])
                keys.insert(0, ORDER[column])
        elif column in SUBJECT_COLUMNS:
            q = select(*cols).select_from(Subject).join(Study, Study.subject_id == Subject.id)
            keys = [Subject.pseudonym, Study.key]
            if column != "id":
                keys.insert(0, ORDER[column])
        else:
            # a study column, ties by study id: the whole table sorts by studies alone (SQLite
            # walks the date index; MariaDB, told to start from studies, sorts only them
            # instead of the join of every study with its subject)
            q = select(*cols).select_from(Study).join(Subject, Study.subject_id == Subject.id)
            if within is None and not any(t and t.strip() for t in (bars or {}).values()):
                q = q.prefix_with("STRAIGHT_JOIN", dialect="mysql")
            keys = [ORDER[column], Study.id]
        keys = [k.desc() for k in keys] if descending else keys
        return q.where(Subject.project_id == proj.id, where).order_by(*keys), where, identity

    def _rows(self, conn, proj, q, level: str, identity: bool, with_tags: bool):
        with bulk():
            return self._build_rows(conn, proj, q, level, identity, with_tags)

    def _build_rows(self, conn, proj, q, level: str, identity: bool, with_tags: bool):
        result = conn.execute(q).all()
        n = 5 if identity else 1  # subject columns; then 4 study columns; then the ids
        at = n + (4 if level == "study" else 0)  # where Subject.id (then Study.id) is
        stag = ttag = {}
        if with_tags:
            stag = self._tags_by_id(conn, "subject", proj.id, {r[at] for r in result})
            if level == "study":
                ttag = self._tags_by_id(conn, "study", proj.id, {r[at + 1] for r in result})
        day, new, none = _Dates(), tuple.__new__, (None, None, None, None)
        out = []
        append = out.append
        for r in result:  # tuple.__new__: a plain tuple's speed for 100k rows
            ident = (r[1], r[2], day[r[3]], r[4]) if identity else none
            if level == "subject":
                tags = stag.get(r[at], ()) if with_tags else ()
                append(new(StudyRow, (r[0], None, None, "", "", *ident, tags, tags)))
            else:
                tags = (ttag.get(r[at + 1], ()), stag.get(r[at], ())) if with_tags else ((), ())
                append(new(StudyRow, (r[0], r[n], day[r[n + 1]], r[n + 2] or "", r[n + 3] or "",
                                      *ident, *tags)))
        return out

    def studies(self, project: str, bars: dict[str, str] | None = None, *,
                level: str = "study", limit: int | None = None, offset: int = 0,
                order: str | None = None, descending: bool = False,
                with_tags: bool = False) -> list[StudyRow]:
        """Rows of the subject/study table of ``project`` matching the filter bars.

        >>> s.studies("demo", {"name": "A B", "files": "t1_trio*/s0*.nii & STAG:control"})
        ... # doctest: +SKIP

        ``level="subject"`` returns one row per subject that has a matching study (or, with
        no bars, every subject). Identity fields are ``None`` for roles that may not see them.
        ``order``: a column (``id``, ``name``, ``birth``, ``sex``, ``study``, ``date``,
        ``desc``, ``modality``); ties are broken by subject and study, or for a study column
        (``study``, ``date``, ``desc``, ``modality``) by the order the studies were created in
        (which lets the database sort studies alone); ``with_tags`` fills
        ``StudyRow.tags`` (the row's own tags) and ``StudyRow.subject_tags``.
        """
        return self.table(project, bars, level=level, limit=limit, offset=offset, order=order,
                          descending=descending, with_tags=with_tags, count=False).rows

    def subjects(self, project: str, bars: dict[str, str] | None = None) -> list[StudyRow]:
        return self.studies(project, bars, level="subject")

    def count_studies(self, project: str, bars: dict[str, str] | None = None, *,
                      level: str = "study") -> int:
        """How many rows :meth:`studies` would return."""
        proj = self._project(project)
        with self.engine.connect() as conn:
            return self._count(conn, proj, bars_clause(bars, identity=proj.can("identity"),
                                                       project_id=proj.id), level)

    def _count(self, conn, proj, where, level: str) -> int:
        if level == "subject":
            q = (select(func.count(distinct(Subject.id))).select_from(Subject)
                 .outerjoin(Study, Study.subject_id == Subject.id))
        else:
            q = select(func.count()).select_from(Subject).join(Study,
                                                               Study.subject_id == Subject.id)
        return conn.execute(q.where(Subject.project_id == proj.id, where)).scalar()

    def table(self, project: str, bars: dict[str, str] | None = None, *, level: str = "study",
              limit: int | None = None, offset: int = 0, order: str | None = None,
              descending: bool = False, with_tags: bool = True,
              count: bool = True) -> TablePage:
        """What a subject/study table view needs after each change of a filter bar, in one
        call: the rows (a page with ``limit``/``offset``, else all), their tags, and the total
        number of matching rows (``count=False`` skips counting; ``total`` is then the number
        of rows returned when no ``limit`` is given, else ``None``).

        >>> page = s.table("demo", {"files": "t1*/s0*.nii"}, order="date", limit=500)
        ... # doctest: +SKIP
        >>> page.total, page.rows[0].ref, page.rows[0].tags                 # doctest: +SKIP
        (1234, 'P001#S1', ('control',))
        """
        proj = self._project(project)
        filtered = any(text and text.strip() for text in (bars or {}).values())
        if count and filtered and limit and limit <= PAGE_BY_IDS:
            return self._table_by_ids(proj, bars, level, limit, offset, order, descending,
                                      with_tags)
        q, where, identity = self._table_select(proj, bars, level, order, descending,
                                                ids=with_tags)
        if limit:
            q = q.limit(limit)
        if offset:
            q = q.offset(offset)
        with self.engine.connect() as conn:
            rows = self._rows(conn, proj, q, level, identity, with_tags)
            if not limit and not offset or not offset and len(rows) < limit:
                total = len(rows)  # every matching row is here: no need to count
            else:
                total = self._count(conn, proj, where, level) if count else None
        return TablePage(total, rows)

    def _table_by_ids(self, proj, bars, level, limit, offset, order, descending, with_tags):
        """A filtered page and its count with ONE evaluation of the bars: the ids of every
        matching row in table order (their number is the count), then the page's rows by id.
        Counting separately would evaluate a costly bar (a file search over a million files,
        FTAG:...) a second time."""
        q, _, identity = self._table_select(proj, bars, level, order, descending, ids=False,
                                            only_ids=True)
        key = Study.id if level == "study" else Subject.id
        with self.engine.connect() as conn:
            # plain ids need no processing: read the driver's rows (SQLAlchemy's row objects
            # for tens of thousands of ids cost about as much as the query)
            result = conn.execute(q)
            found = [r[0] for r in result.cursor.fetchall()]
            result.close()
            page = found[offset:offset + limit]
            rows = []
            if page:
                q = self._table_select(proj, None, level, order, descending, ids=with_tags,
                                       within=key.in_(page))[0]
                rows = self._rows(conn, proj, q, level, identity, with_tags)
        return TablePage(len(found), rows)
