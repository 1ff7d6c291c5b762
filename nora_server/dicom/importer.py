"""Import DICOM from a folder or a zip into a project: index headers, convert each new series
with dcm2niix, place it as ``<subject>/<study>/<series folder>/`` through an import target
(the archive, see :mod:`nora_server.dicom.archive_target`).

The same pipeline serves ``nora --import``, uploads and the DICOM node. A series already in
its study is skipped (nothing is added twice); new series join their existing study; corrupt
files are reported and the rest is imported; zip members that point outside are refused.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nora_server.dicom.convert import convert
from nora_server.dicom.headers import Series, index_paths, walk_files
from nora_server.dicom.pseudonym import pseudonym, scrub_summary
from nora_server.dicom.settings import ProjectPolicy
from nora_server.dicom.zipsafe import extract_zip

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


class ImportTarget(Protocol):
    """Where imported series go (implemented on the archive by ArchiveTarget)."""

    def series_in_study(self, subject: str, study: str) -> dict[str, dict]:
        """{SeriesInstanceUID: record} of the series already imported into that study (the
        ``record`` given to add_series: folder, sop_uids, summary...)."""

    def subject_for_patient(self, patient_id: str) -> str | None:
        """The subject folder already used for this real PatientID, if any."""

    def add_series(self, subject: str, study: str, items: list[tuple[Path, str]], *,
                   subject_info: dict, study_info: dict, record: dict) -> None:
        """Add the files (source, study-relative path) all or nothing, and keep ``record``."""


@dataclass
class ImportOptions:
    patients_id: str | None = None       # overwrite the subject of everything imported
    studies_id: str | None = None        # overwrite the study of everything imported
    pattern: str | None = None           # regex on each file's folder, groups patients_id/studies_id
    extrafiles_filter: tuple[str, ...] = ()   # extensions of non-DICOM files to add too
    policy: ProjectPolicy = field(default_factory=ProjectPolicy)


@dataclass
class PlacedSeries:
    ref: str
    folder: str
    series_uid: str
    files: list[str]
    warnings: list[str]


@dataclass
class ImportReport:
    imported: list[PlacedSeries] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)    # (series, reason)
    errors: list[tuple[str, str]] = field(default_factory=list)     # (file or series, reason)
    extras: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)                # non-DICOM, not requested

    @property
    def refs(self) -> list[str]:
        return sorted({p.ref for p in self.imported})

    def lines(self) -> list[str]:
        out = [f"imported {p.ref}/{p.folder} ({len(p.files)} files)" for p in self.imported]
        out += [f"skipped {s}: {why}" for s, why in self.skipped]
        out += [f"error {f}: {why}" for f, why in self.errors]
        out += [f"warning {p.ref}/{p.folder}: {w}" for p in self.imported for w in p.warnings]
        if self.extras:
            out.append(f"added {len(self.extras)} extra file(s)")
        if self.ignored:
            out.append(f"ignored {len(self.ignored)} non-DICOM file(s) "
                       "(add them with --extrafiles_filter EXT,...)")
        return out


def python_regex(pattern: str) -> re.Pattern:
    """Compile NORA's ``--pattern`` (PCRE ``(?<name>...)`` groups are accepted)."""
    return re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern))


def folder_name(text: str, fallback: str) -> str:
    """A usable single folder/file name from header text."""
    name = _UNSAFE.sub("_", str(text)).strip("._")[:64]
    return name or fallback


def _fmt(template: str, summary: dict, fallback: str) -> str:
    values = {k: v for k, v in summary.items()}
    for k in ("SeriesNumber",):
        values.setdefault(k, 0)
    values.setdefault("StudyTime", "")
    if values["StudyTime"]:
        values["StudyTime"] = str(values["StudyTime"]).split(".")[0][:6]
    try:
        return folder_name(template.format_map(_Default(values)), fallback)
    except (ValueError, TypeError):
        return fallback


class _Default(dict):
    def __missing__(self, key):
        return ""


