"""Launch a 1000-subject, one-job batch on Slurm, beside a bare ``sbatch --array`` of the same
size in the same run; then refresh the 1000 job states and count the scheduler queries.

    .venv/bin/python bench/batch_launch.py [--subjects 1000] [--repeat 5] [--slurm-conf FILE]
                                           [--database mysql+pymysql://root@127.0.0.1:3306]

Without ``--slurm-conf`` it starts its own single-node Slurm (scripts/services/slurm.sh, with
slurmdbd on the MariaDB at 127.0.0.1) and stops it at the end. Both submissions are held
(``--hold``) so that timing measures submission only and no 1000 tasks run on a laptop; then
50 of our tasks are released and run, and the refresh sees done, queued and (after a bare
``scancel``) cancelled jobs. The launch records itself and its targets; its 1000 job rows are
written after it returns, by the first reader of the job table: timed apart, right after each
launch, and printed beside it. Goals: ours at most 2x the bare sbatch and under 10 s; one
refresh of 1000 job states in at most 2 scheduler queries. The job table is SQLite by default;
``--database`` puts it on a MariaDB server instead (a fresh database, dropped at the end).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nora_server.archive.db import make_engine, upgrade  # noqa: E402
from nora_server.batch.resolve import DirectoryFiles, StudyInfo, Target  # noqa: E402
from nora_server.batch.scheduler import SlurmScheduler  # noqa: E402
from nora_server.batch.service import BatchRunner  # noqa: E402
from nora_server.batch.states import Started  # noqa: E402

BATCH = {"name": "bench", "level": "subject", "resources": {"time_min": 5},
         "jobs": [{"name": "noop", "type": "bash", "code": "echo $s1", "args": [
             {"type": "STRING", "value": "hello"}]}]}


class Counting:
    """subprocess.run that counts scheduler commands."""

    def __init__(self):
        self.calls: list[str] = []
        self.seconds = 0.0

    def __call__(self, cmd, **kw):
        self.calls.append(cmd[0])
        t0 = time.perf_counter()
        try:
            return subprocess.run(cmd, **kw)
        finally:
            self.seconds += time.perf_counter() - t0

    def clear(self):
        self.calls.clear()
        self.seconds = 0.0


def bare_sbatch(n: int, folder: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(["sbatch", "--hold", f"--array=0-{n - 1}", "--parsable",
                          f"--output={folder}/bare_%A_%a.out", "--wrap", "true"],
                         capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - t0, out.strip().split(";")[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--slurm-conf")
    ap.add_argument("--database", help="server URL for the job table (default: SQLite)")
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="nora-bench-batch-"))
    own = a.slurm_conf is None
    db = f"nora_bench_slurm_{uuid.uuid4().hex[:8]}"
    if own:
        subprocess.run(["bash", str(REPO / "scripts/services/slurm.sh"), "start",
                        str(tmp / "slurm"), db], check=True, capture_output=True)
        a.slurm_conf = str(tmp / "slurm" / "etc" / "slurm.conf")
    try:
        return run(a, tmp)
    finally:
        if own:
            subprocess.run(["bash", str(REPO / "scripts/services/slurm.sh"), "stop",
                            str(tmp / "slurm")])
            subprocess.run(["mysql", "-h", "127.0.0.1", "-u", "root", "-e",
                            f"DROP DATABASE IF EXISTS `{db}`"])
        shutil.rmtree(tmp, ignore_errors=True)


def run(a, tmp: Path) -> int:
    counting = Counting()
    sched = SlurmScheduler(slurm_conf=a.slurm_conf, runner=counting, sbatch_extra={"hold": True})
    if a.database:
        from sqlalchemy import create_engine, text
        server = create_engine(a.database)
        name = f"nora_bench_batch_{uuid.uuid4().hex[:8]}"
        with server.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        engine = make_engine(f"{a.database.rstrip('/')}/{name}")
    else:
        engine = make_engine(f"sqlite:///{tmp / 'nora.sqlite'}")
    upgrade(engine)
    try:
        return measure(a, tmp, engine, counting, sched)
    finally:
        engine.dispose()
        if a.database:
            with server.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            server.dispose()


def measure(a, tmp: Path, engine, counting, sched) -> int:
    runner = BatchRunner(engine, sched, folder=tmp / "jobs", files=DirectoryFiles(str(tmp)))
    study = (StudyInfo("S1", "2020-01-01"),)
    targets = [Target("bench", f"P{i:04d}", study) for i in range(a.subjects)]
    ours, bare, launches, bare_ids, submit_only, cpu_ours, rows = [], [], [], [], [], [], []
    inner = sched.start_launch

    def timed_start(*args, **kw):  # the scheduler part: task pickle, sbatch script, sbatch
        t0 = time.perf_counter()
        started = inner(*args, **kw)

        def wait():  # the launch writes its rows before it waits for sbatch's answer
            try:
                return started.wait()
            finally:
                submit_only.append(time.perf_counter() - t0)
        return Started(wait)
    sched.start_launch = timed_start
    for _ in range(a.repeat):  # alternate, same run, same cluster
        t, jid = bare_sbatch(a.subjects, tmp)
        bare.append(t)
        bare_ids.append(jid)
        t0, c0 = time.perf_counter(), time.process_time()
        res = runner.launch(BATCH, targets, project="bench")
        ours.append(time.perf_counter() - t0)
        cpu_ours.append(time.process_time() - c0)
        launches.append(res)
        t0 = time.perf_counter()
        assert runner.write_pending() == 1  # what the first reader of the job table does
        rows.append(time.perf_counter() - t0)
        print(f"  run {len(ours)}: bare {bare[-1]:.3f} s, ours {ours[-1]:.3f} s (its submission "
              f"{submit_only[-1]:.3f} s; then its rows {rows[-1]:.3f} s)", file=sys.stderr)
    subprocess.run(["scancel", *bare_ids], check=True)
    for res in launches[:-1]:
        subprocess.run(["scancel", res.scheduler_ids[0].split("_")[0]], check=True)
        runner.refresh(launch_id=res.launch_id)
    res = launches[-1]
    o, b, sub = statistics.median(ours), statistics.median(bare), statistics.median(submit_only)
    print(f"job table on {engine.dialect.name}")
    print(f"submission of {a.subjects} tasks as one array (median of {a.repeat}, alternating):")
    print(f"  bare sbatch --array   {b:6.3f} s   (anchor; range {min(bare):.3f} - {max(bare):.3f})")
    print(f"  napari-nora launch    {o:6.3f} s   {o / b:5.2f}x  (validate, spec of {a.subjects} "
          f"targets, submission, the launch recorded; range {min(ours):.3f} - "
          f"{max(ours):.3f})")
    print(f"    its submission      {sub:6.3f} s   {sub / b:5.2f}x  (one task pickle, sbatch "
          "script, sbatch; the launch is recorded while sbatch runs)")
    r = statistics.median(rows)
    print(f"  then its {a.subjects} job rows {r:6.3f} s   {r / b:5.2f}x  (written after the launch "
          "returned, by the first reader of the job table; launch + rows "
          f"{(o + r) / b:.2f}x)")
    print(f"  goal: launch <= 2x bare and < 10 s: {'MET' if o <= 2 * b and o < 10 else 'NOT MET'}"
          f" (its submission: {'MET' if sub <= 2 * b else 'NOT MET'})")
    cpu = statistics.median(cpu_ours)
    print(f"  CPU time of the launching process: {cpu * 1000:.0f} ms per launch (median)")

    # refresh 1: all queued (held)
    base = res.scheduler_ids[0].split("_")[0]
    figures = []
    counting.clear()
    t0 = time.perf_counter()
    rep = runner.refresh(launch_id=res.launch_id)
    figures.append(("all held", time.perf_counter() - t0, list(counting.calls), counting.seconds,
                    rep))
    # release 50 tasks, let them run, then refresh: done + queued
    subprocess.run(["scontrol", "release", f"{base}_[0-49]"], check=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-t", "R,CG", "-j", base, "-o", "%i"],
                             capture_output=True, text=True).stdout.split()
        done = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "State", "-j", base],
                              capture_output=True, text=True).stdout.split().count("COMPLETED")
        if done >= 50 and not out:
            break
        time.sleep(1)
    counting.clear()
    t0 = time.perf_counter()
    rep = runner.refresh(launch_id=res.launch_id)
    figures.append(("50 done, rest held", time.perf_counter() - t0, list(counting.calls),
                    counting.seconds, rep))
    # cancel the rest behind our back (bare scancel), refresh: cancelled
    subprocess.run(["scancel", base], check=True)
    time.sleep(2)
    counting.clear()
    t0 = time.perf_counter()
    rep = runner.refresh(launch_id=res.launch_id)
    figures.append(("rest cancelled", time.perf_counter() - t0, list(counting.calls),
                    counting.seconds, rep))
    print(f"refresh of {a.subjects} job states:")
    ok = True
    for label, t, calls, q, rep in figures:
        ok &= len(calls) <= 2
        print(f"  {label:<20} {t * 1000:7.1f} ms  ({' + '.join(calls)}: {q * 1000:.0f} ms)  "
              f"checked {rep.checked}, states {rep.counts}, unknown {rep.unknown}")
    print(f"  goal <= 2 scheduler queries per refresh: {'MET' if ok else 'NOT MET'}")
    rows = runner.jobs(launch_id=res.launch_id, include_done=True)
    final = {s: sum(r.state == s for r in rows) for s in ("done", "cancelled", "queued")}
    print(f"  job table after the last refresh: {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
