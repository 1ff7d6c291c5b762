"""DICOM commands of the CLIs (hooked into nora.py and noractl.py before their own parsers):

    nora -p P --import PATH [--autoexec_queue [QUEUE]] [--extrafiles_filter nii,txt]
             [--patients_id PIZ] [--studies_id SID] [--pattern REGEX]
    nora pacs echo NODE
    nora pacs find NODE [--level patient|study|series] [--name 'Doe^J*'] [--id PID]
                        [--date 20240101-20240131] [--modality MR] [--study UID] [--json]
    nora pacs pull NODE -p P --study UID [--series UID] [--move | --get]
    nora pacs send NODE [PATH ...] [-p P -s 'PID#SID/t1*/dicom/*.dcm']
    noractl start|stop|status dicom
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from nora_server.cli.common import Parser, UsageError, progress_bar, run, setup_logging, to_json

IMPORT_FLAG = "--import"


# -- hooks ---------------------------------------------------------------------------------

def _quiet_pynetdicom(verbose: bool) -> None:
    """pynetdicom logs every failed connection itself; our errors already say it."""
    logging.getLogger("pynetdicom").setLevel(logging.INFO if verbose else logging.CRITICAL)


def nora_dicom(argv: list[str]) -> int | None:
    """``nora`` hook: handle ``--import`` and ``pacs``; None leaves argv to nora itself."""
    if argv and argv[0] == "pacs":
        return run("nora pacs", _pacs_main, argv[1:])
    if any(a == IMPORT_FLAG or a.startswith(IMPORT_FLAG + "=") for a in argv):
        return run("nora", _import_main, argv)
    return None


def noractl_dicom(argv: list[str]) -> int | None:
    """``noractl`` hook: handle ``start|stop|status dicom``; None leaves argv to noractl."""
    words = [a for a in argv if not a.startswith("-")]
    if len(words) >= 2 and words[0] in ("start", "stop", "status") and words[1] == "dicom":
        return run("noractl", _noractl_main, argv)
    return None


# -- nora --import -------------------------------------------------------------------------

def import_parser() -> Parser:
    p = Parser(prog="nora", description="import DICOM (folder or zip) into a project")
    p.add_argument("-p", "--project", required=True)
    p.add_argument("--config")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--import", dest="source", required=True, metavar="SRCPATH",
                   help="folder or zip of DICOM files")
    p.add_argument("--autoexec_queue", nargs="?", const="DEFAULT", metavar="QUEUE",
                   help="run the project's autoexecution queue (DEFAULT if no name) on the "
                        "imported studies")
    p.add_argument("--handle_job_result", action="store_true", help="accepted for NORA scripts")
    p.add_argument("--extrafiles_filter", metavar="EXT,EXT",
                   help="non-DICOM files with these extensions are added to the study")
    p.add_argument("--patients_id", metavar="PIZ", help="subject of everything imported")
    p.add_argument("--studies_id", metavar="SID", help="study of everything imported")
    p.add_argument("--pattern", metavar="REGEX",
                   help="regex on each DICOM folder with groups patients_id/studies_id, e.g. "
                        r"'(?<studies_id>[\w\-]+)\/(?<patients_id>\w+)$'")
    return p


def _session(config):
    from nora_server.archive.core import Archive
    from nora_server.config import load_settings

    settings = load_settings(config)
    archive = Archive.from_settings(settings)
    return settings, archive


class StageBars:
    """One tqdm bar per stage of a ``progress(stage, done, total)`` callback."""

    LABELS = {"unzip": ("unzipping", "file"), "index": ("reading headers", "file"),
              "convert": ("converting", "series"), "place": ("placing", "series"),
              "retrieve": ("retrieving", "image"), "send": ("sending", "image"),
              "find": ("querying series", "study")}

    def __init__(self):
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total) -> None:
        if stage not in self.bars:
            for _, bar in self.bars.values():
                bar.close()
            desc, _unit = self.LABELS.get(stage, (stage, "item"))
            self.bars[stage] = progress_bar(total, desc)
        update, bar = self.bars[stage]
        if total is not None and bar.total != total:
            bar.total = total
        update(done - bar.n)

    def close(self) -> None:
        for _, bar in self.bars.values():
            bar.close()


def _import_main(argv) -> int:
    from nora_server.dicom.api import dicom_settings, import_into_project
    from nora_server.dicom.zipsafe import UnsafeArchiveError

    a = import_parser().parse_args(argv)
    setup_logging(a.verbose, "nora")
    settings, archive = _session(a.config)
    try:
        session = archive.session()
        archive.recover()
        bars = StageBars()
        try:
            report = import_into_project(
                session, a.project, Path(a.source), dicom=dicom_settings(settings),
                patients_id=a.patients_id, studies_id=a.studies_id, pattern=a.pattern,
                extrafiles_filter=[e for e in (a.extrafiles_filter or "").split(",") if e],
                progress=bars)
        except (UnsafeArchiveError, FileNotFoundError, ValueError) as exc:
            raise UsageError(f"nora: error: {exc}") from None
        finally:
            bars.close()
        _print_report(report.lines())
        failed = (bool(report.errors) and not report.imported) or report.empty
        if a.autoexec_queue and report.refs:
            failed = not _autoexec(settings, archive, session, a.project, a.autoexec_queue,
                                   report.refs, wait=a.handle_job_result) or failed
        if a.handle_job_result:
            print("DONE")
        return 1 if failed else 0
    finally:
        archive.dispose()


def _print_report(lines) -> None:
    for line in lines:
        out = sys.stdout if line.startswith(("imported", "retrieved", "added",
                                             "the DICOM node imported")) else sys.stderr
        print(line, file=out)


def _autoexec(settings, archive, session, project, queue, refs, *, wait=False) -> bool:
    """Launch the project's autoexecution queue on the imported studies (and wait for it)."""
    from nora_server.batch.model import BatchError
    from nora_server.dicom.autoexec import launch_autoexec

    try:
        launch = launch_autoexec(settings, archive, session, project, refs, queue)
    except BatchError as exc:
        print(f"nora: autoexec {queue}: {exc}", file=sys.stderr)
        return False
    print(f"autoexec {queue}: launched {launch.launch_id} ({len(launch.job_ids)} job(s)) for "
          f"{', '.join(refs)}", file=sys.stderr)
    if not wait:
        return True
    rows = launch.wait()
    failed = [r for r in rows if r.state != "done"]
    for r in failed:
        print(f"job {r.id} {r.subject}{'#' + r.study if r.study else ''}: {r.state}: "
              f"{r.message or ''}", file=sys.stderr)
    return not failed


