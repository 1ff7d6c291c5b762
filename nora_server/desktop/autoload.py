"""The autoloader's saved pattern lists (quality control): which files of a study to open.

A list is a ``settings`` document of the project named ``autoload:<name>``::

    {"patterns": [{"pattern": "t1*/s0*.nii", "role": "background"},
                  {"pattern": "seg/mask.nii*", "role": "roi"}],
     "layout": "ortho"}

``role`` is how the file is shown: ``background`` (grey, below), ``overlay`` (coloured, on
top) or ``roi`` (a label layer the ROI tool edits). ``layout`` is a workspace layout name, or
absent to let the viewer choose one that fits the data. Patterns are the archive's file
patterns (``*`` any run, ``_`` one character, relative to the study folder).

QC results are study tags: ``QC:pass`` / ``QC:fail`` and ``QC:rating=1`` .. ``QC:rating=5``
(filter with ``STAG:QC:fail`` or ``STAG:QC:rating=5``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nora_server.archive.errors import ArchiveError, NotFound
from nora_server.archive.patterns import matches

PREFIX = "autoload:"
ROLES = ("background", "overlay", "roi")
QC_VERDICTS = ("QC:pass", "QC:fail")
QC_RATING = "QC:rating="


@dataclass(frozen=True)
class AutoPattern:
    pattern: str
    role: str = "overlay"

    def __post_init__(self):
        if not self.pattern.strip():
            raise ArchiveError("an autoloader pattern is empty: give a file pattern such as "
                               "t1*/s0*.nii")
        if self.role not in ROLES:
            raise ArchiveError(f"autoloader role {self.role!r} is unknown: use one of {ROLES}")


@dataclass
class AutoloadList:
    patterns: list[AutoPattern] = field(default_factory=list)
    layout: str | None = None

    def to_dict(self) -> dict:
        return {"patterns": [{"pattern": p.pattern, "role": p.role} for p in self.patterns],
                "layout": self.layout}

    @classmethod
    def from_dict(cls, doc: dict) -> AutoloadList:
        pats = [AutoPattern(str(p["pattern"]), str(p.get("role", "overlay")))
                for p in doc.get("patterns", [])]
        return cls(pats, doc.get("layout") or None)


def list_names(session, project: str) -> list[str]:
    """Names of the saved autoloader lists of ``project``."""
    return [n[len(PREFIX):] for n in session.documents("settings", project=project)
            if n.startswith(PREFIX)]


def load_list(session, project: str, name: str) -> AutoloadList:
    return AutoloadList.from_dict(session.document("settings", PREFIX + name, project=project))


def save_list(session, project: str, name: str, spec: AutoloadList) -> None:
    """Store the list in the project (needs write access: members and owners)."""
    if not name.strip():
        raise ArchiveError("give the autoloader list a name")
    session.save_document("settings", PREFIX + name.strip(), spec.to_dict(), project=project)


def files_for(session, project: str, ref: str, spec: AutoloadList) -> list[tuple[AutoPattern,
                                                                                  object]]:
    """For each pattern, the first file of study ``ref`` it matches (a ``FileInfo``, or None
    when the study has none): one query lists the study's files."""
    try:
        files = session.select_files(project, "*", ref=ref)
    except NotFound:
        files = []
    out = []
    for p in spec.patterns:
        hit = next((f for f in files if matches(p.pattern, f.path)), None)
        out.append((p, hit))
    return out


def qc_tags(verdict: str | None = None, rating: int | None = None) -> list[str]:
    """The QC tags for a verdict (``"pass"``/``"fail"``) and/or a rating (1-5)."""
    tags = []
    if verdict is not None:
        if f"QC:{verdict}" not in QC_VERDICTS:
            raise ArchiveError(f"QC verdict {verdict!r}: use 'pass' or 'fail'")
        tags.append(f"QC:{verdict}")
    if rating is not None:
        if not 1 <= int(rating) <= 5:
            raise ArchiveError(f"QC rating {rating}: use 1 to 5")
        tags.append(f"{QC_RATING}{int(rating)}")
    return tags


def set_qc(session, project: str, ref: str, *, verdict: str | None = None,
           rating: int | None = None) -> list[str]:
    """Tag study ``ref`` with a QC verdict and/or rating, replacing an earlier one of the same
    kind; returns the study's tags afterwards."""
    new = qc_tags(verdict, rating)
    old = [t for t in session.tags(project, ref)
           if (verdict is not None and t in QC_VERDICTS)
           or (rating is not None and t.startswith(QC_RATING))]
    old = [t for t in old if t not in new]
    if old:
        session.tag(project, ref, old, remove=True)
    if new:
        session.tag(project, ref, new)
    return session.tags(project, ref)
