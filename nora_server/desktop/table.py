"""The desktop's subject/study table as columns, and its filter bars.

:meth:`ArchiveSession.studies` returns named tuples without database ids or tags. The desktop
table keeps every study of a project in memory (100k studies are a few MB) and needs, per row,
the study id (to map a filter's answer onto rows without a second query of the same rows), the
study's and subject's tags and the state of its latest batch job. :func:`load_table` gets the
rows and tags in three queries (:func:`job_states` turns the batch client's job markers into
``table.jobs``); :func:`matching_study_ids` answers the filter bars with the archive's
own clauses (:func:`nora_server.archive.query.bars_clause`) but returns only study ids.

Filter bars (keys of ``bars``): the archive's columns (``id``, ``name``, ``birth``, ``sex``,
``study``, ``date``, ``desc``, ``modality``, ``files``) plus two of the desktop:

* ``tags``: a plain term is a study tag (``control`` means ``STAG:control``); other attributes
  (``PTAG:vip``) work as anywhere;
* ``job``: a plain term is a set of job letters (``e`` means ``JOB:e``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import String, and_, cast, null, select

from nora_server.archive.errors import FilterError
from nora_server.archive.filters import Filter, Term, parse
from nora_server.archive.models import Study, StudyTag, Subject, SubjectTag
from nora_server.archive.query import (bars_clause, filter_clause, has_job_term,
                                       job_rows_current)
from nora_server.archive.records import bulk

#: columns of the table, in display order (identity columns are empty for readers)
COLUMNS = ("subject", "patient_id", "name", "birth", "sex", "study", "date", "desc",
           "modality", "tags", "job")
IDENTITY_COLUMNS = ("patient_id", "name", "birth", "sex")
#: desktop column -> archive filter bar (None: the column has no bar of its own)
BARS = {"subject": "id", "patient_id": None, "name": "name", "birth": "birth", "sex": "sex",
        "study": "study", "date": "date", "desc": "desc", "modality": "modality",
        "tags": "tags", "job": "job"}
#: columns that may be NULL in the database (a NULL never matches a filter term)
NULLABLE = ("patient_id", "name", "birth", "sex", "date")
#: job letters shown in the table, by state (the latest job of a study)
JOB_LETTERS = {"q": "queued", "r": "running", "e": "error"}


@dataclass
class StudyTable:
    """Every study of a project, as columns in the archive's order (subject, study key).

    ``columns[name][i]`` is the display text of row ``i``; ``study_ids[i]`` and
    ``subject_ids[i]`` its database ids; tags and job states are kept by id, so a change of
    one study's tags updates one entry.
    """

    project: str
    identity: bool
    study_ids: np.ndarray
    subject_ids: np.ndarray
    columns: dict[str, list]
    nulls: dict[str, np.ndarray] = field(default_factory=dict)  # column -> value is NULL
    study_tags: dict[int, list[str]] = field(default_factory=dict)
    subject_tags: dict[int, list[str]] = field(default_factory=dict)
    jobs: dict[int, str] = field(default_factory=dict)
    tags_version: int = 0  # counts tag reloads (caches of tags compare it)

    def __len__(self) -> int:
        return len(self.study_ids)

    def ref(self, row: int) -> str:
        return f"{self.columns['subject'][row]}#{self.columns['study'][row]}"

    def tags_text(self, row: int) -> str:
        """Study tags, then subject tags marked ``(subject)``."""
        st = self.study_tags.get(int(self.study_ids[row]), ())
        pt = self.subject_tags.get(int(self.subject_ids[row]), ())
        return ", ".join([*st, *(f"{t} (subject)" for t in pt)])

    def job(self, row: int) -> str:
        return self.jobs.get(int(self.study_ids[row]), "")

    def mask_of(self, study_ids) -> np.ndarray:
        """Boolean mask over the rows: True where the row's study id is in ``study_ids``."""
        return np.isin(self.study_ids, np.asarray(study_ids, dtype=np.int64))


def _project_id(session, project: str) -> tuple[int, bool]:
    """(project id, identity right) after the session checked the user's role."""
    ref = session._project(project)
    return ref.id, ref.can("identity")


def load_table(session, project: str) -> StudyTable:
    """All studies of ``project`` with tags (three queries, 100k rows ~1 s); ``jobs`` is
    left to :func:`job_states`."""
    with bulk():
        return _load_table(session, project)


def _load_table(session, project: str) -> StudyTable:
    pid, identity = _project_id(session, project)
    ident = ((Subject.patient_id, Subject.patient_name, cast(Subject.birth_date, String),
              Subject.sex) if identity else (null(), null(), null(), null()))
    q = (select(Study.id, Subject.id, Subject.pseudonym, *ident, Study.key,
                cast(Study.study_date, String), Study.description, Study.modality)
         .join(Subject, Study.subject_id == Subject.id).where(Subject.project_id == pid)
         .order_by(Subject.pseudonym, Study.key))
    with session.engine.connect() as conn:
        cols = _columns(conn.execute(q), 11)
        stags = _tags(conn, select(StudyTag.study_id, StudyTag.tag)
                      .where(StudyTag.project_id == pid))
        ptags = _tags(conn, select(SubjectTag.subject_id, SubjectTag.tag)
                      .where(SubjectTag.project_id == pid))
    keys = ("subject", "patient_id", "name", "birth", "sex", "study", "date", "desc",
            "modality")
    nulls = {k: np.fromiter((v is None for v in c), bool, len(c))
             for k, c in zip(keys, cols[2:]) if k in NULLABLE}
    columns = {k: [v or "" for v in c] for k, c in zip(keys, cols[2:])}
    for k in ("birth", "date"):  # dates come back as text (with a time on some back ends)
        columns[k] = [v[:10] for v in columns[k]]
    table = StudyTable(project, identity, np.asarray(cols[0], dtype=np.int64),
                       np.asarray(cols[1], dtype=np.int64), columns, nulls, stags, ptags)
    return table


