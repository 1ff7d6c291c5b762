"""Extract an uploaded zip safely: refuse path traversal (zip-slip), absolute names, links,
and archives that would expand beyond a size limit (zip bombs)."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath


class UnsafeArchiveError(ValueError):
    """The zip holds a member that would land outside the target folder, or is too large."""


def safe_member_path(name: str) -> PurePosixPath:
    """Relative path of a member, or UnsafeArchiveError for absolute/drive/``..`` names."""
    norm = name.replace("\\", "/")
    p = PurePosixPath(norm)
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or ".." in p.parts:
        raise UnsafeArchiveError(f"refusing zip member {name!r}: it points outside the folder")
    return PurePosixPath(*[part for part in p.parts if part not in ("", ".")])


def extract_zip(zip_path: Path, target: Path, *, max_bytes: int = 64 * 2**30,
                progress=None) -> list[Path]:
    """Extract ``zip_path`` into ``target``; returns the extracted files.

    Every member is checked before anything is written, so a hostile archive leaves nothing
    behind. Symbolic links inside the zip are refused. ``progress(done, total)`` is called
    after each member.
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise UnsafeArchiveError(f"{zip_path} is not a readable zip file: {exc}") from exc
    with zf:
        plan = []
        total = 0
        for info in zf.infolist():
            rel = safe_member_path(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchiveError(f"refusing zip member {info.filename!r}: symbolic link")
            dest = (root / rel).resolve()
            if dest != root and root not in dest.parents:
                raise UnsafeArchiveError(f"refusing zip member {info.filename!r}: outside folder")
            total += info.file_size
            if total > max_bytes:
                raise UnsafeArchiveError(f"{zip_path} expands beyond {max_bytes} bytes")
            plan.append((info, dest))
        out = []
        for n, (info, dest) in enumerate(plan, 1):
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                out.append(dest)
            if progress is not None:
                progress(n, len(plan))
    return out
