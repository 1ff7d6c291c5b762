"""Plain records the archive API returns (no database objects leave the archive).

Rows of the subject/study table and file records are named tuples: a query may return
tens of thousands of them, and tuples are built several times faster than dataclasses.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple


_gc_lock = threading.Lock()
_gc_pauses = {"count": 0, "was_enabled": True}


@contextmanager
def bulk():
    """Pause the cyclic garbage collector while building many records: none of them can form
    a cycle, and otherwise each collection walks every record built so far (three times
    slower for a 100k-row table; in napari each full collection over the heap also holds the
    GUI thread). Reference counting still frees everything; nested and concurrent pauses (the
    desktop's worker threads) share one counter."""
    with _gc_lock:
        if _gc_pauses["count"] == 0:
            _gc_pauses["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_pauses["count"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses["count"] -= 1
            if _gc_pauses["count"] == 0 and _gc_pauses["was_enabled"]:
                gc.enable()


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    description: str
    module: str | None
    role: str  # owner | member | reader | admin
    root: Path  # the project's folder


@dataclass(frozen=True)
class UserInfo:
    name: str
    full_name: str
    email: str
    is_admin: bool


class StudyRow(NamedTuple):
    """A row of the subject/study table. Identity fields are ``None`` for readers."""

    subject: str  # pseudonym (the subject folder)
    study: str | None  # study key (the study folder); None for subject-level rows
    study_date: date | None = None
    description: str = ""
    modality: str = ""
    patient_id: str | None = None
    patient_name: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    tags: tuple[str, ...] = ()  # the row's own tags (study tags; subject tags for subject rows)
    subject_tags: tuple[str, ...] = ()  # its subject's tags

    @property
    def ref(self) -> str:
        """``PID#SID`` (or ``PID`` for a subject-level row)."""
        return self.subject if self.study is None else f"{self.subject}#{self.study}"


class TablePage(NamedTuple):
    """What :meth:`ArchiveSession.table` answers: the number of matching rows (``None`` when
    not counted) and the rows asked for."""

    total: int | None
    rows: list[StudyRow]


class FileInfo(NamedTuple):
    """An indexed file (NORA's ``DPX_getFileinfo`` / ``DPX_SQL_getFileInfo``)."""

    id: int
    project: str
    subject: str
    study: str
    path: str  # relative to the study folder: "<series folder>/<file>"
    root: str  # the project's folder
    kind: str
    size: int
    checksum: str | None
    added: datetime
    tags: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.subject}#{self.study}"

    @property
    def location(self) -> str:
        """The absolute path as a string (cheap: no Path object)."""
        return f"{self.root}/{self.subject}/{self.study}/{self.path}"

    @property
    def abspath(self) -> Path:
        return Path(self.location)

    @property
    def series(self) -> str:
        """The series folder (``""`` for a file directly in the study folder)."""
        return self.path.rpartition("/")[0]

    def as_dict(self) -> dict:
        return {"project": self.project, "subject": self.subject, "study": self.study,
                "path": self.path, "abspath": self.location, "kind": self.kind,
                "size": self.size, "checksum": self.checksum,
                "added": self.added.isoformat(timespec="seconds"), "tags": list(self.tags)}
