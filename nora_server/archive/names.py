"""Names that become folders, and file kinds.

Project names, pseudonyms and study keys are single folder names; a file's path is relative to
its study folder (``<series folder>/<file>``). Reserved: names starting with ``.nora-`` (the
archive's temporary files) and anything with ``..``, ``#``, a backslash or a control character.
"""

from __future__ import annotations

import re

from nora_server.archive.errors import ArchiveError

_SEGMENT = re.compile(r"^[^/\\#\x00-\x1f*%?]+$")
RESERVED_PREFIX = ".nora-"

KINDS = {  # by last suffix; ".nii.gz" is handled in file_kind
    ".nii": "nifti", ".hdr": "nifti", ".img": "nifti",
    ".mgz": "mgh", ".mgh": "mgh", ".gii": "gifti", ".tck": "tck", ".trk": "trk",
    ".stl": "stl", ".json": "json", ".nrrd": "nrrd", ".nhdr": "nrrd", ".dcm": "dicom",
    ".csv": "csv", ".txt": "text", ".bval": "bval", ".bvec": "bvec",
}


def file_kind(name: str) -> str:
    """``"nifti"``, ``"mgh"``, ``"gifti"``, ``"json"``... from the file name, else ``"other"``."""
    low = name.lower()
    ext = low[low.rfind("."):] if "." in low else ""
    if ext == ".gz" and low.endswith(".nii.gz"):
        return "nifti"
    return KINDS.get(ext, "other")


def check_segment(name: str, what: str) -> str:
    """Return ``name`` if it is usable as one folder/file name, else raise ArchiveError."""
    if (not name or len(name) > 128 or not _SEGMENT.match(name) or name in (".", "..")
            or name.startswith(RESERVED_PREFIX) or name != name.strip()):
        raise ArchiveError(
            f"{what} {name!r} is not usable as a folder name: use letters, digits, '-', '_', '.' "
            "(no '/', '#', '*', '%', '?', no leading/trailing space, at most 128 characters)")
    return name


def check_relpath(path: str) -> str:
    """Normalise a study-relative file path (``series/file``) or raise ArchiveError."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or len("/".join(parts)) > 512:
        raise ArchiveError(f"file path {path!r} is empty or longer than 512 characters")
    for p in parts:
        check_segment(p, "path component")
    return "/".join(parts)


def split_ref(ref: str) -> tuple[str, str | None]:
    """``"PID#SID"`` -> ``("PID", "SID")``; ``"PID"`` or ``"PID#"`` -> ``("PID", None)``."""
    pid, _, sid = ref.partition("#")
    return pid, (sid or None)
