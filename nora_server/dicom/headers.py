"""Index DICOM headers with pydicom: group files into series, summarise each series.

Only the header is read (``stop_before_pixels``); pixel data is left to the converter. Files
that are not DICOM are returned apart (``others``), unreadable DICOM files as ``errors`` with a
reason, so an import can report them and go on with the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial

from nora_server.dicom.quickscan import (TruncatedFile, looks_like_dicom,
                                         pixel_data_present, quick_header)

log = logging.getLogger(__name__)

#: attributes copied into a series summary (the JSON metadata kept beside the NIfTI)
SUMMARY_KEYWORDS = (
    "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "PatientAge",
    "StudyInstanceUID", "StudyID", "StudyDate", "StudyTime", "StudyDescription",
    "AccessionNumber", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription",
    "SeriesDate", "SeriesTime", "Modality", "ProtocolName", "Manufacturer",
    "ManufacturerModelName", "MagneticFieldStrength", "InstitutionName", "BodyPartExamined",
    "SOPClassUID", "FrameOfReferenceUID", "SliceThickness", "PixelSpacing",
    "ImageOrientationPatient", "RepetitionTime", "EchoTime", "FlipAngle",
    "Rows", "Columns",
)
#: private or identifying attributes never copied into a pseudonymised summary
IDENTIFYING = {"PatientName", "PatientBirthDate", "InstitutionName", "AccessionNumber"}

_NO_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",   # structured reports
    "1.2.840.10008.5.1.4.1.1.11.",   # presentation states
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated PDF/CDA
    "1.2.840.10008.5.1.4.1.1.481.",  # RT plans, structures, doses
    "1.2.840.10008.5.1.4.1.1.66",    # raw data, registration, segmentation
)


@dataclass
class Series:
    """One DICOM series found on disk."""

    uid: str
    study_uid: str
    patient_id: str
    files: list[Path] = field(default_factory=list)
    sop_uids: set[str] = field(default_factory=set)
    summary: dict = field(default_factory=dict)
    #: ImagePositionPatient (LPS mm) per file, None where absent; for the geometry check
    positions: list = field(default_factory=list)
    duplicates: int = 0   # files that repeat an instance already in ``files``

    @property
    def geometry(self) -> tuple:
        """(positions, orientation) for :func:`nora_server.dicom.convert.convert`."""
        return self.positions, self.summary.get("ImageOrientationPatient")

    @property
    def has_pixels(self) -> bool:
        sop = str(self.summary.get("SOPClassUID", ""))
        return not sop.startswith(_NO_IMAGE_SOP_PREFIXES)


@dataclass
class Index:
    """Result of indexing: series by SeriesInstanceUID, non-DICOM files, unreadable files."""

    series: dict[str, Series] = field(default_factory=dict)
    others: list[Path] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)
    duplicates: int = 0

    def studies(self) -> dict[str, list[Series]]:
        out: dict[str, list[Series]] = {}
        for s in self.series.values():
            out.setdefault(s.study_uid, []).append(s)
        return out


def _value(ds, keyword):
    v = ds.get(keyword)
    if v is None:
        return None
    if isinstance(v, pydicom.multival.MultiValue):
        return [_plain(x) for x in v]
    return _plain(v)


def _plain(v):
    if isinstance(v, (int, float, str)):
        return v
    if isinstance(v, pydicom.valuerep.PersonName):
        return str(v)
    if isinstance(v, (pydicom.valuerep.DSfloat, pydicom.valuerep.DSdecimal)):
        return float(v)
    if isinstance(v, pydicom.valuerep.IS):
        return int(v)
    return str(v)


def summarise(ds) -> dict:
    """Plain-JSON summary of a header (the attributes of ``SUMMARY_KEYWORDS`` present)."""
    return {k: val for k in SUMMARY_KEYWORDS if (val := _value(ds, k)) not in (None, "")}


def read_header(path: Path):
    """Header of ``path`` without pixel data; raises InvalidDicomError for non-DICOM files and
    ValueError (with the reason) for broken DICOM."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        raise
    except Exception as exc:  # pydicom raises many kinds on truncated/garbled files
        raise ValueError(f"unreadable DICOM header: {exc}") from exc
    for kw in ("SeriesInstanceUID", "StudyInstanceUID", "SOPInstanceUID"):
        if not ds.get(kw):
            raise ValueError(f"missing {kw}")
    return ds


