"""Upload local files into a project: into one chosen study, or by the data's own IDs
("native PID", NORA's "Upload local files with native PID").

* DICOM (a zip, a folder holding DICOM, single ``.dcm`` files) goes through the import
  pipeline (:func:`nora_server.dicom.api.import_into_project`): converted with dcm2niix under
  the project's DICOM policy; native IDs are the headers' PatientID and study.
  Native IDs of other files get the importer's subject too (pseudonyms, identity kept or not).
* Other files the archive knows (NIfTI, MGH, GIFTI, NRRD, JSON, ...) are copied with
  :meth:`ArchiveSession.add_files`, one series folder at a time (each all or nothing). Their
  native IDs come from a JSON sidecar beside them (``PatientID``, ``StudyDate``... as dcm2niix
  or a scanner export writes them) or from a BIDS-like path (``sub-01/ses-2/anat/x.nii.gz``).

>>> items = scan([Path("/data/t1_mprage")])                                 # doctest: +SKIP
>>> upload(session, "demo", items, ref="P001#S1", progress=print)          # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from nora_server.archive.errors import ArchiveError
from nora_server.archive.files import AddItem
from nora_server.archive.names import file_kind, split_ref
from nora_server.dicom.quickscan import looks_like_dicom

_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})")
_BIDS = re.compile(r"^(sub|ses)-([A-Za-z0-9]+)$")


@dataclass
class UploadItem:
    """One thing to upload: a DICOM source (imported), or a file at ``rel`` in its study."""

    source: Path
    kind: str  # "dicom" | "file"
    rel: str = ""  # study-relative path of a file ("<series folder>/<name>")
    native: dict = field(default_factory=dict)  # IDs found in the data (files only)


@dataclass
class UploadReport:
    added: list[str] = field(default_factory=list)  # "PID#SID/path"
    imported: list[str] = field(default_factory=list)  # lines of the DICOM import reports
    errors: list[str] = field(default_factory=list)

    @property
    def refs(self) -> list[str]:
        return sorted({a.partition("/")[0] for a in self.added})

    def lines(self) -> list[str]:
        return ([f"added {a}" for a in self.added] + self.imported
                + [f"error {e}" for e in self.errors])


def _holds_dicom(folder: Path, limit: int = 200) -> bool:
    for n, p in enumerate(q for q in folder.rglob("*") if q.is_file()):
        if n >= limit:
            return False
        if looks_like_dicom(p):
            return True
    return False


def scan(paths, *, series: str = "upload") -> list[UploadItem]:
    """What dropping ``paths`` uploads. A file keeps its own folder's name as series folder
    when it came inside a dropped folder; single files go to ``series``, with their JSON
    sidecar (which takes the image's IDs)."""
    items: list[UploadItem] = []
    for p in map(Path, paths):
        if not p.exists():
            raise ArchiveError(f"cannot upload {p}: no such file or folder")
        if p.is_file() and (zipfile.is_zipfile(p) or looks_like_dicom(p)):
            items.append(UploadItem(p, "dicom"))
        elif p.is_file():
            items.append(_file_item(p, f"{series}/{p.name}", p.parent))
            side = _sidecar_path(p)
            if side is not None and side.is_file():
                items.append(_file_item(side, f"{series}/{side.name}", p.parent))
        elif _holds_dicom(p):
            items.append(UploadItem(p, "dicom"))
        else:
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                if any(part.startswith(".") for part in f.relative_to(p).parts):
                    continue
                rel = f.relative_to(p.parent)  # the dropped folder's name is the series
                parts = [s for s in rel.parts if not _BIDS.match(s)]
                items.append(_file_item(f, "/".join(parts), p.parent))
    unique = list({i.source.resolve(): i for i in items}.values())
    by_path = {i.source.resolve(): i for i in unique}
    for i in unique:  # a sidecar goes where its image goes
        for image in _images_of(i.source):
            if image.resolve() in by_path and not i.native:
                i.native = by_path[image.resolve()].native
    return unique


def _images_of(path: Path) -> list[Path]:
    if path.suffix.lower() != ".json":
        return []
    stem = path.name[:-5]
    return [path.with_name(stem + ext) for ext in (".nii.gz", ".nii", ".mgz", ".nrrd")]


def _sidecar_path(path: Path) -> Path | None:
    if path.suffix.lower() == ".json":
        return None
    stem = path.name[:-7] if path.name.lower().endswith(".nii.gz") else path.stem
    return path.with_name(stem + ".json")


def _file_item(path: Path, rel: str, root: Path) -> UploadItem:
    return UploadItem(path, "file", rel, native_ids(path, root))


def native_ids(path: Path, root: Path | None = None) -> dict:
    """IDs a file carries: its JSON sidecar's DICOM-style keys, else BIDS ``sub-``/``ses-``
    folders (below ``root``). Keys: patient_id, patient (the sidecar's PatientName,
    PatientBirthDate, PatientSex), study, study_info."""
    out: dict = {}
    sidecar = _sidecar(path)
    if sidecar:
        pid = sidecar.get("PatientID")
        if pid:
            out["patient_id"] = str(pid)
            birth = _iso(sidecar.get("PatientBirthDate"))
            out["patient"] = {k: v for k, v in {
                "PatientName": sidecar.get("PatientName"),
                "PatientBirthDate": birth.replace("-", "") if birth else None,
                "PatientSex": sidecar.get("PatientSex")}.items() if v}
        date = _iso(sidecar.get("StudyDate") or sidecar.get("AcquisitionDateTime"))
        time = re.sub(r"\D", "", str(sidecar.get("StudyTime") or ""))[:6]
        if date:
            out["study"] = date.replace("-", "") + time
        out["study_info"] = {k: v for k, v in {
            "study_date": date, "description": sidecar.get("StudyDescription"),
            "modality": sidecar.get("Modality")}.items() if v}
    parts = path.relative_to(root).parts if root and path.is_relative_to(root) else path.parts
    for part in parts[:-1]:
        m = _BIDS.match(part)
        if m and m.group(1) == "sub":
            out.setdefault("patient_id", m.group(2))
        elif m:
            out.setdefault("study", m.group(2))
    return out


def _sidecar(path: Path) -> dict | None:
    side = _sidecar_path(path)
    if side is None or not side.is_file():
        return None
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None
    return data if isinstance(data, dict) else None


def _iso(value) -> str | None:
    m = _DATE.match(str(value or ""))
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def upload(session, project: str, items: list[UploadItem], *, ref: str | None = None,
           settings=None, overwrite: bool = False, progress=None) -> UploadReport:
    """Upload ``items`` into study ``ref`` (``PID#SID``), or by native IDs when ``ref`` is None.

    ``settings``: the site settings (``[dicom]`` policies for DICOM); ``progress(done, total,
    text)`` is called as the work goes on. A failing series folder or DICOM source is reported
    in ``UploadReport.errors`` and the others still go in.
    """
    from nora_server.dicom.api import dicom_settings
    from nora_server.dicom.archive_target import ArchiveTarget
    from nora_server.dicom.planning import subject_info

    session.role(project)
    if ref is not None and split_ref(ref)[1] is None:
        raise ArchiveError(f"upload target {ref!r} is a subject: select a study (PID#SID)")
    target = ArchiveTarget(session, project)
    report = UploadReport()
    policy = dicom_settings(settings).policy(project) if ref is None else None
    groups, total = _groups(items, ref, target, policy, report), len(items)
    done = len(report.errors)  # refused items count as done

    def tick(n, text):
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total, text)

    for item in (i for i in items if i.kind == "dicom"):
        _import_dicom(session, project, item, ref, settings, report, tick)
    for (study_ref, series), group in groups.items():
        native = ref is None  # a chosen study keeps its own patient and study fields
        subject = {}
        for i in group if native else ():
            if "patient" in i.native:  # a sidecar's PatientID: the importer's subject row
                subject.update(subject_info(i.native["patient"], i.native["patient_id"], policy))
        study_info = _merged(group, "study_info") if native else {}
        try:
            infos = session.add_files(
                project, [AddItem(i.source, study_ref, i.rel) for i in group],
                overwrite=overwrite,
                subject_info={split_ref(study_ref)[0]: subject} if subject else None,
                study_info={study_ref: study_info} if study_info else None)
        except (ArchiveError, OSError) as exc:
            report.errors.append(f"{study_ref}/{series}: {exc}")
        else:
            report.added += [f"{f.ref}/{f.path}" for f in infos]
        tick(len(group), f"{study_ref}/{series}")
    return report


