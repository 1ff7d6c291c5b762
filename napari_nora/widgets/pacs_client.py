"""The PACS query tool's logic, without Qt: C-FIND of patients/studies and series, masked
identities, and "pull selected" (retrieve, then import into a project).

Retrieval follows the node's ``retrieve`` setting in nora.toml (``[pacs.<name>]``):

* ``get``: C-GET on one association into a temporary folder, then the import pipeline;
* ``move``: C-MOVE to our AE title. When our DICOM node runs (``noractl start dicom``) it
  receives and imports the study (a pull hint names the project, as ``nora pacs pull`` does),
  and we wait until it has; otherwise our node's AE title and port are served here, for the
  duration of the move, by a node of our own, and the received study is imported right away.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


def dicom_settings(context):
    """The ``[dicom]`` and ``[pacs.*]`` settings of the desktop's nora.toml."""
    from nora_server.dicom.settings import DicomSettings

    settings = context.settings
    if settings is None:
        return DicomSettings()
    return DicomSettings.from_mapping(settings.sections, storage_root=settings.storage)


# -- query ----------------------------------------------------------------------------------
def date_query(text: str) -> str | None:
    """DICOM date matching from what a user types: empty or ``*`` (any date) -> None;
    ``2024*`` / ``202403*`` -> that year / month as a range; ``20240101-20240131``,
    ``20240101-``, ``-20240131``, ``2024-01-01..2024-01-31`` and single dates as given."""
    from nora_server.dicom.scu import normalise_date

    text = text.strip()
    if text in ("", "*"):
        return None
    m = re.fullmatch(r"(\d{4})(?:-?(\d{2}))?\*", text)
    if m:
        year, month = int(m.group(1)), m.group(2)
        if month is None:
            return f"{year}0101-{year}1231"
        last = calendar.monthrange(year, int(month))[1]
        return f"{year}{month}01-{year}{month}{last:02d}"
    if "*" in text or "?" in text:
        raise ValueError(f"date {text!r}: use *, a date (20240315), a range "
                         "(20240101-20240131, open ends allowed) or a year/month (2024*, 202403*)")
    return normalise_date(text)


def query_keys(*, name: str = "", patient_id: str = "", date: str = "",
               modality: str = "") -> dict:
    """C-FIND matching keys (DICOM keywords) of the query fields; empty fields match all."""
    keys = {"PatientName": name.strip(), "PatientID": patient_id.strip(),
            "StudyDate": date_query(date), "Modality": modality.strip().upper()}
    return {k: v for k, v in keys.items() if v}


@dataclass
class Patient:
    patient_id: str
    name: str
    birth_date: str
    studies: list[dict] = field(default_factory=list)

    @property
    def modalities(self) -> list[str]:
        out = []
        for s in self.studies:
            for m in _as_list(s.get("ModalitiesInStudy")):
                if m and m not in out:
                    out.append(m)
        return out


def _as_list(v) -> list[str]:
    if v in (None, ""):
        return []
    return [str(x) for x in v] if isinstance(v, list) else str(v).split("\\")


def find_patients(node, *, ae_title: str, progress=None, **fields) -> list[Patient]:
    """C-FIND at study level, grouped by patient (patients by name, studies by date)."""
    from nora_server.dicom.scu import find

    if progress is not None:
        progress("query", 0, 0)
    studies = find(node, "STUDY", ae_title=ae_title, **query_keys(**fields))
    patients: dict[tuple, Patient] = {}
    for s in studies:
        key = (s.get("PatientID") or "", s.get("PatientName") or "")
        p = patients.setdefault(key, Patient(key[0], key[1], s.get("PatientBirthDate") or ""))
        p.studies.append(s)
    for p in patients.values():
        p.studies.sort(key=lambda s: (s.get("StudyDate") or "", s.get("StudyTime") or ""))
    return sorted(patients.values(), key=lambda p: (p.name.lower(), p.patient_id))


def find_series(node, study_uid: str, *, ae_title: str) -> list[dict]:
    """C-FIND of the series of one study, by series number."""
    from nora_server.dicom.scu import find

    rows = find(node, "SERIES", ae_title=ae_title, StudyInstanceUID=study_uid)

    def number(r):
        try:
            return int(r.get("SeriesNumber") or 0)
        except (TypeError, ValueError):
            return 0
    return sorted(rows, key=number)


def masked(text: str, salt: bytes) -> str:
    """A stand-in for an identity: the same text gives the same mask within one salt."""
    if not text:
        return ""
    return "anon-" + hashlib.blake2s(text.encode(), key=salt, digest_size=3).hexdigest()


# -- pull -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PullItem:
    """A study (``series_uid`` None) or one series to retrieve."""

    study_uid: str
    series_uid: str | None = None

    @property
    def level(self) -> str:
        return "SERIES" if self.series_uid else "STUDY"

    @property
    def uids(self) -> dict:
        d = {"StudyInstanceUID": self.study_uid}
        if self.series_uid:
            d["SeriesInstanceUID"] = self.series_uid
        return d