def index_paths(paths: Iterable[Path], *,
                progress: Callable[[int], None] | None = None) -> Index:
    """Index ``paths`` (files) into series; ``progress(n)`` is called after each file.

    The first file of each series is read in full (its summary); the others take the fast
    path of :mod:`nora_server.dicom.quickscan` where they can."""
    index = Index()
    for path in paths:
        path = Path(path)
        try:
            quick = quick_header(path)
        except TruncatedFile as exc:
            index.errors.append((path, str(exc)))
            log.warning("%s: %s", path, exc)
            quick = False
        if quick is None:
            _index_full(index, path)
        elif quick:
            series = index.series.get(quick.series_uid)
            if series is None:
                _index_full(index, path)
            else:
                _add_instance(index, series, path, quick.sop_uid, quick.position)
        if progress is not None:
            progress(1)
    for s in index.series.values():
        if s.has_pixels and not _has_pixel_tag(s.files[0]):
            s.summary.setdefault("Warnings", []).append("no pixel data")
    return index


def _index_full(index: Index, path: Path) -> None:
    if not looks_like_dicom(path):
        index.others.append(path)
        return
    try:
        ds = read_header(path)
    except InvalidDicomError:
        index.others.append(path)
    except ValueError as exc:
        index.errors.append((path, str(exc)))
        log.warning("%s: %s", path, exc)
    else:
        _add(index, path, ds)


def _has_pixel_tag(path: Path) -> bool:
    """Whether ``path`` holds pixel data; reads no further than the pixel data element (some
    files carry megabytes of trailing padding that pydicom would otherwise parse)."""
    found = pixel_data_present(path)
    if found is not None:
        return found
    seen = []

    def after_pixels(tag, vr, length) -> bool:  # trailing garbage may have any tag
        if seen:
            return True
        if int(tag) >= 0x7FE00008:
            seen.append(tag)
        return False
    try:
        with open(path, "rb") as fp:
            ds = read_partial(fp, stop_when=after_pixels, defer_size=256)
    except Exception:
        return False
    return any(t in ds for t in (0x7FE00010, 0x7FE00008, 0x7FE00009))


def _add(index: Index, path: Path, ds) -> None:
    uid = str(ds.SeriesInstanceUID)
    s = index.series.get(uid)
    if s is None:
        s = index.series[uid] = Series(uid=uid, study_uid=str(ds.StudyInstanceUID),
                                       patient_id=str(ds.get("PatientID", "") or ""),
                                       summary=summarise(ds))
    ipp = ds.get("ImagePositionPatient")
    _add_instance(index, s, path, str(ds.SOPInstanceUID),
                  tuple(float(v) for v in ipp) if ipp is not None and len(ipp) == 3 else None)


def _add_instance(index: Index, s: Series, path: Path, sop: str, position) -> None:
    if sop in s.sop_uids:  # the same instance twice (copied file): convert it once
        index.duplicates += 1
        s.duplicates += 1
        return
    s.sop_uids.add(sop)
    s.files.append(path)
    s.positions.append(position)


def walk_files(root: Path, *, skip_hidden: bool = True) -> list[Path]:
    """Every regular file below ``root`` (sorted, hidden files and folders skipped)."""
    root = Path(root)
    if root.is_file():
        return [root]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        if skip_hidden:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        dirnames.sort()
        for name in sorted(filenames):
            if skip_hidden and name.startswith("."):
                continue
            p = Path(dirpath) / name
            if p.is_file():
                out.append(p)
    return out


def index_folder(root: Path, **kwargs) -> Index:
    """Index every file below ``root`` (see :func:`index_paths`)."""
    return index_paths(walk_files(root), **kwargs)