def import_path(path, target: ImportTarget, options: ImportOptions | None = None, *,
                progress=None, workdir=None) -> ImportReport:
    """Import the DICOM under ``path`` (folder, zip, or one file) into ``target``.

    ``progress(stage, done, total)`` is called while indexing ("index") and placing ("place").
    """
    options = options or ImportOptions()
    report = ImportReport()
    tmp = Path(tempfile.mkdtemp(prefix="nora-import-", dir=workdir))
    try:
        root = _source_root(Path(path), tmp)
        files = walk_files(root)
        n = len(files)
        done = [0]

        def tick(k):
            done[0] += k
            if progress is not None:
                progress("index", done[0], n)
        index = index_paths(files, progress=tick)
        report.errors += [(str(p), why) for p, why in index.errors]
        plan = _plan(index.series.values(), target, options, root, report)
        _convert_and_place(plan, target, options, tmp, report, progress)
        _extras(index.others, plan, target, options, report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _source_root(path: Path, tmp: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_file() and zipfile.is_zipfile(path):
        extract_zip(path, tmp / "unzipped")
        return tmp / "unzipped"
    return path


@dataclass
class _Planned:
    series: Series
    subject: str
    study: str
    subject_info: dict
    study_info: dict
    known: dict  # {series uid: record} of the study, shared by the series planned into it


def _plan(all_series, target, options, root: Path, report) -> list[_Planned]:
    policy = options.policy
    regex = python_regex(options.pattern) if options.pattern else None
    known: dict[tuple[str, str], dict[str, dict]] = {}
    subjects: dict[str, str] = {}
    plan = []
    for s in sorted(all_series, key=lambda s: (s.patient_id, s.study_uid,
                                               s.summary.get("SeriesNumber", 0))):
        label = f"{s.summary.get('SeriesDescription', '')} ({s.uid})"
        if not s.has_pixels or "no pixel data" in s.summary.get("Warnings", []):
            report.skipped.append((label, "no image data (report, presentation state, ...)"))
            continue
        groups = {}
        if regex is not None:
            m = regex.search(s.files[0].parent.as_posix())
            if m is None:
                report.skipped.append((label, f"--pattern does not match {s.files[0].parent}"))
                continue
            groups = {k: v for k, v in m.groupdict().items() if v}
        real_pid = s.patient_id or "unknown"
        pid = options.patients_id or groups.get("patients_id")
        if pid is None:
            if real_pid not in subjects:
                subjects[real_pid] = _subject_for(real_pid, target, policy)
            pid = subjects[real_pid]
        pid = folder_name(pid, "unknown")
        sid = options.studies_id or groups.get("studies_id") or _fmt(
            policy.study_key, s.summary, "S" + s.study_uid.replace(".", "")[-10:])
        sid = folder_name(sid, "study")
        key = (pid, sid)
        if key not in known:
            known[key] = dict(target.series_in_study(pid, sid))
        if s.uid in known[key]:
            record = known[key][s.uid]
            late = s.sop_uids - set(record.get("sop_uids", s.sop_uids))
            if late:  # never silently: the caller (the node) keeps them for an admin
                report.errors.append((label, f"{len(late)} instance(s) arrived after the series "
                                      f"was imported as {pid}#{sid}/{record.get('folder')}; "
                                      "delete that series and import all its files again"))
            else:
                report.skipped.append((label, f"already imported as {pid}#{sid}/"
                                       f"{record.get('folder')}"))
            continue
        known[key][s.uid] = {}  # the same series twice in one import: once
        plan.append(_Planned(s, pid, sid, _subject_info(s, real_pid, policy),
                             _study_info(s.summary), known[key]))
    return plan


def _subject_for(real_pid: str, target, policy: ProjectPolicy) -> str:
    if not policy.pseudonymise:
        return real_pid
    existing = target.subject_for_patient(real_pid)
    if existing:
        return existing
    if policy.pseudonym_key:
        return pseudonym(real_pid, key=policy.pseudonym_key, prefix=policy.pseudonym_prefix)
    return f"{policy.pseudonym_prefix}{secrets.token_hex(5).upper()}"


def _iso(d) -> str | None:
    d = str(d or "")
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}" if re.fullmatch(r"\d{8}", d) else None


def _subject_info(s: Series, real_pid: str, policy: ProjectPolicy) -> dict:
    info = {"patient_id": real_pid, "sex": s.summary.get("PatientSex")}
    if not policy.pseudonymise:
        info["patient_name"] = s.summary.get("PatientName")
        info["birth_date"] = _iso(s.summary.get("PatientBirthDate"))
    return {k: v for k, v in info.items() if v}


def _study_info(summary: dict) -> dict:
    info = {"study_date": _iso(summary.get("StudyDate")),
            "description": summary.get("StudyDescription"), "modality": summary.get("Modality")}
    return {k: v for k, v in info.items() if v}


def _convert_and_place(plan, target, options, tmp: Path, report, progress) -> None:
    if not plan:
        return
    policy = options.policy
    result = convert({p.series.uid: p.series.files for p in plan}, tmp / "nii",
                     compress=policy.compress, anonymise_sidecar=policy.pseudonymise,
                     geometry={p.series.uid: p.series.geometry for p in plan})
    for w in result.warnings:
        log.warning("dcm2niix: %s", w)
    for i, p in enumerate(plan, 1):
        s = p.series
        label = f"{s.summary.get('SeriesDescription', '')} ({s.uid})"
        out = result.series.get(s.uid)
        if out is None:
            report.errors.append((label, "dcm2niix produced no image: "
                                  + "; ".join(result.warnings[-3:])))
            continue
        known = p.known
        taken = {r["folder"].lower() for r in known.values() if r.get("folder")}
        base = _fmt(policy.series_folder, s.summary, f"series{s.summary.get('SeriesNumber', 0)}")
        folder, k = base, 2
        while folder.lower() in taken:
            folder, k = f"{base}_{k}", k + 1
        stem = _fmt(policy.file_stem, s.summary, "s000")
        items = [(f, f"{folder}/{stem}{f.name[len(s.uid):]}") for f in out.files]
        if policy.keep_dicom:
            items += _dicom_items(s, folder, tmp, p.subject if policy.pseudonymise else None)
        summary = (scrub_summary(s.summary, patient_id=p.subject) if policy.pseudonymise
                   else dict(s.summary))
        record = {"SeriesInstanceUID": s.uid, "StudyInstanceUID": s.study_uid, "folder": folder,
                  "instances": len(s.files), "sop_uids": sorted(s.sop_uids),
                  "files": [rel for _, rel in items],
                  "summary": summary, "warnings": out.warnings,
                  "geometry_refit": out.geometry_refit}
        try:
            target.add_series(p.subject, p.study, items, subject_info={p.subject: p.subject_info},
                              study_info={f"{p.subject}#{p.study}": p.study_info}, record=record)
        except Exception as exc:  # one series failing must not lose the others
            report.errors.append((label, str(exc)))
            continue
        known[s.uid] = record
        report.imported.append(PlacedSeries(f"{p.subject}#{p.study}", folder, s.uid,
                                            record["files"], out.warnings))
        if progress is not None:
            progress("place", i, len(plan))


def _dicom_items(s: Series, folder: str, tmp: Path, pseudo: str | None):
    if pseudo is None:
        return [(f, f"{folder}/dicom/{n:05d}.dcm") for n, f in enumerate(s.files)]
    import pydicom

    from nora_server.dicom.pseudonym import scrub_dataset
    out_dir = tmp / "scrubbed" / s.uid
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for n, f in enumerate(s.files):
        ds = pydicom.dcmread(f)
        scrub_dataset(ds, patient_id=pseudo)
        dst = out_dir / f"{n:05d}.dcm"
        ds.save_as(dst)
        items.append((dst, f"{folder}/dicom/{n:05d}.dcm"))
    return items


def _extras(others, plan, target, options, report) -> None:
    exts = tuple("." + e.lower().lstrip(".") for e in options.extrafiles_filter)
    wanted = [f for f in others if exts and f.name.lower().endswith(exts)]
    report.ignored += [str(f) for f in others if f not in wanted]
    if not wanted:
        return
    placed = [p for p in plan if any(s.series_uid == p.series.uid for s in report.imported)]
    if not placed:
        report.errors += [(str(f), "extra file without an imported study to join")
                          for f in wanted]
        return
    by_study: dict[tuple[str, str], list] = {}
    for f in wanted:  # the study whose DICOM lies closest to the file
        best = max(placed, key=lambda p: _common(f.parent, p.series.files[0].parent))
        by_study.setdefault((best.subject, best.study), []).append(f)
    for (pid, sid), files in by_study.items():
        items = [(f, f"extra/{folder_name(f.name, 'file')}") for f in files]
        try:
            target.add_series(pid, sid, items, subject_info={}, study_info={}, record=None)
        except Exception as exc:
            report.errors += [(str(f), str(exc)) for f in files]
        else:
            report.extras += [rel for _, rel in items]


def _common(a: Path, b: Path) -> int:
    n = 0
    for x, y in zip(a.parts, b.parts):
        if x != y:
            break
        n += 1
    return n