@dataclass
class PullReport:
    retrieved: int = 0
    failed: int = 0
    refs: list[str] = field(default_factory=list)   # PID#SID of imported studies
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def pull(session, dicom, node, project: str, items: list[PullItem], *, progress=None,
         workdir=None, node_wait_s: float | None = None) -> PullReport:
    """Retrieve ``items`` from ``node`` and import them into ``project``.

    ``progress(stage, done, total)``: stages ``retrieve``, ``index``, ``place`` (the import)
    and ``node`` (waiting for a running DICOM node to import a C-MOVE)."""
    from nora_server.archive.rights import require
    from nora_server.dicom.service import running_pid

    require(session.role(project), "write", project, session.user)
    if not items:
        raise ValueError("nothing selected: check studies or series to pull")
    progress = progress or (lambda *a: None)
    report = PullReport()
    with tempfile.TemporaryDirectory(prefix="nora-pull-", dir=workdir) as tmp:
        tmp = Path(tmp)
        if node.retrieve == "get":
            _get(node, dicom, items, tmp / "get", report, progress)
            source = tmp / "get"
        elif dicom.spool is not None and running_pid(dicom) is not None:
            _move_via_node(node, dicom, project, items, report, progress, node_wait_s)
            return report
        else:
            source = _move_here(node, dicom, items, tmp, report, progress)
        if report.retrieved:
            _import(session, dicom, project, source, report, progress, workdir)
    return report


def _get(node, dicom, items, folder: Path, report: PullReport, progress) -> None:
    from nora_server.dicom.scu import get

    for n, item in enumerate(items):
        summary = get(node, item.level, item.uids, folder, ae_title=dicom.ae_title,
                      progress=lambda d, t, n=n: progress(f"retrieve {n + 1}/{len(items)}", d, t))
        _count(report, summary, node)


def _count(report: PullReport, summary, node) -> None:
    report.retrieved += summary.completed + summary.warning
    report.failed += summary.failed
    report.lines.append(f"{node.name}: {summary}")
    report.errors += summary.errors


def _move_here(node, dicom, items, tmp: Path, report: PullReport, progress) -> Path:
    """C-MOVE to our AE title, received by a node of our own for the time of the move."""
    from nora_server.dicom.node import DicomNode
    from nora_server.dicom.scu import DicomNetworkError, move
    from nora_server.dicom.spool import Spool

    spool = Spool(tmp / "spool", fsync=False)
    receiver = DicomNode(dicom, spool)
    try:
        receiver.start()
    except OSError as exc:
        raise DicomNetworkError(
            f"C-MOVE needs our DICOM node {dicom.ae_title} on {dicom.host}:{dicom.port}, and "
            f"that port cannot be opened here ({exc}): start it with 'noractl start dicom', "
            f"or set retrieve = \"get\" for [pacs.{node.name}] in nora.toml") from None
    try:
        for n, item in enumerate(items):
            summary = move(node, item.level, item.uids, destination=dicom.ae_title,
                           ae_title=dicom.ae_title,
                           progress=lambda d, t, n=n: progress(f"retrieve {n + 1}/{len(items)}",
                                                               d, t))
            _count(report, summary, node)
    finally:
        receiver.stop()
    return spool.incoming


def _move_via_node(node, dicom, project, items, report: PullReport, progress, wait_s) -> None:
    """C-MOVE to the running node with a pull hint; wait until it has imported each study."""
    from nora_server.dicom.scu import move
    from nora_server.dicom.service import hint_path, write_hint

    studies = sorted({i.study_uid for i in items})
    for uid in studies:
        write_hint(dicom.spool, uid, project)
    for n, item in enumerate(items):
        summary = move(node, item.level, item.uids, destination=dicom.ae_title,
                       ae_title=dicom.ae_title,
                       progress=lambda d, t, n=n: progress(f"retrieve {n + 1}/{len(items)}", d, t))
        _count(report, summary, node)
    wait_s = dicom.quiet_seconds + 120 if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    pending = [hint_path(dicom.spool, uid) for uid in studies]
    while True:
        pending = [p for p in pending if p.exists()]
        progress("node", len(studies) - len(pending), len(studies))
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    if pending:
        report.lines.append(f"the DICOM node has not imported {len(pending)} stud"
                            f"{'y' if len(pending) == 1 else 'ies'} yet (it imports a study once "
                            f"it has been quiet for {dicom.quiet_seconds:g} s); see "
                            "'noractl status dicom'")
    else:
        report.lines.append(f"the DICOM node imported {len(studies)} stud"
                            f"{'y' if len(studies) == 1 else 'ies'} into {project}")


def _import(session, dicom, project, source: Path, report: PullReport, progress,
            workdir) -> None:
    from nora_server.dicom.archive_target import ArchiveTarget
    from nora_server.dicom.importer import ImportOptions, import_path

    result = import_path(source, ArchiveTarget(session, project),
                         ImportOptions(policy=dicom.policy(project)), progress=progress,
                         workdir=workdir)
    report.refs = result.refs
    report.lines += [ln for ln in result.lines() if not ln.startswith("ignored")]
    report.errors += [f"{f}: {why}" for f, why in result.errors]


def workdir_for(storage) -> str | None:
    """Temporary files on the storage file system (cheap renames into the archive)."""
    d = Path(storage) / ".nora-import-tmp"
    try:
        d.mkdir(parents=True, exist_ok=True)
        return str(d)
    except OSError:
        return None
