"""One registry of the formats napari-nora reads.

Each format names its suffixes, a cheap sniff (a few bytes, never a full read) and the module
holding ``read(path) -> list[LayerData]``. ``get_reader`` never raises; the reader raises
:class:`NoraReadError` naming the file and what is wrong.
"""

from __future__ import annotations

import importlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


class NoraReadError(ValueError):
    """A file could not be read; the message names the file and the reason."""


def _head(path, n=512) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _sniff_nifti(path) -> bool:
    p = str(path).lower()
    if p.endswith(".gz"):
        return _head(path, 2) == b"\x1f\x8b"
    if p.endswith(".img"):
        return Path(str(path)[:-4] + ".hdr").exists() or Path(str(path)[:-4] + ".HDR").exists()
    h = _head(path, 348)
    if len(h) < 348:
        return False
    sizeof = int.from_bytes(h[:4], "little"), int.from_bytes(h[:4], "big")
    return 348 in sizeof or 540 in sizeof


def _sniff_dicom_file(path) -> bool:
    h = _head(path, 132)
    if len(h) >= 132 and h[128:132] == b"DICM":
        return True
    # files without preamble: group 0x0008 or 0x0002 first, little endian
    return len(h) >= 4 and h[:2] in (b"\x08\x00", b"\x02\x00")


def _sniff_dicom_zip(path) -> bool:
    return zipfile.is_zipfile(path)


def _sniff_gz(path) -> bool:
    return _head(path, 2) == b"\x1f\x8b"


def _sniff_any(path) -> bool:
    return Path(path).is_file()


def _sniff_nrrd(path) -> bool:
    return _head(path, 4) == b"NRRD"


def _sniff_gifti(path) -> bool:
    h = _head(path, 1024)
    return b"<GIFTI" in h or b"<?xml" in h


def _sniff_stl(path) -> bool:
    return Path(path).stat().st_size >= 84 or _head(path, 5).lower() == b"solid"


def _folder_has_dicom(folder: Path, limit: int = 64) -> bool:
    import os

    seen = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            seen += 1
            try:
                if _sniff_dicom_file(os.path.join(root, name)):
                    return True
            except OSError:
                pass
            if seen >= limit:
                return False
    return False


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    sniff: Callable[[str], bool]
    module: str  # napari_nora.readers.<module>.read

    def reader(self) -> Callable:
        return importlib.import_module(f"napari_nora.readers.{self.module}").read


FORMATS: tuple[Format, ...] = (
    Format("NIfTI", (".nii", ".nii.gz", ".hdr", ".img"), _sniff_nifti, "nifti"),
    Format("MGH", (".mgh", ".mgz"), _sniff_any, "mgh"),
    Format("NRRD", (".nrrd", ".nhdr"), _sniff_nrrd, "nrrd"),
    Format("GIFTI", (".gii",), _sniff_gifti, "gifti"),
    Format("STL", (".stl",), _sniff_stl, "stl"),
    Format("DICOM zip", (".zip",), _sniff_dicom_zip, "dicom"),
    Format("DICOM", (".dcm", ".ima", ""), _sniff_dicom_file, "dicom"),
)


def format_for(path) -> Format | None:
    """The format of ``path`` from its suffix and a cheap sniff, or None."""
    p = Path(path)
    if p.is_dir():  # a folder is read as DICOM when a DICOM file is among its first files
        return FORMATS[-1] if _folder_has_dicom(p) else None
    if not p.is_file():
        return None
    low = p.name.lower()
    try:
        for fmt in FORMATS:
            for suf in fmt.suffixes:
                if suf and low.endswith(suf):
                    return fmt if fmt.sniff(str(p)) else None
        # no known suffix: DICOM files often have none, or a number
        dicom = FORMATS[-1]
        return dicom if dicom.sniff(str(p)) else None
    except OSError:
        return None