def _groups(items, ref, target, policy, report) -> dict:
    groups: dict[tuple[str, str], list[UploadItem]] = {}
    subjects: dict[str, str] = {}  # real PatientID -> subject, within this upload
    for item in (i for i in items if i.kind == "file"):
        if file_kind(item.source.name) == "other":
            report.errors.append(f"{item.source}: not a file type the archive keeps "
                                 "(NIfTI, MGH, GIFTI, NRRD, TCK/TRK, STL, JSON, ...)")
            continue
        study_ref = ref or _native_ref(item, target, policy, subjects)
        if study_ref is None:
            report.errors.append(f"{item.source}: no native IDs (no JSON sidecar with "
                                 "PatientID, no sub-/ses- folders): select a target study")
            continue
        groups.setdefault((study_ref, item.rel.rpartition("/")[0]), []).append(item)
    return groups


def _native_ref(item: UploadItem, target, policy, subjects: dict) -> str | None:
    """The study of ``item`` by its native IDs: the patient's existing subject, else the one
    the DICOM importer would give (``subjects`` remembers it per patient: a random pseudonym
    stays the same across the patient's files)."""
    from nora_server.dicom.planning import folder_name, subject_for

    pid = item.native.get("patient_id")
    if not pid:
        return None
    if pid not in subjects:
        subjects[pid] = target.subject_for_patient(pid) or folder_name(
            subject_for(pid, target, policy), "unknown")
    return f"{subjects[pid]}#{folder_name(item.native.get('study') or 'S1', 'S1')}"


def _merged(group, key: str) -> dict:
    merged: dict = {}
    for i in group:
        merged.update(i.native.get(key) or {})
    return merged


def _import_dicom(session, project, item, ref, settings, report, tick) -> None:
    from nora_server.dicom.api import import_into_project

    pid, sid = split_ref(ref) if ref else (None, None)

    def step(stage, done, total):
        what = "indexing" if stage == "index" else "converting and placing"
        tick(0, f"{item.source.name}: {what} {done}/{total}")

    try:
        result = import_into_project(session, project, item.source, settings=settings,
                                     patients_id=pid, studies_id=sid, progress=step)
    except Exception as exc:  # noqa: BLE001 - one source failing must not stop the others
        report.errors.append(f"{item.source}: {exc}")
    else:
        report.imported += result.lines()
        report.added += [f"{p.ref}/{f}" for p in result.imported for f in p.files]
        report.errors += [f"{f}: {why}" for f, why in result.errors]
    tick(1, item.source.name)
