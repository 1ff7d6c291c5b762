"""Pull from a PACS into a project: retrieve (C-GET, or C-MOVE to our AE title) and import.

``C-GET`` brings the instances on our own association into a temporary folder. ``C-MOVE``
makes the PACS open an association to our AE title: when the node service runs
(``noractl start dicom``) it receives them and imports the study once it is quiet (a hint
tells it the project); otherwise a node is started here for the duration of the pull, on the
configured port, and what it receives is imported right away. ``wait_s`` waits that long
for the running node to import what it received.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from nora_server.dicom import scu
from nora_server.dicom.importer import ImportReport
from nora_server.dicom.settings import DicomSettings, RemoteNode
from nora_server.dicom.spool import Spool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullTarget:
    """A study, or some of its series, to retrieve."""

    study_uid: str
    series_uids: tuple[str, ...] = ()

    @classmethod
    def of(cls, item) -> "PullTarget":
        if isinstance(item, PullTarget):
            return item
        if isinstance(item, str):
            return cls(item)
        study, series = item
        return cls(study, tuple(series or ()))

    def requests(self) -> list[tuple[str, dict]]:
        """(level, identifier UIDs) of the C-MOVE/C-GET requests this target needs."""
        if not self.series_uids:
            return [("STUDY", {"StudyInstanceUID": self.study_uid})]
        return [("SERIES", {"StudyInstanceUID": self.study_uid, "SeriesInstanceUID": s})
                for s in self.series_uids]


@dataclass
class PullReport:
    """What a pull retrieved and imported."""

    how: str                                                 # "get" or "move"
    project: str = ""
    transfers: list[scu.TransferSummary] = field(default_factory=list)
    imported: ImportReport | None = None                     # None: left to the node service
    queued_to_node: bool = False                             # the running node imports it
    node_imports: dict[str, str] = field(default_factory=dict)  # study UID -> wait state

    @property
    def completed(self) -> int:
        return sum(t.completed for t in self.transfers)

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.transfers)

    @property
    def errors(self) -> list[str]:
        return [e for t in self.transfers for e in t.errors]

    @property
    def refs(self) -> list[str]:
        """PID#SID of the studies imported here (not those left to the node)."""
        return self.imported.refs if self.imported is not None else []

    @property
    def ok(self) -> bool:
        return (all(t.ok for t in self.transfers)
                and (self.imported is None or not self.imported.errors)
                and all(s == "imported" for s in self.node_imports.values()))

    def lines(self) -> list[str]:
        out = [f"retrieved {self.completed} instance(s) by C-{self.how.upper()}, "
               f"{self.failed} failed" + (f"; {'; '.join(self.errors)}" if self.errors else "")]
        if self.queued_to_node and not self.node_imports:
            out.append("the DICOM node imports the study once it has been quiet")
        done = sum(s == "imported" for s in self.node_imports.values())
        if done:
            out.append(f"the DICOM node imported {done} stud{'y' if done == 1 else 'ies'} "
                       f"into {self.project}")
        out += [f"study {uid}: the DICOM node has not imported it yet (see 'noractl status "
                f"dicom')" if s == "pending" else f"study {uid}: the DICOM node's import {s}"
                for uid, s in self.node_imports.items() if s != "imported"]
        if self.imported is not None:
            out += self.imported.lines()
        return out


def retrieve(node: RemoteNode, targets, folder: Path, *, how: str, dicom: DicomSettings,
             progress=None) -> list[scu.TransferSummary]:
    """Retrieve ``targets`` into ``folder`` (C-GET), or to our AE title (C-MOVE: the caller
    runs a receiver). ``progress("retrieve", done, total)`` counts instances."""
    summaries, base = [], [0, 0]

    def tick(done, total):
        if progress is not None:
            progress("retrieve", base[0] + done, base[1] + total)
    for target in map(PullTarget.of, targets):
        for level, uids in target.requests():
            if how == "get":
                s = scu.get(node, level, uids, folder, ae_title=dicom.ae_title, progress=tick)
            else:
                s = scu.move(node, level, uids, destination=dicom.ae_title,
                             ae_title=dicom.ae_title, progress=tick)
            summaries.append(s)
            done = s.completed + s.failed + s.warning
            base[0] += done
            base[1] += done
    return summaries


