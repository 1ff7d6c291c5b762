"""Import DICOM from a folder or a zip into a project: index headers, convert each new series
with dcm2niix, place it as ``<subject>/<study>/<series folder>/`` through an import target
(the archive, see :mod:`nora_server.dicom.archive_target`).

The same pipeline serves ``nora --import``, uploads, PACS pulls and the DICOM node. A series
already in its study is skipped (nothing is added twice); new series join their existing
study; corrupt files are reported and the rest is imported; zip members that point outside
are refused.

dcm2niix starts on every file at once (on a folder while its files are listed) and runs while
the headers are indexed (it is a separate process, so the two overlap); its outputs for the
series the plan keeps are used. When the index finds something dcm2niix must not see
(unreadable or truncated files, the same instance twice) the planned series are converted
again from exactly their own files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nora_server.dicom.convert import (
    ConversionError, ConversionResult, Dcm2niixRun, convert, finish, stage_paths,
)
from nora_server.dicom.headers import Series, index_paths, walk_files
from nora_server.dicom.planning import (  # noqa: F401  (python_regex, folder_name: public)
    Planned, folder_name, format_name, label, plan_import, python_regex,
)
from nora_server.dicom.pseudonym import scrub_summary
from nora_server.dicom.settings import ProjectPolicy
from nora_server.dicom.zipsafe import extract_zip

log = logging.getLogger(__name__)


class ImportTarget(Protocol):
    """Where imported series go (implemented on the archive by ArchiveTarget)."""

    def series_in_study(self, subject: str, study: str) -> dict[str, dict]:
        """{SeriesInstanceUID: record} of the series already imported into that study (the
        ``record`` given to add_series: folder, sop_uids, summary...)."""

    def subject_for_patient(self, patient_id: str) -> str | None:
        """The subject folder already used for this real PatientID, if any."""

    def add_series(self, subject: str, study: str, items: list[tuple[Path, str, bool]], *,
                   subject_info: dict, study_info: dict, record: dict) -> None:
        """Add the files (source, study-relative path, whether the source is the import's own
        temporary file that may be moved rather than copied) all or nothing, and keep
        ``record``."""

    def file_checksums(self, subject: str, study: str, folder: str) -> dict[str, str]:
        """{study-relative path: sha256} of the files under ``folder`` of that study."""


@dataclass
class ImportOptions:
    patients_id: str | None = None       # overwrite the subject of everything imported
    studies_id: str | None = None        # overwrite the study of everything imported
    pattern: str | None = None           # regex on each series' folder: groups patients_id,
    #                                      studies_id (a zip's folders as <zip path>/<folder>)
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
        """The studies (``PID#SID``) that received new series."""
        return sorted({p.ref for p in self.imported})

    @property
    def empty(self) -> bool:
        """Nothing to import was found: no DICOM series, no extra file, no error."""
        return not (self.imported or self.skipped or self.errors or self.extras)

    def lines(self) -> list[str]:
        out = [f"imported {p.ref}/{p.folder} ({len(p.files)} files)" for p in self.imported]
        if self.empty:
            out.append("found no DICOM file")
        out += [f"skipped {s}: {why}" for s, why in self.skipped]
        out += [f"error {f}: {why}" for f, why in self.errors]
        out += [f"warning {p.ref}/{p.folder}: {w}" for p in self.imported for w in p.warnings]
        if self.extras:
            out.append(f"added {len(self.extras)} extra file(s)")
        if self.ignored:
            out.append(f"ignored {len(self.ignored)} non-DICOM file(s) "
                       "(add them with --extrafiles_filter EXT,...)")
        return out


def import_path(path, target: ImportTarget, options: ImportOptions | None = None, *,
                progress=None, workdir=None) -> ImportReport:
    """Import the DICOM under ``path`` (folder, zip, or one file) into ``target``.

    ``progress(stage, done, total)`` is called while unzipping ("unzip"), indexing headers
    ("index", per file), converting ("convert", per series) and placing ("place", per
    series). Raises FileNotFoundError for a missing ``path`` and
    :class:`~nora_server.dicom.zipsafe.UnsafeArchiveError` for a hostile or broken zip
    (before anything is imported); everything else is in the report.
    """
    options = options or ImportOptions()
    policy = options.policy
    report = ImportReport()
    tmp = Path(tempfile.mkdtemp(prefix="nora-import-", dir=workdir))
    run = None
    try:
        root, shown = _source_root(Path(path), tmp, progress)
        if root.is_dir():  # dcm2niix starts while the files are listed
            run = Dcm2niixRun(root, tmp / "nii", compress=policy.compress,
                              anonymise_sidecar=policy.pseudonymise)
        files = walk_files(root)
        if files and run is None:
            stage_paths(files, tmp / "stage")
            run = Dcm2niixRun(tmp / "stage", tmp / "nii", compress=policy.compress,
                              anonymise_sidecar=policy.pseudonymise)
        done = [0]

        def tick(k):
            done[0] += k
            if progress is not None:
                progress("index", done[0], len(files))
        index = index_paths(files, progress=tick)
        report.errors += [(str(shown(p)), why) for p, why in index.errors]
        plan, existing = plan_import(index.series.values(), target, options, report,
                                     shown=shown)
        result = None
        if plan and not index.errors and not any(p.series.duplicates for p in plan):
            result = _conversion(plan, list(index.series), run, tmp, policy, progress)
        run = _stop(run)
        if plan and result is None:
            result = _conversion(plan, [], None, tmp, policy, progress)
        if result is not None:
            _place(plan, result, target, policy, tmp, report, progress)
        _extras(index.others, plan + existing, target, options, report, shown, tmp)
    finally:
        _stop(run)
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _stop(run):
    if run is not None:
        run.cancel()
    return None


def _source_root(path: Path, tmp: Path, progress):
    """(folder to read, function showing a file or folder as the user knows it: an absolute
    path, inside a zip ``<zip path>/<member folder>``; ``--pattern`` applies to that)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    shown_root = Path(os.path.abspath(path))
    if path.is_file() and zipfile.is_zipfile(path):
        root = tmp / "unzipped"
        extract_zip(path, root, progress=(lambda d, t: progress("unzip", d, t))
                    if progress is not None else None)
        return root, lambda p: (shown_root / Path(p).relative_to(root)).as_posix()
    return path, lambda p: Path(os.path.abspath(p)).as_posix()


def _conversion(plan: list[Planned], all_uids, run, tmp: Path, policy: ProjectPolicy,
                progress) -> ConversionResult:
    """The outputs of the planned series: from the background run over every file when it
    may be trusted (``run`` given), else from a run over exactly the planned series' files."""
    uids = [p.series.uid for p in plan]
    geometry = {p.series.uid: p.series.geometry for p in plan}
    if progress is not None:
        progress("convert", 0, len(plan))
    result, again = None, plan
    if run is not None:
        try:
            result = finish(run.wait(all_uids), uids, geometry)
        except ConversionError as exc:
            log.info("dcm2niix over all files failed (%s); converting the planned series", exc)
        else:  # dcm2niix must have seen exactly our files of each series, else convert again
            again = [p for p in plan if p.series.uid not in result.series
                     or result.series[p.series.uid].instances != len(p.series.files)]
            for p in again:
                got = result.series.pop(p.series.uid, None)
                log.info("series %s: dcm2niix saw %d files, the index %d: converting again",
                         p.series.uid, got.instances if got else 0, len(p.series.files))
    if again:
        redo = convert({p.series.uid: p.series.files for p in again}, tmp / "nii-planned",
                       compress=policy.compress, anonymise_sidecar=policy.pseudonymise,
                       geometry={p.series.uid: geometry[p.series.uid] for p in again})
        if result is None:
            result = redo
        else:
            result.series.update(redo.series)
            result.warnings += redo.warnings
    for w in result.warnings:
        log.warning("dcm2niix: %s", w)
    if progress is not None:
        progress("convert", len(plan), len(plan))
    return result


def _place(plan: list[Planned], result: ConversionResult, target, policy: ProjectPolicy,
           tmp: Path, report: ImportReport, progress) -> None:
    for i, p in enumerate(plan, 1):
        try:
            _place_one(p, result, target, policy, tmp, report)
        finally:
            if progress is not None:
                progress("place", i, len(plan))


def _place_one(p: Planned, result: ConversionResult, target, policy: ProjectPolicy, tmp: Path,
               report: ImportReport) -> None:
    s = p.series
    out = result.series.get(s.uid)
    if out is None:
        report.errors.append((label(s), "dcm2niix produced no image: "
                              + "; ".join(result.warnings[-3:])))
        return
    taken = {r["folder"].lower() for r in p.known.values() if r.get("folder")}
    base = format_name(policy.series_folder, s.summary,
                       f"series{s.summary.get('SeriesNumber', 0)}")
    folder, k = base, 2
    while folder.lower() in taken:
        folder, k = f"{base}_{k}", k + 1
    stem = format_name(policy.file_stem, s.summary, "s000")
    items = [(f, f"{folder}/{stem}{f.name[len(s.uid):]}") for f in out.files]
    if policy.keep_dicom:
        items += _dicom_items(s, folder, tmp, p.subject if policy.pseudonymise else None)
    items = [(f, rel, _ours(f, tmp)) for f, rel in items]
    summary = (scrub_summary(s.summary, patient_id=p.subject) if policy.pseudonymise
               else dict(s.summary))
    record = {"SeriesInstanceUID": s.uid, "StudyInstanceUID": s.study_uid, "folder": folder,
              "instances": len(s.files), "sop_uids": sorted(s.sop_uids),
              "files": [rel for _, rel, _ in items],
              "summary": summary, "warnings": out.warnings,
              "geometry_refit": out.geometry_refit}
    try:
        target.add_series(p.subject, p.study, items, subject_info={p.subject: p.subject_info},
                          study_info={f"{p.subject}#{p.study}": p.study_info}, record=record)
    except Exception as exc:  # one series failing must not lose the others
        report.errors.append((label(s), str(exc)))
        return
    p.known[s.uid] = record
    report.imported.append(PlacedSeries(f"{p.subject}#{p.study}", folder, s.uid,
                                        record["files"], out.warnings))


def _ours(path: Path, tmp: Path) -> bool:
    """Whether ``path`` is the import's own temporary file (converted, scrubbed, unzipped),
    which the archive may move in instead of copying; a user's file is never moved."""
    return path.is_relative_to(tmp) and not path.is_symlink()


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


def _extras(others, placed: list[Planned], target, options, report, shown, tmp) -> None:
    """Non-DICOM files with a requested extension go to ``extra/`` of the study whose DICOM
    lies closest to them; a file already there with the same content is not added again."""
    exts = tuple("." + e.lower().lstrip(".") for e in options.extrafiles_filter)
    wanted = [f for f in others if exts and f.name.lower().endswith(exts)]
    report.ignored += [str(shown(f)) for f in others if f not in wanted]
    if not wanted:
        return
    placed = [p for p in placed if p.known.get(p.series.uid, {}).get("folder")]
    if not placed:
        report.errors += [(str(shown(f)), "extra file without an imported study to join")
                          for f in wanted]
        return
    by_study: dict[tuple[str, str], list] = {}
    for f in wanted:
        best = max(placed, key=lambda p: _common(f.parent, p.series.files[0].parent))
        by_study.setdefault((best.subject, best.study), []).append(f)
    for (pid, sid), files in by_study.items():
        there = target.file_checksums(pid, sid, "extra")
        items = []
        for f in files:
            base = folder_name(f.name, "file")
            rel, k = f"extra/{base}", 2
            digest = _sha256(f)
            while rel in there and there[rel] != digest:
                stem, dot, ext = base.partition(".")
                rel, k = f"extra/{stem}_{k}{dot}{ext}", k + 1
            if there.get(rel) == digest:
                report.skipped.append((str(shown(f)), f"already imported as {pid}#{sid}/{rel}"))
                continue
            there[rel] = digest
            items.append((f, rel, _ours(f, tmp)))
        if not items:
            continue
        try:
            target.add_series(pid, sid, items, subject_info={}, study_info={}, record=None)
        except Exception as exc:
            report.errors += [(str(shown(f)), str(exc)) for f, _, _ in items]
        else:
            report.extras += [rel for _, rel, _ in items]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _common(a: Path, b: Path) -> int:
    n = 0
    for x, y in zip(a.parts, b.parts):
        if x != y:
            break
        n += 1
    return n
