"""The DICOM functions for the desktop and for scripts: import into a project, query a PACS at
each level, pull (retrieve + import) and send, each a plain function that blocks until done
and reports through an optional progress callback (run them in a thread worker).

``progress(stage, done, total)``: ``stage`` is "unzip", "index", "convert", "place" (import)
or "retrieve", "send", "find", "node" (network); ``total`` may be None while unknown.
Everything takes the user's :class:`~nora_server.archive.session.ArchiveSession` (rights are
checked there) and the site :class:`~nora_server.config.Settings` (``[dicom]``, ``[pacs.*]``);
see docs/dicom.md.

Example::

    from nora_server.archive import connect
    from nora_server.config import load_settings
    from nora_server.dicom import api

    settings = load_settings()
    session = connect()
    pacs = api.pacs_node(settings, "main")
    tree = api.query_tree(pacs, name="Doe^J*", date="20240101-")   # patients -> studies
    rows = api.find_series(pacs, tree[0].studies[0].uid)
    report = api.pull(session, settings, pacs, "demo", [tree[0].studies[0].uid],
                      progress=print)
    api.import_into_project(session, "demo", "/data/exam.zip", settings=settings)
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nora_server.dicom.settings import DicomSettings, RemoteNode

if TYPE_CHECKING:
    from nora_server.dicom import scu
    from nora_server.dicom.importer import ImportReport

Progress = Callable[[str, int, int | None], None] | None

# the pull's names load on first use (pydicom, pynetdicom): a desktop that only shows its PACS
# tab, or a script that reads the settings, does not pay for them; the functions below import
# what they use
_PULL_NAMES = ("PullReport", "PullTarget", "pull")


def __getattr__(name):
    if name not in _PULL_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from nora_server.dicom import pull

    value = globals()[name] = getattr(pull, name)
    return value


def dicom_settings(settings) -> DicomSettings:
    """The ``[dicom]`` and ``[pacs.*]`` sections of the site settings (defaults for None)."""
    if settings is None:
        return DicomSettings()
    return DicomSettings.from_mapping(settings.sections, storage_root=settings.storage)


def pacs_nodes(settings) -> list[RemoteNode]:
    """The configured PACS nodes, by name (for a node chooser)."""
    return [n for _, n in sorted(dicom_settings(settings).pacs.items())]


def pacs_node(settings, name: str) -> RemoteNode:
    """One configured PACS node; KeyError (naming the configured ones) if there is none."""
    return dicom_settings(settings).node(name)


def workdir(storage) -> str | None:
    """Temporary files on the storage file system (cheap renames), if it is writable."""
    d = Path(storage) / ".nora-import-tmp"
    try:
        d.mkdir(exist_ok=True)
        return str(d)
    except OSError:
        return None


# -- import ----------------------------------------------------------------------------------

def import_into_project(session, project: str, path, *, settings=None,
                        dicom: DicomSettings | None = None, patients_id: str | None = None,
                        studies_id: str | None = None, pattern: str | None = None,
                        extrafiles_filter=(), progress: Progress = None) -> ImportReport:
    """Import a folder or zip of DICOM (an upload) into ``project`` under its DICOM policy.

    The options are ``nora --import``'s. Raises FileNotFoundError, UnsafeArchiveError (a zip
    that points outside) or the archive's errors (no write right); everything about single
    files and series is in the report."""
    from nora_server.dicom.archive_target import ArchiveTarget
    from nora_server.dicom.importer import ImportOptions, import_path

    if dicom is None:
        dicom = dicom_settings(settings)
    options = ImportOptions(patients_id=patients_id, studies_id=studies_id, pattern=pattern,
                            extrafiles_filter=tuple(extrafiles_filter),
                            policy=dicom.policy(project))
    target = ArchiveTarget(session, project)
    return import_path(Path(path), target, options, progress=progress,
                       workdir=workdir(session.archive.storage))


# -- query -----------------------------------------------------------------------------------

def _keys(name=None, patient_id=None, date=None, modality=None, description=None,
          accession=None) -> dict:
    keys = {"PatientName": name, "PatientID": patient_id, "StudyDate": date,
            "Modality": modality, "StudyDescription": description,
            "AccessionNumber": accession}
    return {k: v for k, v in keys.items() if v not in (None, "")}


def find_patients(node: RemoteNode, *, name: str | None = None, patient_id: str | None = None,
                  ae_title: str = "NORA") -> list[dict]:
    """Patients matching ``name`` (``Family^Given``, ``*``/``?`` wildcards) and/or ID."""
    from nora_server.dicom import scu

    return scu.find(node, "PATIENT", ae_title=ae_title, **_keys(name, patient_id))


def study_date(text: str | None) -> str | None:
    """DICOM date matching from what a user types: empty or ``*`` (any date) -> None;
    ``2024*`` / ``202403*`` -> that year / month as a range; ``20240101``, ranges
    ``20240101-20240131`` with open ends and ISO ``2024-01-01..2024-01-31`` as given.
    ValueError for other wildcards."""
    from nora_server.dicom.dates import normalise_date

    text = (text or "").strip()
    if text in ("", "*"):
        return None
    m = re.fullmatch(r"(\d{4})(?:-?(\d{2}))?\*", text)
    if m:
        year, month = int(m.group(1)), m.group(2)
        if month is None:
            return f"{year}0101-{year}1231"
        if not 1 <= int(month) <= 12:
            raise ValueError(f"date {text!r}: there is no month {month}")
        last = calendar.monthrange(year, int(month))[1]
        return f"{year}{month}01-{year}{month}{last:02d}"
    if "*" in text or "?" in text:
        raise ValueError(f"date {text!r}: use *, a date (20240315), a range "
                         "(20240101-20240131, open ends allowed) or a year/month (2024*, 202403*)")
    return normalise_date(text)


def find_studies(node: RemoteNode, *, name: str | None = None, patient_id: str | None = None,
                 date: str | None = None, modality: str | None = None,
                 description: str | None = None, accession: str | None = None,
                 ae_title: str = "NORA") -> list[dict]:
    """Studies matching the fields; ``date`` as :func:`study_date` reads it (``*`` any,
    ``20240101``, ``20240101-20240131``, open ends, ``2024*`` a year, ``202403*`` a month)."""
    from nora_server.dicom import scu

    keys = _keys(name, patient_id, study_date(date), modality, description, accession)
    return scu.find(node, "STUDY", ae_title=ae_title, **keys)


def find_series(node: RemoteNode, study_uid: str, *, modality: str | None = None,
                ae_title: str = "NORA") -> list[dict]:
    """Series of one study (sorted by series number)."""
    from nora_server.dicom import scu

    keys = {"StudyInstanceUID": study_uid}
    if modality:
        keys["Modality"] = modality
    rows = scu.find(node, "SERIES", ae_title=ae_title, **keys)
    return sorted(rows, key=lambda r: _int(r.get("SeriesNumber")))


def _int(v) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


@dataclass
class StudyNode:
    uid: str
    row: dict                                    # the C-FIND answer
    series: list[dict] = field(default_factory=list)


@dataclass
class PatientNode:
    patient_id: str
    name: str
    row: dict                                    # the first study answer's patient attributes
    studies: list[StudyNode] = field(default_factory=list)


def query_tree(node: RemoteNode, *, name: str | None = None, patient_id: str | None = None,
               date: str | None = None, modality: str | None = None,
               description: str | None = None, with_series: bool = False,
               ae_title: str = "NORA", progress: Progress = None) -> list[PatientNode]:
    """Studies matching the fields, grouped as patients -> studies (-> series when
    ``with_series``; one more C-FIND per study, ``progress("find", done, total)``)."""
    studies = find_studies(node, name=name, patient_id=patient_id, date=date,
                           modality=modality, description=description, ae_title=ae_title)
    patients: dict[str, PatientNode] = {}
    for row in sorted(studies, key=lambda r: (str(r.get("PatientID", "")),
                                              str(r.get("StudyDate", "")))):
        pid = str(row.get("PatientID", ""))
        p = patients.get(pid)
        if p is None:
            p = patients[pid] = PatientNode(pid, str(row.get("PatientName", "")), {
                k: row.get(k) for k in ("PatientID", "PatientName", "PatientBirthDate")})
        p.studies.append(StudyNode(str(row.get("StudyInstanceUID", "")), row))
    if with_series:
        all_studies = [s for p in patients.values() for s in p.studies]
        for i, s in enumerate(all_studies, 1):
            s.series = find_series(node, s.uid, ae_title=ae_title)
            if progress is not None:
                progress("find", i, len(all_studies))
    return list(patients.values())


# -- pseudonymised display -------------------------------------------------------------------

_SESSION_KEY = secrets.token_hex(16)   # display pseudonyms stable within this process only


def display_pseudonym(patient_id: str, *, session=None, project: str | None = None,
                      settings=None) -> str:
    """What to show instead of a patient's name: the subject the patient already has in
    ``project``, else the pseudonym the project's policy would give, else a pseudonym stable
    for this process only."""
    return display_pseudonyms([patient_id], session=session, project=project,
                              settings=settings)[str(patient_id)]


def display_pseudonyms(patient_ids, *, session=None, project: str | None = None,
                       settings=None) -> dict[str, str]:
    """:func:`display_pseudonym` of many patients at once (one archive query): {id: shown}."""
    from nora_server.dicom.pseudonym import pseudonym

    policy = None
    if project is not None and settings is not None:
        policy = dicom_settings(settings).policy(project)
    known = {}
    if session is not None and project is not None:
        try:
            known = {r.patient_id: r.subject for r in session.subjects(project) if r.patient_id}
        except Exception:  # noqa: BLE001  (no rights, no project: fall back)
            pass
    out = {}
    for pid in map(str, patient_ids):
        shown = known.get(pid)
        if not shown and policy is not None and policy.pseudonymise and policy.pseudonym_key:
            shown = pseudonym(pid, key=policy.pseudonym_key, prefix=policy.pseudonym_prefix)
        if not shown:
            digest = hmac.new(_SESSION_KEY.encode(), pid.encode(), hashlib.sha256)
            shown = "P" + digest.hexdigest()[:8].upper()
        out[pid] = shown
    return out


def mask_identity(rows: list[dict], *, reveal: bool = False, **where) -> list[dict]:
    """Copies of C-FIND rows with PatientName and PatientBirthDate replaced by
    :func:`display_pseudonym` (``where``: its session/project/settings) unless ``reveal``."""
    if reveal:
        return [dict(r) for r in rows]
    shown = display_pseudonyms({str(r.get("PatientID", "")) for r in rows}, **where)
    out = []
    for r in rows:
        r = dict(r)
        if "PatientName" in r:
            r["PatientName"] = shown[str(r.get("PatientID", ""))]
        if r.get("PatientBirthDate"):
            r["PatientBirthDate"] = ""
        out.append(r)
    return out


# -- send ------------------------------------------------------------------------------------

def send_paths(node: RemoteNode, paths, *, ae_title: str = "NORA",
               progress: Progress = None) -> scu.TransferSummary:
    """C-STORE every DICOM file under ``paths`` to ``node``; ``progress("send", done, total)``."""
    from nora_server.dicom import scu

    tick = (lambda d, t: progress("send", d, t)) if progress is not None else None
    return scu.send(node, [Path(p) for p in paths], ae_title=ae_title, progress=tick)


def send_from_archive(session, project: str, pattern: str, node: RemoteNode, *,
                      ae_title: str = "NORA", progress: Progress = None) -> scu.TransferSummary:
    """C-STORE the archive files matching ``pattern`` (the DICOM kept with ``keep_dicom``,
    e.g. ``"P001#*/t1*/dicom/*.dcm"``) to ``node``."""
    files = [f.abspath for f in session.select_files(project, pattern)]
    if not files:
        raise FileNotFoundError(f"no files match {pattern!r} in project {project!r}")
    return send_paths(node, files, ae_title=ae_title, progress=progress)
