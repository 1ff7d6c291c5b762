"""Batch commands of ``nora`` and ``noractl`` (hooked in by one line in each ``main``).

    nora -p P --launch JSON [--select REFS] [--level subject|study] [--queue Q]
                            [--handle_job_result] [--throwerror]
    nora -p P --launchfile FILE [...]                  same, the JSON in a file
    nora -p P --launch_autoexec PSID [--autoexec_queue Q]
    nora -p P --savebatch FILE                         store a batch in the project
    nora jobs [-p P] [--state e,q,r,c,d | --all] [--launch ID] [--json]
                                                       list (after one refresh)
    nora jobs --kill ID... | --log ID | --show ID | --rerun LAUNCH | --rerun_jobs ID...
    nora jobs -p P --clear [--state d,c,e]             forget finished jobs (default: done)
    noractl test slurm                                 check the configured cluster

JSON is a batch document (see docs/batch.md), or ``{"batch": <document or saved name>,
"select": ["P001", "P002#S1"], "bars": {"id": "P00"}}``, or the name of a saved batch.
Without a selection the batch runs for every subject (or study) of the project.
--handle_job_result waits for the jobs, then prints DONE; --throwerror waits and exits 1 when
any job failed. Configuration: the ``[batch]`` section of ``nora.toml`` (docs/batch.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from nora_server.batch.site import batch_section, jobs_folder
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
                   help="launch the project's autoexecution queue for PID or PID#SID "
                        "(comma-separated for several)")
    g.add_argument("--savebatch", metavar="FILE", help="store the batch in FILE in the project")
    p.add_argument("--autoexec_queue", default="DEFAULT")
    p.add_argument("--select", metavar="REFS", help="comma-separated PID or PID#SID to run for")
    p.add_argument("--level", choices=("subject", "study"), help="override the batch's level")
    p.add_argument("--queue", help="the site queue to run on: processing or import")
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
    p.add_argument("--search", help="a piece of subject, study, batch, scheduler id or message")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--kill", nargs="+", type=int, metavar="ID", help="cancel these jobs")
    g.add_argument("--log", type=int, metavar="ID", help="print the log of this job")
    g.add_argument("--show", type=int, metavar="ID", help="print the job as JSON")
    g.add_argument("--rerun", metavar="LAUNCH", help="re-run the failed/cancelled jobs of LAUNCH")
    g.add_argument("--rerun_jobs", nargs="+", type=int, metavar="ID",
                   help="re-run these finished jobs")
    g.add_argument("--clear", action="store_true",
                   help="forget finished jobs of -p P (--state, default d)")
    p.add_argument("--json", action="store_true")
    return p


def _open(a):
    from nora_server.archive.core import Archive
    from nora_server.batch.site import open_runner
    from nora_server.config import load_settings
    settings = load_settings(a.config)
    archive = Archive.from_settings(settings)
    session = archive.session()
    return settings, archive, session, open_runner(settings, archive, session)


def _launch_request(session, a) -> tuple[dict, dict]:
    """(batch document, selection) from --launch/--launchfile."""
    from nora_server.batch.archive_link import load_batch
    try:
        text = a.launch if a.launch is not None else Path(a.launchfile).read_text()
    except OSError as exc:
        raise UsageError(f"nora: error: cannot read --launchfile: {exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:  # where it broke: "line 2 column 49"
        if a.launch is None or text.lstrip().startswith(("{", "[")):
            where = a.launchfile if a.launch is None else "--launch"
            raise UsageError(f"nora: error: {where} is not valid JSON: {exc}") from None
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
    from nora_server.archive.rights import require
    from nora_server.batch.archive_link import archive_targets, launch_autoexec, save_batch
    settings, archive, session, runner = _open(a)
    try:
        if a.savebatch:
            try:
                doc = json.loads(Path(a.savebatch).read_text())
            except ValueError as exc:
                raise UsageError(f"nora: error: {a.savebatch} is not valid JSON: {exc}") from None
            name = save_batch(session, a.project, doc)
            print(f"saved batch {name!r} in project {a.project}")
            return 0
        require(session.role(a.project), "write", a.project, session.user)
        run_opts = {"queue": a.queue} if a.queue else None
        if a.launch_autoexec:
            res = launch_autoexec(session, a.project, a.launch_autoexec.split(","),
                                  a.autoexec_queue, settings=settings, runner=runner,
                                  resources=run_opts)
        else:
            doc, selection = _launch_request(session, a)
            if a.level:
                doc = {**doc, "level": a.level}
            refs = [r for r in a.select.split(",") if r] if a.select else selection.get("select")
            targets = archive_targets(session, a.project, level=doc.get("level", "subject"),
                                      refs=refs, bars=selection.get("bars"))
            res = runner.launch(doc, targets, project=a.project, resources=run_opts)
        print(f"launched {res.launch_id}: {res.count} job(s) on {runner.scheduler.kind} "
              f"({_span(res.scheduler_ids)})")
        if not (a.handle_job_result or a.throwerror):
            return 0
        rows = _wait(runner, res.launch_id, a.timeout, res.count)
        failed = [r for r in rows if r.state != "done"]
        for r in failed:
            print(f"job {r.id} {r.subject}{'#' + r.study if r.study else ''}: {r.state}: "
                  f"{r.message or ''}", file=sys.stderr)
        if a.handle_job_result:
            print("DONE")
        return 1 if (a.throwerror and failed) else 0
    finally:
        archive.dispose()


def _span(ids: list[str]) -> str:
    """The scheduler's ids of a launch, first..last."""
    return ids[0] if len(ids) == 1 else f"{ids[0]}..{ids[-1]}"