def _columns(result, n: int, chunk: int = 5000) -> list[list]:
    """The result's columns as lists, fetched in chunks: between chunks other threads (the
    GUI) get the interpreter, where one fetch of 100k rows would hold it for a second."""
    cols: list[list] = [[] for _ in range(n)]
    while rows := result.fetchmany(chunk):
        for col, values in zip(cols, zip(*rows)):
            col.extend(values)
    return cols


def _tags(conn, query) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for ident, tag in zip(*_columns(conn.execute(query), 2)):
        out.setdefault(ident, []).append(tag)
    for tags in out.values():
        tags.sort(key=str.lower)
    return out


def refresh_tags(session, table: StudyTable, rows) -> None:
    """Reload the study and subject tags of ``rows`` (after tagging them)."""
    rows = [int(r) for r in rows]
    study_ids = sorted({int(table.study_ids[r]) for r in rows})
    subject_ids = sorted({int(table.subject_ids[r]) for r in rows})
    session.role(table.project)
    with session.engine.connect() as conn:
        for ids, col, tcol, store in ((study_ids, StudyTag.study_id, StudyTag.tag,
                                       table.study_tags),
                                      (subject_ids, SubjectTag.subject_id, SubjectTag.tag,
                                       table.subject_tags)):
            for k in range(0, len(ids), 500):
                part = ids[k:k + 500]
                got = _tags(conn, select(col, tcol).where(col.in_(part)))
                for i in part:
                    store.pop(i, None)
                store.update(got)
    table.tags_version += 1


def job_states(table: StudyTable, markers: dict[str, dict]) -> dict[int, str]:
    """{study id: "q" | "r" | "e"} for ``table.jobs`` from the job markers of
    :meth:`nora_server.batch.client.BatchClient.markers`: the state of the study's latest
    batch job or of its subject's latest subject-level job (which marks every study of the
    subject); where both are marked, error before running before queued, as the ``JOB:``
    filter answers."""
    letters = {state: k for k, state in JOB_LETTERS.items()}
    marked = {ref.lower(): letters[m["state"]] for ref, m in markers.items()
              if m.get("state") in letters}
    out: dict[int, str] = {}
    if not marked:
        return out
    subjects, studies = table.columns["subject"], table.columns["study"]
    for row, study_id in enumerate(table.study_ids):
        subject = subjects[row].lower()
        found = [k for k in (marked.get(subject), marked.get(f"{subject}#{studies[row].lower()}"))
                 if k]
        if found:
            out[int(study_id)] = max(found, key="qre".index)
    return out


def _attributed(text: str, attr: str) -> Filter:
    """Parse ``text``; plain terms get ``attr`` (the tags and job bars)."""
    flt = parse(text)
    groups = tuple(tuple(Term(attr, t.value) if not t.attr else t for t in g)
                   for g in flt.groups)
    if attr == "JOB":  # the same letter check as a typed JOB: term
        for g in groups:
            for t in g:
                if t.attr == "JOB":
                    parse(f"JOB:{t.value}")
    return Filter(groups)


def where_clause(bars: dict[str, str] | None, *, identity: bool, project_id: int | None = None):
    """SQL clause of the desktop's bars (archive bars plus ``tags`` and ``job``)."""
    bars = dict(bars or {})
    extra = []
    for key, attr in (("tags", "STAG"), ("job", "JOB")):
        text = bars.pop(key, "")
        if text and text.strip():
            flt = _attributed(text, attr)
            if not flt.empty:
                extra.append(filter_clause("study", flt, identity=identity,
                                           project_id=project_id))
    return and_(bars_clause(bars, identity=identity, project_id=project_id), *extra)


def matching_study_ids(session, project: str, bars: dict[str, str] | None) -> np.ndarray:
    """Ids of the studies of ``project`` that satisfy every non-empty bar.

    Raises :class:`~nora_server.archive.errors.FilterError` (bad expression) or
    :class:`~nora_server.archive.errors.PermissionDenied` (an identity bar for a reader).
    """
    pid, identity = _project_id(session, project)
    where = where_clause(bars, identity=identity, project_id=pid)
    if has_job_term(bars) or (bars or {}).get("job", "").strip():
        job_rows_current(session.engine)
    q = (select(Study.id).join(Subject, Study.subject_id == Subject.id)
         .where(Subject.project_id == pid, where))
    with session.engine.connect() as conn:
        return np.fromiter(conn.execute(q).scalars(), dtype=np.int64)


def check_bars(bars: dict[str, str]) -> None:
    """Parse every bar (no query); raise FilterError naming the bar that is wrong."""
    for key, text in bars.items():
        try:
            if key == "tags":
                _attributed(text, "STAG")
            elif key == "job":
                _attributed(text, "JOB")
            else:
                parse(text)
        except FilterError as exc:
            raise FilterError(f"{key} bar: {exc}") from None
