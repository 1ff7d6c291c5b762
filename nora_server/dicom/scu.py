"""The SCU side toward PACS: C-ECHO, C-FIND (patient/study/series), C-MOVE to our node,
C-GET into a folder, C-STORE of files. Every call opens one association, reports progress
through an optional ``progress(done, total)`` callback and returns a plain summary.

Query values follow DICOM matching: ``*``/``?`` wildcards, ``Family^Given`` names, date ranges
``20240101-20240131`` (open ends allowed; ``2024-01-01`` is accepted and normalised).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import uid as _uid
from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (
    PatientRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet, StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from nora_server.dicom.dates import normalise_date
from nora_server.dicom.headers import index_paths, walk_files
from nora_server.dicom.node import set_nodelay
from nora_server.dicom.settings import RemoteNode
from nora_server.dicom.spool import write_atomic

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None] | None

#: what each level returns (besides the query keys themselves)
RETURN_KEYS = {
    "PATIENT": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                "NumberOfPatientRelatedStudies"),
    "STUDY": ("PatientName", "PatientID", "PatientBirthDate", "StudyInstanceUID", "StudyDate",
              "StudyTime", "StudyID", "StudyDescription", "AccessionNumber", "ModalitiesInStudy",
              "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    "SERIES": ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber",
               "SeriesDescription", "SeriesDate", "NumberOfSeriesRelatedInstances"),
}
#: transfer syntaxes offered when we receive (C-GET): Debian's Orthanc cannot transcode J2K
RECEIVE_TRANSFER_SYNTAXES = [
    _uid.ExplicitVRLittleEndian, _uid.ImplicitVRLittleEndian, _uid.ExplicitVRBigEndian,
    _uid.JPEGBaseline8Bit, _uid.JPEGLosslessSV1, _uid.JPEGLSLossless, _uid.JPEG2000Lossless,
    _uid.JPEG2000, _uid.RLELossless,
]


class DicomNetworkError(RuntimeError):
    """A remote node could not be reached or refused us; the message says which and why."""


@dataclass
class TransferSummary:
    """Outcome of a C-MOVE, C-GET or C-STORE run."""

    completed: int = 0
    failed: int = 0
    warning: int = 0
    files: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.errors

    def __str__(self) -> str:
        s = f"{self.completed} completed, {self.failed} failed, {self.warning} with warnings"
        return s + (f"; {'; '.join(self.errors)}" if self.errors else "")


def _ae(ae_title: str) -> AE:
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    return ae


def _keep_responses(assoc) -> None:
    """Work around a race in pynetdicom 3's requestor: its reactor thread can take a response
    off the DIMSE queue while ``send_*`` waits for it (the reactor's pause flag can be stale),
    then drops it as "unexpected" and the caller hits the DIMSE timeout. Seen against a fast
    dcmqrscp on a busy machine. Responses the reactor takes go back on the queue here."""
    serve = assoc._serve_request

    def serve_requests_only(msg, context_id):
        if msg is not None and not msg.is_valid_request:
            assoc.dimse.msg_queue.put((context_id, msg))
            return
        serve(msg, context_id)

    assoc._serve_request = serve_requests_only


def _associate(ae: AE, node: RemoteNode, *, handlers=None, ext_neg=None):
    handlers = [(evt.EVT_CONN_OPEN, set_nodelay), *(handlers or [])]
    assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, ext_neg=ext_neg,
                         evt_handlers=handlers)
    _keep_responses(assoc)
    if not assoc.is_established:
        why = ("rejected the association" if assoc.is_rejected
               else "could not be reached or aborted the association")
        raise DicomNetworkError(
            f"{node.name} ({node.ae_title}@{node.host}:{node.port}) {why}: check that it runs "
            f"and that it knows our AE title {ae.ae_title!r}")
    return assoc


def echo(node: RemoteNode, *, ae_title: str = "NORA") -> int:
    """C-ECHO; returns the status (0 on success) or raises DicomNetworkError."""
    ae = _ae(ae_title)
    ae.add_requested_context(Verification)
    assoc = _associate(ae, node)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status:
        raise DicomNetworkError(f"{node.name}: no C-ECHO response")
    return int(status.Status)


def build_query(level: str, **keys) -> Dataset:
    """Identifier for C-FIND at ``level`` (PATIENT, STUDY, SERIES) with the given matching keys
    (DICOM keywords) and every return key of that level left empty."""
    level = level.upper()
    if level not in RETURN_KEYS:
        raise ValueError(f"query level must be PATIENT, STUDY or SERIES, not {level!r}")
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for kw in RETURN_KEYS[level]:
        setattr(ds, kw, "")
    for kw, value in keys.items():
        if value is None:
            continue
        if kw.endswith("Date"):
            value = normalise_date(str(value))
        setattr(ds, kw, value)
    return ds


def _plain(ds: Dataset) -> dict:
    out = {}
    for elem in ds:
        if elem.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle"):
            continue
        v = elem.value
        if elem.VM > 1:
            v = [str(x) for x in v]
        elif v is not None and not isinstance(v, (int, float)):
            v = str(v)
        out[elem.keyword] = v
    return out


def find(node: RemoteNode, level: str, *, ae_title: str = "NORA", **keys) -> list[dict]:
    """C-FIND at ``level``; ``keys`` are DICOM keywords (PatientName="Doe^J*",
    StudyDate="20240101-", Modality="MR", StudyInstanceUID=... for series).

    PATIENT uses the patient root model, STUDY and SERIES the study root model. A series
    query needs the StudyInstanceUID (strict servers refuse it otherwise). ``Modality`` at
    study level matches ModalitiesInStudy and is checked again here, since not every PACS
    supports that key.
    """
    level = level.upper()
    modality = keys.pop("Modality", None) if level == "STUDY" else None
    if modality:
        keys["ModalitiesInStudy"] = modality
    if level == "SERIES" and not keys.get("StudyInstanceUID"):
        raise ValueError("a series query needs StudyInstanceUID (query studies first)")
    model = (PatientRootQueryRetrieveInformationModelFind if level == "PATIENT"
             else StudyRootQueryRetrieveInformationModelFind)
    ae = _ae(ae_title)
    ae.add_requested_context(model)
    assoc = _associate(ae, node)
    results, failure = [], None
    try:
        for status, identifier in assoc.send_c_find(build_query(level, **keys), model):
            if not status:
                failure = "connection lost during C-FIND"
                break
            code = int(status.Status)
            if code in (0xFF00, 0xFF01) and identifier is not None:
                results.append(_plain(identifier))
            elif code != 0x0000:
                failure = f"C-FIND failed with status 0x{code:04X}"
    finally:
        assoc.release()
    if failure:
        raise DicomNetworkError(f"{node.name}: {failure}")
    if modality and "*" not in modality:
        results = [r for r in results if not r.get("ModalitiesInStudy")
                   or modality in _as_list(r["ModalitiesInStudy"])]
    return results


def _as_list(v):
    return v if isinstance(v, list) else str(v).split("\\")


def _retrieve_identifier(level: str, uids: dict) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level.upper()
    for kw, v in uids.items():
        setattr(ds, kw, v)
    return ds


def _track(summary: TransferSummary, status, progress: Progress) -> bool:
    """Update the summary from one C-MOVE/C-GET response; False when it ended in failure."""
    if not status:
        summary.errors.append("connection lost")
        return False
    code = int(status.Status)
    for kw, attr in (("NumberOfCompletedSuboperations", "completed"),
                     ("NumberOfFailedSuboperations", "failed"),
                     ("NumberOfWarningSuboperations", "warning")):
        if kw in status:
            setattr(summary, attr, int(status[kw].value))
    if progress is not None:
        remaining = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
        done = summary.completed + summary.failed + summary.warning
        progress(done, done + remaining)
    if code in (0x0000, 0xFF00, 0xB000):
        return True
    summary.errors.append(f"status 0x{code:04X}")
    return False


def move(node: RemoteNode, level: str, uids: dict, *, destination: str,
         ae_title: str = "NORA", progress: Progress = None) -> TransferSummary:
    """C-MOVE the study/series given by ``uids`` (e.g. {"StudyInstanceUID": ...}) to the AE
    title ``destination`` (our node), which the PACS must know."""
    ae = _ae(ae_title)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = _associate(ae, node)
    summary = TransferSummary()
    try:
        for status, _ in assoc.send_c_move(_retrieve_identifier(level, uids), destination,
                                           StudyRootQueryRetrieveInformationModelMove):
            if not _track(summary, status, progress):
                break
    finally:
        assoc.release()
    return summary


def get(node: RemoteNode, level: str, uids: dict, folder: Path, *, ae_title: str = "NORA",
        progress: Progress = None) -> TransferSummary:
    """C-GET the study/series given by ``uids`` into ``folder`` (one file per instance,
    written atomically); the instances arrive on this same association."""
    folder = Path(folder)
    tmp = folder / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    summary = TransferSummary()

    def on_store(event):
        try:
            path = folder / f"{event.request.AffectedSOPInstanceUID}.dcm"
            write_atomic(path, event.encoded_dataset(), tmp_dir=tmp)
        except Exception as exc:  # a status, never an exception into pynetdicom
            log.error("C-GET: could not store an instance: %s", exc)
            return 0xA700
        summary.files.append(path)
        return 0x0000

    ae = _ae(ae_title)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    for cx in StoragePresentationContexts[:127]:
        ae.add_requested_context(cx.abstract_syntax, RECEIVE_TRANSFER_SYNTAXES)
        roles.append(build_role(cx.abstract_syntax, scp_role=True))
    assoc = _associate(ae, node, handlers=[(evt.EVT_C_STORE, on_store)], ext_neg=roles)
    try:
        for status, _ in assoc.send_c_get(_retrieve_identifier(level, uids),
                                          StudyRootQueryRetrieveInformationModelGet):
            if not _track(summary, status, progress):
                break
    finally:
        assoc.release()
        tmp.rmdir() if tmp.exists() and not any(tmp.iterdir()) else None
    return summary


def send(node: RemoteNode, paths, *, ae_title: str = "NORA",
         progress: Progress = None) -> TransferSummary:
    """C-STORE every DICOM file under ``paths`` (files or folders) to ``node``."""
    files = [f for p in paths for f in walk_files(Path(p))]
    index = index_paths(files)
    summary = TransferSummary()
    summary.errors.extend(f"{p}: {why}" for p, why in index.errors)
    todo, contexts = [], set()
    import pydicom
    for series in index.series.values():
        for f in series.files:
            meta = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            ts = meta.file_meta.get("TransferSyntaxUID", _uid.ImplicitVRLittleEndian)
            contexts.add((str(meta.SOPClassUID), str(ts)))
            todo.append(f)
    if not todo:
        return summary
    ae = _ae(ae_title)
    by_class: dict[str, set[str]] = {}
    for sop, ts in contexts:
        by_class.setdefault(sop, set()).add(ts)
    if len(by_class) > 127:
        raise ValueError("more than 127 SOP classes in one send: split the files")
    for sop, syntaxes in sorted(by_class.items()):
        ae.add_requested_context(sop, sorted(syntaxes | {_uid.ExplicitVRLittleEndian,
                                                         _uid.ImplicitVRLittleEndian}))
    assoc = _associate(ae, node)
    try:
        for n, f in enumerate(todo, 1):
            status = assoc.send_c_store(f, msg_id=n % 65536)
            code = int(status.Status) if status else -1
            if code == 0:
                summary.completed += 1
            elif code in (0xB000, 0xB007, 0xB006):
                summary.warning += 1
            else:
                summary.failed += 1
                summary.errors.append(f"{f.name}: " + ("no response" if code < 0
                                                        else f"status 0x{code:04X}"))
                if code < 0:
                    break
            if progress is not None:
                progress(n, len(todo))
    finally:
        if assoc.is_established:
            assoc.release()
    return summary