def _wait(runner, launch_id: str, timeout: float, total: int | None = None) -> list:
    """Refresh until no job of the launch is queued or running (a progress bar on a
    terminal); the launch's rows."""
    from nora_server.cli.common import progress_bar
    update, bar = progress_bar(total, "jobs")
    bar.unit = "job"
    deadline = time.monotonic() + timeout
    delay = 0.25
    try:
        while True:
            rep = runner.refresh(launch_id=launch_id)
            if total is not None:
                update(total - rep.checked + sum(rep.counts.get(s, 0) for s in
                                                 ("done", "error", "cancelled")) - bar.n)
            active = rep.checked - sum(rep.counts.get(s, 0) for s in
                                       ("done", "error", "cancelled"))
            if rep.checked == 0 or active == 0:
                return runner.jobs(launch_id=launch_id, include_done=True)
            if time.monotonic() > deadline:
                raise UsageError(f"nora: error: launch {launch_id} still running after "
                                 f"{timeout:.0f} s (see 'nora jobs --launch {launch_id}')")
            time.sleep(delay)
            delay = min(delay * 1.5, 3.0)
    finally:
        bar.close()


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


def _print_rows(rows) -> None:
    """The jobs as a table, each column as wide as its longest value (study ids with a time
    are 20 characters and more)."""
    if not rows:
        print("no jobs", file=sys.stderr)
        return
    table = [("id", "state", "project", "subject/study", "batch", "scheduler id", "submitted",
              "message")]
    for r in rows:
        table.append((str(r.id), r.state, r.project, r.subject + (f"#{r.study}" if r.study else ""),
                      r.batch_name, f"{r.scheduler}:{r.scheduler_id or '-'}",
                      r.submitted.strftime("%Y-%m-%d %H:%M") if r.submitted else "",
                      " ".join((r.message or "").split())))  # one line per job
    widths = [max(len(row[k]) for row in table) for k in range(len(table[0]) - 1)]
    for row in table:
        cells = [row[0].rjust(widths[0])] + [c.ljust(w) for c, w in zip(row[1:-1], widths[1:])]
        print("  ".join(cells + [row[-1]]).rstrip())


def _jobs(a) -> int:
    setup_logging(a.verbose, "nora")
    from nora_server.batch.client import BatchClient
    settings, archive, session, runner = _open(a)
    client = BatchClient(session, settings, runner=runner)
    try:
        if a.log is not None:
            print(client.log(a.log, tail=None))
            return 0
        if a.show is not None:
            from nora_server.cli.common import to_json
            print(to_json(client.job(a.show)))
            return 0
        if a.kill:
            print(f"cancelled {client.cancel(a.kill)} job(s)")
            return 0
        if a.rerun:
            res = client.rerun_failed(a.rerun)
            print(f"launched {res.launch_id}: {res.count} job(s) re-run from {a.rerun}")
            return 0
        if a.rerun_jobs:
            for res in client.rerun_jobs(a.rerun_jobs):
                print(f"launched {res.launch_id}: {res.count} job(s) re-run")
            return 0
        if a.clear:
            if not a.project:
                raise UsageError("nora jobs: error: --clear needs -p PROJECT")
            from nora_server.archive.rights import require
            require(session.role(a.project), "write", a.project, session.user)
            n = runner.clear(project=a.project, states=_states(a.state) or ["done"],
                             launch_id=a.launch_id)
            print(f"cleared {n} job(s)")
            return 0
        rep = client.refresh(a.project)
        if rep.error:
            print(f"nora: warning: job states not refreshed ({rep.error}); showing the last "
                  "known states", file=sys.stderr)
        rows = client.jobs(a.project, states=_states(a.state), launch_id=a.launch_id,
                           include_done=a.all, search=a.search)
        if a.json:
            from nora_server.cli.common import to_json
            print(to_json(rows))
            return 0
        from types import SimpleNamespace
        _print_rows([SimpleNamespace(**r) for r in rows])
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
    scheduler = SlurmScheduler(slurm_conf=section.get("slurm_conf"),
                               sbatch_extra=section.get("sbatch"))
    partitions = [p for p in (section.get("partition"), section.get("import_partition")) if p]
    folder = jobs_folder(settings, section) / "test-slurm" / time.strftime("%Y%m%d-%H%M%S")
    try:
        ok = check_slurm(scheduler, folder, partitions)
    except SchedulerUnavailable as exc:
        print(f"noractl: error: Slurm does not answer: {exc}", file=sys.stderr)
        return 1
    print("slurm: OK" if ok else "slurm: FAILED")
    return 0 if ok else 1
