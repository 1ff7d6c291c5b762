"""``noractl test slurm``: check the configured cluster end to end.

Partitions answer (``sinfo``), a two-task array runs through submitit, accounting (``sacct``)
reports it, and the tasks import this package on the compute node.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from nora_server.batch.scheduler import Resources, SlurmScheduler
from nora_server.batch.states import run_command


def probe(i: int) -> dict:
    """What a task reports back (runs on the compute node)."""
    import nora_server
    return {"task": i, "host": socket.gethostname(), "python": sys.executable,
            "nora_server": nora_server.__version__}


def check_slurm(scheduler: SlurmScheduler, folder: Path, partitions: list[str],
                *, timeout: float = 120.0, say=print) -> bool:
    """Run the checks, reporting each line through ``say``; True when all passed."""
    ok = True
    out = run_command(["sinfo", "-h", "-o", "%P|%a|%D|%t"], scheduler.runner, 1, 0.5)
    found = {line.split("|")[0].rstrip("*"): line for line in out.split()}
    say(f"sinfo: {', '.join(sorted(found)) or 'no partition'}")
    for p in partitions:
        if p not in found:
            say(f"FAIL partition {p!r} is not configured in Slurm (have: {', '.join(found)}); "
                "add it to slurm.conf or change [batch] partition in nora.toml")
            ok = False
    part = next((p for p in partitions if p in found), None)
    t0 = time.perf_counter()
    subs = scheduler.submit_array(probe, [(0,), (1,)], folder, Resources(partition=part,
                                                                          time_min=5),
                                  "nora-test-slurm")
    say(f"submitted array {subs[0].job_id.split('_')[0]} (2 tasks) to {part or 'default'} "
        f"in {time.perf_counter() - t0:.2f} s")
    refs = {s.job_id: folder / "none" for s in subs}
    deadline = time.monotonic() + timeout
    states: dict = {}
    while time.monotonic() < deadline:
        states = {k: o.state for k, o in scheduler.query(refs).items()}
        if all(s in ("done", "error", "cancelled") for s in states.values()):
            break
        time.sleep(0.5)
    listing = ", ".join(f"{k} {v or 'unknown'}" for k, v in sorted(states.items()))
    say(f"sacct: {listing} after {time.perf_counter() - t0:.1f} s")
    if set(states.values()) != {"done"}:
        say(f"FAIL the test jobs did not complete; logs: {subs[0].stdout}, {subs[0].stderr}")
        return False
    import submitit
    for s in subs:
        res = submitit.SlurmJob(folder, s.job_id).result()
        say(f"task {res['task']} ran on {res['host']} with {res['python']} "
            f"(nora_server {res['nora_server']})")
    return ok
