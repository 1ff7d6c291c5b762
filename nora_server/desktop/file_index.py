"""The project's file paths in memory, for the file search bar: distinct paths -> studies.

A project of 100k studies has hundreds of thousands of files but few distinct study-relative
paths (``t1_mprage_3/s003.nii`` recurs in every study). :class:`FileIndex` keeps the sorted,
lower-cased distinct paths and, per path, the ids of the studies that hold it (one int array),
built by one query in a worker after the table is shown. A file-search term then matches the
distinct paths (binary search on its literal prefix, then the archive's pattern semantics on
that range) and unions their studies, instead of asking the database per key.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from nora_server.archive.models import File
from nora_server.archive.patterns import to_regex

CHUNK = 20_000


def matching_values(uniques: np.ndarray, value: str) -> np.ndarray:
    """Boolean per entry of ``uniques`` (sorted, lower case): matches the filter term
    ``value`` (``*`` any run, ``_`` one character, trailing wildcard, case-insensitive)."""
    low = value.lower()
    cut = min([low.find(c) for c in "*_" if c in low] or [len(low)])
    prefix = low[:cut]
    lo = int(np.searchsorted(uniques, prefix, "left"))
    hi = int(np.searchsorted(uniques, prefix + "\U0010ffff", "left"))
    hit = np.zeros(len(uniques), bool)
    if cut == len(low):  # a plain prefix: the range is the answer
        hit[lo:hi] = True
    elif hi > lo:
        rx = to_regex(value if value.endswith("*") else value + "*")
        hit[lo:hi] = np.fromiter((rx.match(u) is not None for u in uniques[lo:hi]), bool,
                                 hi - lo)
    return hit


class FileIndex:
    """Distinct paths of a project's files and the studies holding each."""

    def __init__(self, paths: np.ndarray, starts: np.ndarray, study_ids: np.ndarray):
        self.paths = paths  # sorted, lower case (object array)
        self.starts = starts  # study_ids[starts[k]:starts[k + 1]] hold paths[k]
        self.study_ids = study_ids

    @classmethod
    def build(cls, session, project: str) -> FileIndex:
        from nora_server.archive.records import bulk
        from nora_server.desktop.table import _project_id

        pid, _ = _project_id(session, project)
        q = select(File.path, File.study_id).where(File.project_id == pid)
        names: list[str] = []
        ids = []
        with bulk(), session.engine.connect() as conn:
            result = conn.execute(q)
            while rows := result.fetchmany(CHUNK):
                paths, studies = zip(*rows)
                names.extend(p.lower() for p in paths)
                ids.append(np.fromiter(studies, np.int64, len(studies)))
            uniques, inverse = np.unique(np.array(names, dtype=object), return_inverse=True)
        del names
        study_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        order = np.argsort(inverse, kind="stable")
        starts = np.searchsorted(inverse[order], np.arange(len(uniques) + 1))
        return cls(uniques, starts, study_ids[order])

    def study_ids_matching(self, value: str) -> np.ndarray:
        """Ids of the studies with a file whose path matches the term ``value``."""
        hits = np.flatnonzero(matching_values(self.paths, value))
        if not len(hits):
            return np.zeros(0, np.int64)
        return np.concatenate([self.study_ids[self.starts[k]:self.starts[k + 1]]
                               for k in hits])

    def __len__(self) -> int:
        return len(self.study_ids)