# -- nora pacs -----------------------------------------------------------------------------

def pacs_parser() -> Parser:
    p = Parser(prog="nora pacs", description="query/retrieve and send with configured PACS nodes")
    p.add_argument("--config")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    e = sub.add_parser("echo", help="C-ECHO a node")
    e.add_argument("node")
    f = sub.add_parser("find", help="C-FIND patients, studies or series")
    f.add_argument("node")
    f.add_argument("--level", default="study", choices=["patient", "study", "series"])
    f.add_argument("--name", help="PatientName, Family^Given, wildcards * and ?")
    f.add_argument("--id", help="PatientID")
    f.add_argument("--date", help="StudyDate: 20240101, 20240101-20240131, 20240101-, "
                                  "2024-01-01..2024-01-31")
    f.add_argument("--modality", help="MR, CT, ...")
    f.add_argument("--study", help="StudyInstanceUID (needed for series)")
    f.add_argument("--accession", help="AccessionNumber")
    f.add_argument("--description", help="StudyDescription / SeriesDescription")
    f.add_argument("--json", action="store_true")
    pl = sub.add_parser("pull", help="retrieve a study or series and import it")
    pl.add_argument("node")
    pl.add_argument("-p", "--project", required=True)
    pl.add_argument("--study", required=True, help="StudyInstanceUID")
    pl.add_argument("--series", action="append", metavar="UID",
                    help="SeriesInstanceUID (repeat for several; default: the whole study)")
    how = pl.add_mutually_exclusive_group()
    how.add_argument("--move", dest="how", action="store_const", const="move",
                     help="C-MOVE to our AE title: the running node imports it once quiet, "
                          "else a receiver runs here for the pull and imports right away")
    how.add_argument("--get", dest="how", action="store_const", const="get",
                     help="C-GET on the same association, imported right away")
    pl.add_argument("--wait", type=float, nargs="?", const=600.0, metavar="SECONDS",
                    help="with the node service: wait until it has imported the study")
    pl.add_argument("--autoexec_queue", nargs="?", const="DEFAULT", metavar="QUEUE",
                    help="run the project's autoexecution queue on the pulled studies")
    s = sub.add_parser("send", help="C-STORE files, or selected archive files, to a node")
    s.add_argument("node")
    s.add_argument("paths", nargs="*")
    s.add_argument("-p", "--project")
    s.add_argument("-s", "--select", metavar="PATTERN",
                   help="archive files to send, e.g. 'PID#SID/t1*/dicom/*.dcm' (keep_dicom)")
    return p


def _pacs_main(argv) -> int:
    from nora_server.config import load_settings
    from nora_server.dicom.scu import DicomNetworkError
    from nora_server.dicom.settings import DicomSettings

    a = pacs_parser().parse_args(argv)
    setup_logging(a.verbose, "nora pacs")
    _quiet_pynetdicom(a.verbose)
    settings = load_settings(a.config)
    dicom = DicomSettings.from_mapping(settings.sections, storage_root=settings.storage)
    try:
        node = dicom.node(a.node)
    except KeyError as exc:
        raise UsageError(f"nora pacs: error: {exc.args[0]}") from None
    try:
        return {"echo": _echo, "find": _find, "pull": _pull, "send": _send}[a.cmd](
            a, node, dicom, settings)
    except DicomNetworkError as exc:
        print(f"nora pacs: error: {exc}", file=sys.stderr)
        return 1


