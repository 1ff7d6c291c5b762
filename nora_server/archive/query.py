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
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Callable

from sqlalchemy import (String, and_, cast, distinct, exists, false, func, or_, select,
                        true, union)

from nora_server.archive.dateterms import prefix_range
from nora_server.archive.db import in_memory
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
WALK_SLACK = 64  # rows past a page's end read with it: the last subject's studies, whole
MANY_OWNERS = 10_000  # a tag with this many owners is walked in subject order (MariaDB)

_job_filter: Callable[[str], object] | None = None
_job_rows: Callable[[object], object] | None = None


def register_job_filter(builder: Callable[[str], object] | None,
                        job_rows: Callable[[object], object] | None = None) -> None:
    """Let the batch runner answer ``JOB:`` terms: ``builder(states)`` gets the letters
    (``"e"``, ``"qr"``...) and returns an SQL clause on ``Study.id``/``Subject.id``;
    ``job_rows(engine)`` writes the job rows of launches still waiting for them."""
    global _job_filter, _job_rows
    _job_filter, _job_rows = builder, job_rows


def has_job_term(bars: dict[str, str] | None) -> bool:
    return any(text and "job:" in text.lower() for text in (bars or {}).values())


def job_rows_current(engine) -> None:
    """Before a query with a ``JOB:`` term: the batch runner writes the job rows of the
    launches that wait for them (:mod:`nora_server.batch.jobtable`), so the term sees them."""
    if (_job_filter or _load_job_filter()) is not None and _job_rows is not None:
        _job_rows(engine)


BATCH_LINK = "nora_server.batch.archive_link"


def _load_job_filter():
    """Install the batch runner's ``JOB:`` clause builder if the batch package is there."""
    try:
        importlib.import_module(BATCH_LINK).install_job_filter()
    except ModuleNotFoundError as exc:
        if exc.name is None or not BATCH_LINK.startswith(exc.name):
            raise
    return _job_filter


#: a tag term's owners: (the owner column it restricts, the tag table, its owner column)
TAGGED = {"STAG": (Study.id, StudyTag, StudyTag.study_id),
          "PTAG": (Subject.id, SubjectTag, SubjectTag.subject_id),
          "FTAG": (Study.id, FileTag, FileTag.study_id)}


def tagged(term: Term, project_id: int | None = None, column=None):
    """The owners (study ids; subject ids for ``PTAG:``) of a tag term, from the tag index
    (one range of it when the project is given); ``column``: select it instead, from the tag
    table (to join the owners' table on)."""
    _, table, owner = TAGGED[term.attr]
    q = select(owner if column is None else column).select_from(table).where(
        like(table.tag, term.value, trailing_wildcard=True))
    return q if project_id is None else q.where(table.project_id == project_id)


def term_clause(column: str, term: Term, *, identity: bool, project_id: int | None = None,
                per_study: bool = False):
    """SQL clause for one term of the bar ``column`` (every term ends in a wildcard).
    ``project_id`` lets a file search read only that project's part of the file index;
    ``per_study``: check a file search within each candidate study instead."""
    v = term.value
    if term.attr in TAGGED:
        return TAGGED[term.attr][0].in_(tagged(term, project_id))
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
    group = sorted(group, key=lambda t: t.attr not in TAGGED)  # the cheap tag check first
    return and_(*(term_clause(column, t, identity=identity, project_id=project_id,
                              per_study=per_study) for t in group))


def tag_groups(bars: dict[str, str] | None):
    """``(column, [(tag term, other terms), ...])`` when one bar is set and each of its groups
    holds a tag term (``PTAG:vip FTAG:good``, ``t1*/s0*.nii & STAG:control``); else None."""
    active = list(_filled_bars(bars))
    if len(active) != 1:
        return None
    column, flt = active[0]
    groups = []
    for group in flt.groups:
        tag = next((t for t in group if t.attr in TAGGED), None)
        if tag is None:
            return None
        groups.append((tag, [t for t in group if t is not tag]))
    return column, groups


def tag_count_select(bars: dict[str, str] | None, *, identity: bool, project_id: int):
    """The count of the studies matching ``bars`` read from the tag indexes, or None.

    For bars of :func:`tag_groups`, the matching studies are the union, over the groups, of
    the project's owners of the group's tag (one index range), checked against the group's
    other terms: no other study is looked at. Each study is counted once."""
    found = tag_groups(bars)
    if found is None:
        return None
    column, groups = found
    parts = []
    for tag, rest in groups:
        if not rest and tag.attr != "PTAG":
            parts.append(tagged(tag, project_id))  # the index range alone
            continue
        owner = TAGGED[tag.attr][2]
        q = tagged(tag, project_id, Study.id).join(
            Study, Study.subject_id == owner if tag.attr == "PTAG" else Study.id == owner)
        if rest:
            q = q.join(Subject, Subject.id == Study.subject_id).where(*(
                term_clause(column, t, identity=identity, project_id=project_id,
                            per_study=True) for t in rest))
        parts.append(q)
    ids = (union(*parts) if len(parts) > 1 else parts[0].distinct()).subquery()
    return select(func.count()).select_from(ids)


