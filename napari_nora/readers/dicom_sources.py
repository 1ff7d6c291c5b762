"""Where DICOM files come from: one file, a folder (recursively) or the members of a ``.zip``.

A :class:`Source` names one file for the user (a path, or ``archive.zip!member``) and opens it
twice: once for its header (``stop_before_pixels``), once for its pixels. Zip members are read
in memory, never extracted; a member whose name could escape a folder (absolute, a drive, or a
``..`` part) makes the whole archive refused, as an extracting tool would be exposed to it.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

import pydicom
from pydicom import uid
from pydicom.errors import InvalidDicomError

from napari_nora.readers.registry import NoraReadError


@dataclass(frozen=True)
class Source:
    """One DICOM file on disk (``path``) or in an open zip archive (``zf`` + ``member``)."""

    name: str
    path: str | None = None
    zf: zipfile.ZipFile | None = None
    member: str | None = None

    def _dcmread(self, stop_before_pixels: bool, force: bool = False) -> pydicom.Dataset:
        if self.path is not None:
            return pydicom.dcmread(self.path, stop_before_pixels=stop_before_pixels, force=force)
        # pixels: the whole member in memory; header: stream it, stopping at the pixel data
        f = (io.BytesIO(self.zf.read(self.member)) if not stop_before_pixels
             else self.zf.open(self.member))
        with f:
            return pydicom.dcmread(f, stop_before_pixels=stop_before_pixels, force=force)

    def head(self, n: int = 132) -> bytes:
        if self.path is not None:
            with open(self.path, "rb") as f:
                return f.read(n)
        with self.zf.open(self.member) as f:
            return f.read(n)

    def read(self, *, stop_before_pixels: bool) -> pydicom.Dataset:
        """Parse the file; files without the 128-byte preamble are accepted when they start
        with a group 0x0002 or 0x0008 element (as written by some older systems).

        Raises
        ------
        InvalidDicomError, OSError, ...
            When the file is not DICOM or cannot be parsed.
        """
        try:
            return self._dcmread(stop_before_pixels)
        except InvalidDicomError:
            if self.head(2) not in (b"\x08\x00", b"\x02\x00"):
                raise
            ds = self._dcmread(stop_before_pixels, force=True)
            if "TransferSyntaxUID" not in ds.file_meta:  # say how it was read, for decoding
                implicit, little = ds.original_encoding
                ds.file_meta.TransferSyntaxUID = (
                    uid.ImplicitVRLittleEndian if implicit else
                    uid.ExplicitVRLittleEndian if little else uid.ExplicitVRBigEndian)
            return ds


def unsafe_member(name: str) -> bool:
    """True when a zip member name is absolute, has a drive, or climbs out with ``..``."""
    norm = name.replace("\\", "/")
    p = PurePosixPath(norm)
    return p.is_absolute() or ".." in p.parts or (len(norm) > 1 and norm[1] == ":")


def folder_sources(folder) -> list[Source]:
    """Every file under ``folder`` (recursively, in a stable order), hidden files excepted."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                p = os.path.join(root, name)
                out.append(Source(name=p, path=p))
    return out


def zip_sources(zf: zipfile.ZipFile, zip_path) -> list[Source]:
    """Every file member of an open zip archive.

    Raises
    ------
    NoraReadError
        When a member name is unsafe (path traversal); nothing of the archive is read then.
    """
    infos = [i for i in zf.infolist() if not i.is_dir()]
    bad = [i.filename for i in infos if unsafe_member(i.filename)]
    if bad:
        raise NoraReadError(f"{zip_path}: refused: member names leave the archive folder "
                            f"(path traversal): {', '.join(bad[:5])}")
    return [Source(name=f"{zip_path}!{i.filename}", zf=zf, member=i.filename)
            for i in sorted(infos, key=lambda i: i.filename)
            if not PurePosixPath(i.filename).name.startswith(".")
            and not i.filename.startswith("__MACOSX/")]