def _echo(a, node, dicom, settings) -> int:
    from nora_server.dicom.scu import echo

    status = echo(node, ae_title=dicom.ae_title)
    print(f"{node.name}: C-ECHO status 0x{status:04X}")
    return 0 if status == 0 else 1


FIND_COLUMNS = {
    "PATIENT": ("PatientID", "PatientName", "PatientBirthDate", "NumberOfPatientRelatedStudies"),
    "STUDY": ("PatientID", "PatientName", "StudyDate", "ModalitiesInStudy", "StudyDescription",
              "NumberOfStudyRelatedSeries", "StudyInstanceUID"),
    "SERIES": ("SeriesNumber", "Modality", "SeriesDescription", "NumberOfSeriesRelatedInstances",
               "SeriesInstanceUID"),
}


def _find(a, node, dicom, settings) -> int:
    from nora_server.dicom.scu import find

    level = a.level.upper()
    keys = {"PatientName": a.name, "PatientID": a.id, "StudyDate": a.date,
            "Modality": a.modality, "StudyInstanceUID": a.study, "AccessionNumber": a.accession}
    if a.description:
        keys["SeriesDescription" if level == "SERIES" else "StudyDescription"] = a.description
    if level == "PATIENT":
        keys = {k: v for k, v in keys.items() if k in ("PatientName", "PatientID")}
    try:
        rows = find(node, level, ae_title=dicom.ae_title, **{k: v for k, v in keys.items() if v})
    except ValueError as exc:
        raise UsageError(f"nora pacs: error: {exc}") from None
    if a.json:
        print(to_json(rows))
        return 0
    cols = FIND_COLUMNS[level]
    print("\t".join(cols))
    for r in rows:
        print("\t".join(_cell(r.get(c)) for c in cols))
    print(f"{len(rows)} {a.level} match(es)", file=sys.stderr)
    return 0


def _cell(v) -> str:
    if isinstance(v, list):
        return "\\".join(str(x) for x in v)
    return "" if v is None else str(v)


def _pull(a, node, dicom, settings) -> int:
    from nora_server.dicom.api import workdir
    from nora_server.dicom.pull import PullTarget, pull

    target = PullTarget(a.study, tuple(a.series or ()))
    _, archive = _session(a.config)
    bars = StageBars()
    try:
        session = archive.session()
        try:
            report = pull(session, settings, node, a.project, [target], how=a.how,
                          dicom=dicom, progress=bars, workdir=workdir(settings.storage),
                          wait_s=a.wait or 0)
        finally:
            bars.close()
        _print_report(report.lines())
        ok = report.ok and report.completed > 0
        if ok and a.autoexec_queue and report.imported is not None and report.imported.refs:
            ok = _autoexec(settings, archive, session, a.project, a.autoexec_queue,
                           report.imported.refs)
        return 0 if ok else 1
    finally:
        archive.dispose()


def _send(a, node, dicom, settings) -> int:
    from nora_server.dicom.api import send_paths

    paths = [Path(p) for p in a.paths]
    if a.select:
        if not a.project:
            raise UsageError("nora pacs: error: --select needs -p PROJECT")
        _, archive = _session(a.config)
        try:
            paths += [f.abspath for f in archive.session().select_files(a.project, a.select)]
        finally:
            archive.dispose()
    if not paths:
        raise UsageError("nora pacs: error: nothing to send: give PATHs or -p P -s PATTERN")
    bars = StageBars()
    try:
        summary = send_paths(node, paths, ae_title=dicom.ae_title, progress=bars)
    finally:
        bars.close()
    print(f"{node.name}: {summary}")
    return 0 if summary.ok else 1


# -- noractl start|stop|status dicom -------------------------------------------------------

def _noractl_main(argv) -> int:
    from nora_server.dicom import service

    p = Parser(prog="noractl", description="the DICOM node")
    p.add_argument("command", choices=["start", "stop", "status"])
    p.add_argument("service", choices=["dicom"])
    p.add_argument("--config")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    setup_logging(a.verbose, "noractl")
    _quiet_pynetdicom(a.verbose)
    try:
        if a.command == "start":
            pid, log = service.start(a.config)
            st = service.status(a.config)
            print(f"DICOM node {st['ae_title']} listening on {st['host']}:{st['port']} "
                  f"(pid {pid}, log {log})")
            if not st["accepts"]:  # it would turn every sender away
                print("noractl: warning: no peer may send to the node yet: add [[dicom.peers]] "
                      "(ae_title, host) or [pacs.NAME] nodes to nora.toml, or set [dicom] open = "
                      "true (docs/dicom.md)", file=sys.stderr)
        elif a.command == "stop":
            pid = service.stop(a.config)
            print("DICOM node stopped" if pid else "DICOM node was not running")
        else:
            st = service.status(a.config)
            print(json.dumps(st, indent=1))
            return 0 if st["pid"] else 3
    except RuntimeError as exc:
        print(f"noractl: error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:  # pragma: no cover - for python -m
    argv = sys.argv[1:] if argv is None else argv
    return nora_dicom(argv) or 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

_ = argparse  # the parsers above are argparse-based (via common.Parser)