def pull(session, settings, node: RemoteNode, project: str, targets, *, how: str | None = None,
         dicom: DicomSettings | None = None, progress=None, workdir=None,
         wait_s: float = 0) -> PullReport:
    """Retrieve ``targets`` (study UIDs, ``(study, [series])`` pairs or :class:`PullTarget`)
    from ``node`` and import them into ``project`` (its DICOM policy applies).

    ``progress(stage, done, total)``: "retrieve" (instances), then the import's stages, or
    "node" (studies) while waiting up to ``wait_s`` for the running node to import a C-MOVE.
    Checks that the user may write ``project`` before anything is retrieved."""
    from nora_server.archive.rights import require
    from nora_server.dicom.api import dicom_settings, import_into_project
    from nora_server.dicom.service import running_pid, wait_for_node_import, write_hint

    dicom = dicom or dicom_settings(settings)
    require(session.role(project), "write", project, session.user)
    how = (how or node.retrieve).lower()
    if how not in ("get", "move"):
        raise ValueError(f"retrieve by 'get' or 'move', not {how!r}")
    targets = [PullTarget.of(t) for t in targets]
    report = PullReport(how, project)
    if how == "move" and dicom.spool is not None and running_pid(dicom) is not None:
        for t in targets:
            write_hint(dicom.spool, t.study_uid, project)
        report.transfers = retrieve(node, targets, Path("."), how="move", dicom=dicom,
                                    progress=progress)
        report.queued_to_node = True
        if wait_s > 0 and report.completed:
            studies = sorted({t.study_uid for t in targets})
            end = time.monotonic() + wait_s
            for n, uid in enumerate(studies):
                if progress is not None:
                    progress("node", n, len(studies))
                report.node_imports[uid] = wait_for_node_import(
                    dicom, uid, timeout=max(0.0, end - time.monotonic()), poll_s=0.25)
        return report
    tmp = Path(tempfile.mkdtemp(prefix="nora-pull-", dir=workdir))
    try:
        if how == "get":
            folder = tmp / "got"
            report.transfers = retrieve(node, targets, folder, how="get", dicom=dicom,
                                        progress=progress)
        else:
            folder = tmp / "spool" / "incoming"
            with temporary_receiver(dicom, tmp / "spool"):
                report.transfers = retrieve(node, targets, folder, how="move", dicom=dicom,
                                            progress=progress)
        if folder.is_dir() and any(folder.rglob("*.dcm")):
            report.imported = import_into_project(session, project, folder, settings=settings,
                                                  dicom=dicom, progress=progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


class temporary_receiver:
    """Our node on the configured AE title and port for the length of a C-MOVE, spooling
    into ``spool_root`` (no import: the caller imports what arrived)."""

    def __init__(self, dicom: DicomSettings, spool_root: Path):
        from nora_server.dicom.node import DicomNode

        self.node = DicomNode(dicom, Spool(spool_root, fsync=False))

    def __enter__(self):
        try:
            self.node.start()
        except OSError as exc:
            raise scu.DicomNetworkError(
                f"cannot receive the C-MOVE on {self.node.settings.host}:"
                f"{self.node.settings.port} ({exc}): is another program using the port? "
                "Start the node (noractl start dicom) or pull by C-GET") from None
        return self.node

    def __exit__(self, *exc):
        # the PACS sends its last C-STORE before its final C-MOVE response, but our spool may
        # still be writing it: wait until no association is open
        end = time.monotonic() + 10
        while self.node.ae.active_associations and time.monotonic() < end:
            time.sleep(0.05)
        self.node.stop()
