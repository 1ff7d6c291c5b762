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
import tempfile
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


def _import_main(argv) -> int:
    from nora_server.dicom.archive_target import ArchiveTarget
    from nora_server.dicom.importer import ImportOptions, import_path
    from nora_server.dicom.settings import DicomSettings
    from nora_server.dicom.zipsafe import UnsafeArchiveError

    a = import_parser().parse_args(argv)
    setup_logging(a.verbose, "nora")
    settings, archive = _session(a.config)
    try:
        session = archive.session()
        archive.recover()
        dicom = DicomSettings.from_mapping(settings.sections, storage_root=settings.storage)
        options = ImportOptions(
            patients_id=a.patients_id, studies_id=a.studies_id, pattern=a.pattern,
            extrafiles_filter=tuple(e for e in (a.extrafiles_filter or "").split(",") if e),
            policy=dicom.policy(a.project))
        target = ArchiveTarget(session, a.project)
        bars = {}

        def progress(stage, done, total):
            if stage not in bars:
                for b in bars.values():
                    b[1].close()
                bars[stage] = progress_bar(total, "indexing" if stage == "index" else "placing")
            update, bar = bars[stage]
            update(done - bar.n)
        try:
            report = import_path(Path(a.source), target, options, progress=progress,
                                 workdir=_workdir(settings.storage))
        except (UnsafeArchiveError, FileNotFoundError) as exc:
            raise UsageError(f"nora: error: {exc}") from None
        finally:
            for _, bar in bars.values():
                bar.close()
        for line in report.lines():
            print(line, file=sys.stderr if not line.startswith("imported") else sys.stdout)
        failed = bool(report.errors) and not report.imported
        if a.autoexec_queue and report.refs:
            failed = not _autoexec(session, a.project, a.autoexec_queue, report.refs) or failed
        return 1 if failed else 0
    finally:
        archive.dispose()


def _workdir(storage: Path) -> str | None:
    """Temporary files on the storage file system (cheap renames), if writable."""
    d = Path(storage) / ".nora-import-tmp"
    try:
        d.mkdir(exist_ok=True)
        return str(d)
    except OSError:
        return None


def _autoexec(session, project, queue, refs) -> bool:
    """Start the project's autoexecution queue on the imported studies.

    The batch package owns launching; this calls ``launch_autoexec(session, project, refs,
    queue)`` from :mod:`nora_server.batch.archive_link` when it exists, else checks that the
    queue is there and says how to launch it."""
    from nora_server.batch import archive_link

    launcher = getattr(archive_link, "launch_autoexec", None)
    try:
        if launcher is not None:
            launcher(session, project, refs, queue)
            print(f"autoexec {queue}: launched for {', '.join(refs)}", file=sys.stderr)
            return True
        archive_link.autoexec_batch(session, project, queue)  # the queue must exist
    except archive_link.BatchError as exc:
        print(f"nora: autoexec {queue}: {exc}", file=sys.stderr)
        return False
    print(f"nora: autoexec {queue}: this installation cannot launch batches from an import; "
          f"launch it with nora -p {project} --launch_autoexec for {', '.join(refs)}",
          file=sys.stderr)
    return False


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
    pl.add_argument("--series", help="SeriesInstanceUID (default: the whole study)")
    how = pl.add_mutually_exclusive_group()
    how.add_argument("--move", dest="how", action="store_const", const="move",
                     help="C-MOVE to our node (it must run: noractl start dicom)")
    how.add_argument("--get", dest="how", action="store_const", const="get",
                     help="C-GET on the same association, imported right away")
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
    from nora_server.dicom import scu
    from nora_server.dicom.service import running_pid, write_hint

    level = "SERIES" if a.series else "STUDY"
    uids = {"StudyInstanceUID": a.study}
    if a.series:
        uids["SeriesInstanceUID"] = a.series
    how = a.how or node.retrieve
    _, archive = _session(a.config)
    try:  # the project must exist and take writes before anything is retrieved
        from nora_server.archive.rights import require

        session = archive.session()
        require(session.role(a.project), "write", a.project, session.user)
    finally:
        archive.dispose()
    update, bar = progress_bar(None, f"{'moving' if how == 'move' else 'getting'} from "
                                     f"{node.name}")

    def progress(done, total):
        bar.total = total
        update(done - bar.n)
    try:
        if how == "move":
            if dicom.spool is None or running_pid(dicom) is None:
                raise UsageError("nora pacs: error: C-MOVE needs our DICOM node running "
                                 "(noractl start dicom), or use --get")
            write_hint(dicom.spool, a.study, a.project)
            summary = scu.move(node, level, uids, destination=dicom.ae_title,
                               ae_title=dicom.ae_title, progress=progress)
            bar.close()
            print(f"{node.name}: {summary}; the node imports the study into {a.project} once "
                  f"it has been quiet for {dicom.quiet_seconds:g} s")
            return 0 if summary.ok else 1
        with tempfile.TemporaryDirectory(prefix="nora-get-", dir=_workdir(settings.storage)) as t:
            summary = scu.get(node, level, uids, Path(t), ae_title=dicom.ae_title,
                              progress=progress)
            bar.close()
            print(f"{node.name}: {summary}")
            if summary.files:
                return _import_main(["-p", a.project, "--import", t]
                                    + (["--config", a.config] if a.config else [])) \
                    or (0 if summary.ok else 1)
        return 0 if summary.ok else 1
    finally:
        bar.close()


def _send(a, node, dicom, settings) -> int:
    from nora_server.dicom.scu import send

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
    update, bar = progress_bar(None, f"sending to {node.name}")

    def progress(done, total):
        bar.total = total
        update(done - bar.n)
    try:
        summary = send(node, paths, ae_title=dicom.ae_title, progress=progress)
    finally:
        bar.close()
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
