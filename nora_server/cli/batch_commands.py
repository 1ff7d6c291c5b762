"""Batch commands of ``nora`` and ``noractl`` (hooked in by one line in each ``main``).

    nora -p P --launch JSON [--select REFS] [--level subject|study] [--handle_job_result]
                            [--throwerror]
    nora -p P --launchfile FILE [...]                  same, the JSON in a file
    nora -p P --launch_autoexec PSID [--autoexec_queue Q]
    nora -p P --savebatch FILE                         store a batch in the project
    nora jobs [-p P] [--state e,q,r,c,d | --all] [--launch ID]   list (after one refresh)
    nora jobs --kill ID... | --log ID | --rerun LAUNCH
    noractl test slurm                                 check the configured cluster

JSON is a batch document (see docs/batch.md), or ``{"batch": <document or saved name>,
"select": ["P001", "P002#S1"], "bars": {"id": "P00"}}``, or the name of a saved batch.
Without a selection the batch runs for every subject (or study) of the project.

Configuration: the ``[batch]`` section of ``nora.toml``::

    [batch]
    executor = "slurm"           # or "local" (default)
    folder = "/data/nora/jobs"   # submitit files and logs (default: beside the storage)
    slurm_conf = "/etc/slurm/slurm.conf"
    partition = "DPXproc"        # processing queue; import_partition = "DPXimport"
    cpus = 1
    mem_gb = 4
    time_min = 120
    sbatch = {account = "imaging"}   # any other sbatch option
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from nora_server.cli.common import Parser, UsageError, setup_logging

LAUNCH_FLAGS = ("--launch", "-l", "--launchfile", "--launch_autoexec", "--savebatch")
STATE_LETTERS = {"q": "queued", "r": "running", "e": "error", "c": "cancelled", "d": "done"}


def handles_nora(argv) -> bool:
    """True when ``nora`` should hand ``argv`` to this module."""
    return bool(argv) and (argv[0] == "jobs" or any(
        a in LAUNCH_FLAGS or a.split("=")[0] in LAUNCH_FLAGS for a in argv))


def handles_noractl(argv) -> bool:
    words = [a for a in argv if not a.startswith("-")]
    return words[:2] == ["test", "slurm"]


# -- wiring: settings -> runner --------------------------------------------------------------
def batch_section(settings) -> dict:
    return dict(settings.sections.get("batch") or {})


def make_scheduler(section: dict):
    from nora_server.batch.scheduler import LocalScheduler, SlurmScheduler
    kind = section.get("executor", "local")
    if kind == "slurm":
        return SlurmScheduler(slurm_conf=section.get("slurm_conf"),
                              sbatch_extra=section.get("sbatch"))
    if kind == "local":
        return LocalScheduler()
    raise UsageError(f"[batch] executor = {kind!r} in nora.toml: use 'local' or 'slurm'")


def jobs_folder(settings, section: dict) -> Path:
    return Path(section.get("folder") or Path(settings.storage).parent / "jobs")


def make_runner(settings, archive, session):
    """The BatchRunner for a site: its scheduler, folder, files and registrar from settings."""
    from nora_server.batch.archive_link import (ArchiveAccess, ArchiveFiles, ArchiveRegistrar,
                                                install_job_filter)
    from nora_server.batch.scheduler import Resources
    from nora_server.batch.service import BatchRunner

    install_job_filter()
    section = batch_section(settings)
    access = ArchiveAccess.of(session, settings.path)
    defaults = Resources(section.get("partition"), int(section.get("cpus", 1)),
                         section.get("mem_gb"), int(section.get("time_min", 60)))
    return BatchRunner(archive.engine, make_scheduler(section), folder=jobs_folder(settings, section),
                       files=ArchiveFiles(access), registrar=ArchiveRegistrar(access),
                       job_env=access.job_env(), user=session.user, default_resources=defaults)


# -- nora --launch ... / nora jobs ---------------------------------------------------------
def build_parser() -> Parser:
    p = Parser(prog="nora", description="NORA batch processing",
               formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("-p", "--project")
    p.add_argument("--config")
    p.add_argument("-v", "--verbose", action="store_true")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-l", "--launch", metavar="JSON", help="launch a batch given as JSON")
    g.add_argument("--launchfile", metavar="FILE", help="launch the batch in FILE")
    g.add_argument("--launch_autoexec", metavar="PSID",
                   help="launch the project's autoexecution queue for PID or PID#SID")
    g.add_argument("--savebatch", metavar="FILE", help="store the batch in FILE in the project")
    p.add_argument("--autoexec_queue", default="DEFAULT")
    p.add_argument("--select", metavar="REFS", help="comma-separated PID or PID#SID to run for")
    p.add_argument("--level", choices=("subject", "study"), help="override the batch's level")
    p.add_argument("--handle_job_result", action="store_true",
                   help="wait for the jobs, then print DONE")
    p.add_argument("--throwerror", action="store_true",
                   help="wait for the jobs; exit 1 if any of them failed")
    p.add_argument("--timeout", type=float, default=24 * 3600,
                   help="with --handle_job_result/--throwerror: give up after this many seconds")
    return p


def build_jobs_parser() -> Parser:
    p = Parser(prog="nora jobs", description="the job table (NORA's gridjobs)")
    p.add_argument("-p", "--project")
    p.add_argument("--config")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--state", help="letters or names: e (error), q (queued), r (running), "
                                   "c (cancelled), d (done); default: all but done")
    p.add_argument("--all", action="store_true", help="include finished jobs")
    p.add_argument("--launch", dest="launch_id", help="only this launch")
    p.add_argument("--kill", nargs="+", type=int, metavar="ID", help="cancel these jobs")
    p.add_argument("--log", type=int, metavar="ID", help="print the log of this job")
    p.add_argument("--rerun", metavar="LAUNCH", help="re-run the failed/cancelled jobs of LAUNCH")
    p.add_argument("--json", action="store_true")
    return p


def _open(a):
    from nora_server.archive.core import Archive
    from nora_server.config import load_settings
    settings = load_settings(a.config)
    archive = Archive.from_settings(settings)
    session = archive.session()
    return settings, archive, session, make_runner(settings, archive, session)


def _launch_request(session, a) -> tuple[dict, dict]:
    """(batch document, selection) from --launch/--launchfile."""
    from nora_server.batch.archive_link import load_batch
    text = a.launch if a.launch is not None else Path(a.launchfile).read_text()
    try:
        doc = json.loads(text)
    except ValueError:
        if a.launch is None:
            raise UsageError(f"nora: error: {a.launchfile} is not valid JSON") from None
        doc = text.strip()  # the name of a saved batch
    selection: dict = {}
    if isinstance(doc, dict) and "jobs" not in doc and "batch" in doc:
        selection = {k: doc[k] for k in ("select", "bars") if k in doc}
        doc = doc["batch"]
    if isinstance(doc, str):
        doc = load_batch(session, a.project, doc)
    if not isinstance(doc, dict):
        raise UsageError("nora: error: --launch needs a batch object, a wrapper with 'batch', "
                         "or the name of a saved batch")
    return doc, selection


def nora_main(argv) -> int:
    """Entry for ``nora`` batch commands; returns the exit code (errors: message + 1)."""
    from nora_server.batch.model import BatchError
    from nora_server.batch.resolve import MissingInputError
    from nora_server.batch.scheduler import SchedulerUnavailable
    try:
        if argv and argv[0] == "jobs":
            return _jobs(build_jobs_parser().parse_args(argv[1:]))
        return _launch(build_parser().parse_args(argv))
    except (BatchError, MissingInputError, SchedulerUnavailable, OSError) as exc:
        print(f"nora: error: {exc}", file=sys.stderr)
        return 1


def _launch(a) -> int:
    setup_logging(a.verbose, "nora")
    if not a.project:
        raise UsageError("nora: error: batch commands need -p PROJECT")
    from nora_server.batch.archive_link import archive_targets, autoexec_batch, save_batch
    settings, archive, session, runner = _open(a)
    try:
        if a.savebatch:
            name = save_batch(session, a.project, json.loads(Path(a.savebatch).read_text()))
            print(f"saved batch {name!r} in project {a.project}")
            return 0
        if a.launch_autoexec:
            doc = autoexec_batch(session, a.project, a.autoexec_queue)
            selection = {"select": [a.launch_autoexec]}
        else:
            doc, selection = _launch_request(session, a)
        if a.level:
            doc = {**doc, "level": a.level}
        refs = [r for r in a.select.split(",") if r] if a.select else selection.get("select")
        level = doc.get("level", "subject")
        targets = archive_targets(session, a.project, level=level, refs=refs,
                                  bars=selection.get("bars"))
        res = runner.launch(doc, targets, project=a.project)
        print(f"launched {res.launch_id}: {len(res.job_ids)} job(s) on "
              f"{runner.scheduler.kind} (job ids {res.job_ids[0]}..{res.job_ids[-1]})")
        if not (a.handle_job_result or a.throwerror):
            return 0
        rows = _wait(runner, res.launch_id, a.timeout)
        failed = [r for r in rows if r.state != "done"]
        for r in failed:
            print(f"job {r.id} {r.subject}{'#' + r.study if r.study else ''}: {r.state}: "
                  f"{r.message or ''}", file=sys.stderr)
        if a.handle_job_result:
            print("DONE")
        return 1 if (a.throwerror and failed) else 0
    finally:
        archive.dispose()


def _wait(runner, launch_id: str, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    delay = 0.25
    while True:
        rep = runner.refresh(launch_id=launch_id)
        if rep.checked == 0:
            return runner.jobs(launch_id=launch_id, include_done=True)
        if time.monotonic() > deadline:
            raise UsageError(f"nora: error: launch {launch_id} still running after "
                             f"{timeout:.0f} s (see 'nora jobs --launch {launch_id}')")
        time.sleep(delay)
        delay = min(delay * 1.5, 3.0)


def _states(text: str | None) -> list[str] | None:
    if not text:
        return None
    out = []
    for part in text.replace(",", " ").split():
        if part in STATE_LETTERS.values():
            out.append(part)
        else:
            for c in part:
                if c not in STATE_LETTERS:
                    raise UsageError(f"nora jobs: error: unknown state {c!r} in {text!r}; use "
                                     "e, q, r, c, d (or their names)")
                out.append(STATE_LETTERS[c])
    return out


def _jobs(a) -> int:
    setup_logging(a.verbose, "nora")
    settings, archive, session, runner = _open(a)
    try:
        if a.log is not None:
            print(runner.log_text(a.log))
            return 0
        if a.kill:
            print(f"cancelled {runner.cancel(a.kill)} job(s)")
            return 0
        if a.rerun:
            res = runner.rerun(a.rerun)
            print(f"launched {res.launch_id}: {len(res.job_ids)} job(s) re-run from {a.rerun}")
            return 0
        rep = runner.refresh(project=a.project)
        if rep.error:
            print(f"nora: warning: job states not refreshed ({rep.error}); showing the last "
                  "known states", file=sys.stderr)
        rows = runner.jobs(project=a.project, states=_states(a.state), launch_id=a.launch_id,
                           include_done=a.all)
        if a.json:
            from nora_server.cli.common import to_json
            print(to_json([dict(r._mapping) for r in rows]))
            return 0
        for r in rows:
            target = r.subject + (f"#{r.study}" if r.study else "")
            print(f"{r.id:>6}  {r.state:<9}  {r.project}  {target:<20}  {r.batch_name:<20}  "
                  f"{r.scheduler}:{r.scheduler_id or '-'}  {r.message or ''}")
        return 0
    finally:
        archive.dispose()


# -- noractl test slurm ------------------------------------------------------------------------
def noractl_main(argv) -> int:
    p = Parser(prog="noractl test slurm", description="check the configured Slurm cluster")
    p.add_argument("--config")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("words", nargs="*")
    a = p.parse_args(argv)
    setup_logging(a.verbose, "noractl")
    from nora_server.batch.clustercheck import check_slurm
    from nora_server.batch.scheduler import SchedulerUnavailable, SlurmScheduler
    from nora_server.config import load_settings
    settings = load_settings(a.config)
    section = batch_section(settings)
    scheduler = SlurmScheduler(slurm_conf=section.get("slurm_conf"))
    partitions = [p for p in (section.get("partition"), section.get("import_partition")) if p]
    folder = jobs_folder(settings, section) / "test-slurm" / time.strftime("%Y%m%d-%H%M%S")
    try:
        ok = check_slurm(scheduler, folder, partitions)
    except SchedulerUnavailable as exc:
        print(f"noractl: error: Slurm does not answer: {exc}", file=sys.stderr)
        return 1
    print("slurm: OK" if ok else "slurm: FAILED")
    return 0 if ok else 1