def bars_clause(bars: dict[str, str] | None, *, identity: bool, project_id: int | None = None):
    """AND of every non-empty bar; raises FilterError / PermissionDenied with clear messages."""
    clauses = []
    for column, flt in _filled_bars(bars):
        if column in IDENTITY and not identity and any(t.attr == "" for g in flt.groups
                                                       for t in g):
            raise PermissionDenied(f"filtering by {column} needs a role that may see patient "
                                   "identities (member or owner)")
        clauses.append(filter_clause(column, flt, identity=identity, project_id=project_id))
    return and_(true(), *clauses)


def _filled_bars(bars: dict[str, str] | None):
    """``(column, filter)`` of each bar that holds a term; FilterError for an unknown column."""
    for name, text in (bars or {}).items():
        column = ALIASES.get(name.lower(), name.lower())
        if column not in COLUMNS:
            raise FilterError(f"unknown filter column {name!r}: use one of {', '.join(COLUMNS)}")
        flt = parse(text)
        if not flt.empty:
            yield column, flt


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
        if has_job_term(bars):
            job_rows_current(self.engine)
        with self.engine.connect() as conn:
            return self._count(conn, proj, bars_clause(bars, identity=proj.can("identity"),
                                                       project_id=proj.id), level)

    def _count(self, conn, proj, where, level: str) -> int:
        return conn.execute(self._count_select(proj, where, level)).scalar()

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
        if has_job_term(bars):
            job_rows_current(self.engine)
        if count and filtered and limit and limit <= PAGE_BY_IDS:
            column = ALIASES.get(order.lower(), order.lower()) if order else "id"
            if level == "study" and column == "id" and not descending \
                    and offset + limit <= PAGE_BY_IDS:
                return self._table_walked(proj, bars, limit, offset, with_tags)
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

    def _table_walked(self, proj, bars, limit, offset, with_tags):
        """A filtered page of studies in subject order and the number of matches, at once.

        The database walks the subjects in pseudonym order until the page is full (a few rows
        more, to have the last subject whole: ties are sorted by study key here), while a
        second connection counts every match (from the tag indexes alone when
        :func:`tag_count_select` can). Sorting every match by subject and study to return the
        first rows would read them all (MariaDB sorts tens of thousands in a file)."""
        identity = proj.can("identity")
        where = bars_clause(bars, identity=identity, project_id=proj.id)  # errors said here
        count = tag_count_select(bars, identity=identity, project_id=proj.id)
        if count is None:
            count = self._count_select(proj, where, "study")
        base = (select(Study.id, Subject.id, Study.key).select_from(Subject)
                .join(Study, Study.subject_id == Subject.id)
                .where(Subject.project_id == proj.id, where))
        n = offset + limit
        alone = in_memory(self.engine.url)  # a helper connection would see an empty database
        with ThreadPoolExecutor(1) as pool:
            counted = None if alone else pool.submit(self._scalar, count)
            with self.engine.connect() as conn:
                walk = base.order_by(Subject.pseudonym).limit(n + WALK_SLACK)
                if self._walk_in_order(conn, bars, proj.id):
                    walk = walk.prefix_with("STRAIGHT_JOIN", dialect="mysql")
                got = conn.execute(walk).all()
                complete = len(got) < n + WALK_SLACK
                if not complete:  # the last subject's studies may go on past the limit
                    last = got[-1][1]
                    got = [r for r in got if r[1] != last]
                    if len(got) < n:  # a subject with more studies than the slack
                        got += conn.execute(base.where(Subject.id == last)).all()
                rank: dict[int, int] = {}  # the subjects in the database's order
                for r in got:
                    rank.setdefault(r[1], len(rank))
                got.sort(key=lambda r: (rank[r[1]], r[2].casefold(), r[2]))
                page, rows = [r[0] for r in got[offset:n]], []
                if page:
                    q, _, _ = self._table_select(proj, None, "study", None, False,
                                                 ids=with_tags, within=Study.id.in_(page))
                    rows = self._rows(conn, proj, q, "study", identity, with_tags)
                if complete:
                    total = len(got)
                else:
                    total = conn.execute(count).scalar() if alone else counted.result()
        return TablePage(total, rows)

    @staticmethod
    def _walk_in_order(conn, bars, project_id: int) -> bool:
        """MariaDB: make it walk the subjects in order (``STRAIGHT_JOIN``) for a bar of tags
        with many owners. Its planner would start from the tag's owners and check every one
        of them (a file search in each tagged study: 10k seeks for ``t1*/s0*.nii &
        STAG:control``) before sorting them, where walking meets a page's worth in a tenth of
        the time; for a rare tag, starting from its owners stays the better plan."""
        found = tag_groups(bars) if conn.dialect.name == "mysql" else None
        if found is None:
            return False
        owners = 0
        for tag, _ in found[1]:
            q = tagged(tag, project_id).limit(MANY_OWNERS).subquery()
            owners += conn.execute(select(func.count()).select_from(q)).scalar()
        return owners >= MANY_OWNERS

    def _scalar(self, q):
        with self.engine.connect() as conn:
            return conn.execute(q).scalar()

    def _count_select(self, proj, where, level: str):
        if level == "subject":
            q = (select(func.count(distinct(Subject.id))).select_from(Subject)
                 .outerjoin(Study, Study.subject_id == Subject.id))
        else:
            q = select(func.count()).select_from(Subject).join(Study,
                                                               Study.subject_id == Subject.id)
        return q.where(Subject.project_id == proj.id, where)

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
