"""Filter bars answered on the desktop's in-memory table, so typing stays under 100 ms on 100k
studies.

The expression is parsed by the archive's one parser (:func:`nora_server.archive.filters.parse`)
and every term is matched with the archive's pattern semantics
(:func:`nora_server.archive.patterns.to_regex`: ``*`` any run, ``_`` one character, a trailing
wildcard, case-insensitive; a NULL field matches nothing), on the columns and tags the table
holds, and the file search on the project's distinct file paths
(:class:`~nora_server.desktop.file_index.FileIndex`, once it is built). Terms the table cannot
answer go to the database with the archive's own clause
(:func:`nora_server.archive.query.term_clause`): ``FTAG:``, ``JOB:``, and the file search until
the file index is there. ``tests/desktop/test_matching.py`` checks that both paths select the
same studies.

Each column is matched on its distinct values (a description column of 100k rows has a handful),
then spread back to the rows; a term's literal prefix narrows them by binary search first.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from nora_server.archive.errors import FilterError, PermissionDenied
from nora_server.archive.filters import Filter, Term, parse
from nora_server.archive.models import Study, Subject
from nora_server.archive.patterns import to_regex
from nora_server.archive.query import ALIASES, COLUMNS, IDENTITY, term_clause
from nora_server.desktop.file_index import FileIndex, matching_values
from nora_server.archive.records import bulk
from nora_server.desktop.table import StudyTable, _attributed, _project_id

#: archive filter column -> column of the desktop table
TABLE_COLUMN = {"name": "name", "birth": "birth", "sex": "sex", "study": "study",
                "date": "date", "desc": "desc", "modality": "modality"}
IN_DATABASE = ("FTAG", "JOB")


class Matcher:
    """Evaluates filter bars on one :class:`StudyTable`.

    Each column is kept as its sorted, lower-cased distinct values plus, per row, the index of
    its value: a term's literal prefix (everything before the first ``*`` or ``_``) selects a
    range of distinct values by binary search, and only that range is matched further. Tags
    are kept as distinct tag -> ids. :meth:`prepare` builds all of it (in the worker that loads
    the table), so no key pays for it.
    """

    def __init__(self, table: StudyTable):
        self.table = table
        self._distinct: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._tags: dict[str, dict[str, np.ndarray]] = {}
        self._tags_version = -1
        self.files: FileIndex | None = None  # set by build_files() (in a worker)

    def build_files(self, session) -> Matcher:
        """Build the file index of the table's project (the file search then stays in
        memory); returns the matcher."""
        self.files = FileIndex.build(session, self.table.project)
        return self

    def prepare(self) -> Matcher:
        with bulk():
            for key in ("subject", "patient_id", *TABLE_COLUMN.values()):
                self._values(key)
            self._tag_index("study")
        return self

    def _values(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        if key not in self._distinct:
            col = np.char.lower(np.array(self.table.columns[key], dtype=str))
            self._distinct[key] = np.unique(col, return_inverse=True)
        return self._distinct[key]

    def _column_mask(self, key: str, value: str) -> np.ndarray:
        uniques, inverse = self._values(key)
        mask = matching_values(uniques, value)[inverse]
        null = self.table.nulls.get(key)
        return mask & ~null if null is not None else mask

    def _tag_index(self, level: str) -> dict[str, np.ndarray]:
        """{lower-case tag: ids} of study (or subject) tags, rebuilt when tags were reloaded."""
        if self._tags_version != self.table.tags_version:
            self._tags, self._tags_version = {}, self.table.tags_version
        if level not in self._tags:
            store = self.table.study_tags if level == "study" else self.table.subject_tags
            index: dict[str, list[int]] = {}
            for ident, tags in list(store.items()):
                for t in tags:
                    index.setdefault(t.lower(), []).append(ident)
            self._tags[level] = {t: np.asarray(v, dtype=np.int64) for t, v in index.items()}
        return self._tags[level]

    def _tag_mask(self, level: str, value: str) -> np.ndarray:
        rx = _regex(value)
        index = self._tag_index(level)
        hits = [ids for tag, ids in index.items() if rx.match(tag)]
        ids = np.concatenate(hits) if hits else np.zeros(0, np.int64)
        rows_ids = self.table.study_ids if level == "study" else self.table.subject_ids
        return np.isin(rows_ids, ids)

    def term_mask(self, session, column: str, term: Term, *, identity: bool) -> np.ndarray:
        t = self.table
        if term.attr == "STAG":
            return self._tag_mask("study", term.value)
        if term.attr == "PTAG":
            return self._tag_mask("subject", term.value)
        if term.attr == "SDESC":
            return self._column_mask("desc", term.value)
        if not term.attr and column == "files" and self.files is not None:
            return t.mask_of(self.files.study_ids_matching(term.value))
        if term.attr in IN_DATABASE or (not term.attr and column == "files"):
            return t.mask_of(_database_ids(session, t.project, column, term, identity))
        if column == "id":
            mask = self._column_mask("subject", term.value)
            return mask | self._column_mask("patient_id", term.value) if identity else mask
        return self._column_mask(TABLE_COLUMN[column], term.value)

    def match(self, session, bars: dict[str, str] | None) -> np.ndarray:
        """Boolean mask over the table's rows: the rows satisfying every non-empty bar (the
        archive's columns plus the desktop's ``tags`` and ``job`` bars)."""
        identity = self.table.identity
        mask = np.ones(len(self.table), bool)
        for name, text in (bars or {}).items():
            column, flt = _bar(name, text, identity)
            if flt.empty:
                continue
            bar = np.zeros(len(self.table), bool)
            for group in flt.groups:
                g = np.ones(len(self.table), bool)
                for term in group:
                    g &= self.term_mask(session, column, term, identity=identity)
                bar |= g
            mask &= bar
        return mask


def _regex(value: str):
    return to_regex(value if value.endswith("*") else value + "*")


def _bar(name: str, text: str, identity: bool) -> tuple[str, Filter]:
    """(archive column, parsed filter) of one bar, with the archive's checks and messages."""
    if name == "tags":
        return "study", _attributed(text, "STAG")
    if name == "job":
        return "study", _attributed(text, "JOB")
    column = ALIASES.get(name.lower(), name.lower())
    if column not in COLUMNS:
        raise FilterError(f"unknown filter column {name!r}: use one of {', '.join(COLUMNS)}")
    flt = parse(text)
    if column in IDENTITY and not identity and any(t.attr == "" for g in flt.groups for t in g):
        raise PermissionDenied(f"filtering by {column} needs a role that may see patient "
                               "identities (member or owner)")
    return column, flt


def _database_ids(session, project: str, column: str, term: Term, identity: bool):
    pid, _ = _project_id(session, project)
    q = (select(Study.id).join(Subject, Study.subject_id == Subject.id)
         .where(Subject.project_id == pid,
                term_clause(column, term, identity=identity, project_id=pid)))
    with session.engine.connect() as conn:
        return np.fromiter(conn.execute(q).scalars(), dtype=np.int64)
