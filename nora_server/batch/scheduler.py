"""Executors (submitit: local or Slurm), the one-query state refresh, and cancel.

A scheduler submits one array per launch, answers "what are these jobs doing?" for any number
of jobs with ONE scheduler query (``sacct`` for Slurm; retried with backoff when it fails, and a
job the scheduler does not report stays as it was: unknown is not error), and cancels jobs with
one ``scancel``. Status files written by the task (runner.py) give messages and, for the local
executor, the state itself.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nora_server.batch.runner import read_status

log = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "error", "cancelled")
FINAL = frozenset({"done", "error", "cancelled"})
SLURM_STATES = {
    "PENDING": "queued", "REQUEUED": "queued", "REQUEUE_HOLD": "queued", "REQUEUE_FED": "queued",
    "CONFIGURING": "running", "RUNNING": "running", "COMPLETING": "running",
    "SUSPENDED": "running", "RESIZING": "running", "STAGE_OUT": "running", "SIGNALING": "running",
    "COMPLETED": "done",
    "CANCELLED": "cancelled", "REVOKED": "cancelled",
    "FAILED": "error", "TIMEOUT": "error", "NODE_FAIL": "error", "OUT_OF_MEMORY": "error",
    "BOOT_FAIL": "error", "DEADLINE": "error", "PREEMPTED": "error", "SPECIAL_EXIT": "error",
}
SLURM_REASONS = {"TIMEOUT": "the job ran past its time limit", "OUT_OF_MEMORY": "out of memory",
                 "NODE_FAIL": "the node failed", "PREEMPTED": "preempted",
                 "DEADLINE": "its deadline passed", "BOOT_FAIL": "the node failed to boot"}


class SchedulerUnavailable(RuntimeError):
    """The scheduler did not answer (after retries); job states are unknown, not errors."""


@dataclass(frozen=True)
class Resources:
    partition: str | None = None
    cpus: int = 1
    mem_gb: float | None = None
    time_min: int = 60
    array_parallelism: int | None = None  # tasks of one array running at once (None: all)

    @classmethod
    def from_dict(cls, d: dict | None, default: "Resources | None" = None) -> "Resources":
        base = default or cls()
        d = d or {}
        return cls(d.get("partition", base.partition), int(d.get("cpus", base.cpus)),
                   d.get("mem_gb", base.mem_gb), int(d.get("time_min", base.time_min)),
                   d.get("array_parallelism", base.array_parallelism))


@dataclass(frozen=True)
class Submitted:
    job_id: str
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Observation:
    state: str | None           # one of STATES, or None when the scheduler does not know the job
    started: str | None = None
    finished: str | None = None
    message: str | None = None


def _run(cmd, runner, retries: int, backoff_s: float) -> str:
    """Run a scheduler command, retrying with exponential backoff; raise SchedulerUnavailable."""
    err = ""
    for attempt in range(retries + 1):
        try:
            proc = runner(cmd, capture_output=True, text=True, timeout=60)
            if proc.returncode == 0:
                return proc.stdout
            err = (proc.stderr or proc.stdout or "").strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            err = str(exc)
        if attempt < retries:
            log.warning("%s failed (%s); retrying in %.1f s", cmd[0], err, backoff_s * 2 ** attempt)
            time.sleep(backoff_s * 2 ** attempt)
    raise SchedulerUnavailable(f"{cmd[0]} failed {retries + 1} times: {err}")


def expand_array_ids(job_id: str) -> list[str]:
    """``"12_[3-5,9%4]"`` -> ``["12_3", "12_4", "12_5", "12_9"]``; other ids unchanged."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job_id)
    if not m:
        return [job_id]
    base, spec = m.group(1), m.group(2).split("%")[0]
    out = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += [f"{base}_{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return out


def _final_info(obs_state: str, status: dict, reason: str | None) -> tuple[str | None, str | None]:
    message = status.get("message") if obs_state == "error" else None
    if obs_state == "error" and reason:
        message = f"{reason}" + (f"; {message}" if message else "")
    return status.get("finished"), message


class SlurmScheduler:
    """Slurm through submitit. ``slurm_conf`` (else ``$SLURM_CONF``) selects the cluster."""
    kind = "slurm"

    def __init__(self, *, slurm_conf: str | None = None, runner=subprocess.run,
                 retries: int = 3, backoff_s: float = 0.5, python: str | None = None,
                 sbatch_extra: dict | None = None):
        if slurm_conf:
            os.environ["SLURM_CONF"] = str(slurm_conf)
        self.runner, self.retries, self.backoff_s, self.python = runner, retries, backoff_s, python
        self.sbatch_extra = dict(sbatch_extra or {})  # site options: account, qos, hold...

    def _executor(self, folder: Path, resources: Resources, name: str, n: int):
        import submitit
        ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=0, python=self.python)
        params = dict(job_name=name, cpus_per_task=resources.cpus, time=resources.time_min,
                      array_parallelism=resources.array_parallelism or max(n, 1),
                      use_srun=False, signal_delay_s=min(90, resources.time_min * 6))
        if resources.partition:
            params["partition"] = resources.partition
        if resources.mem_gb:
            params["mem"] = f"{int(resources.mem_gb * 1024)}M"
        if self.sbatch_extra:
            params["additional_parameters"] = self.sbatch_extra
        ex.update_parameters(**params)
        return ex

    def submit_array(self, fn, args: list[tuple], folder: Path, resources: Resources,
                     name: str) -> list[Submitted]:
        """Any function over a list of argument tuples, as one array (submitit's map_array)."""
        jobs = self._executor(folder, resources, name, len(args)).map_array(fn, *zip(*args))
        return [Submitted(j.job_id, str(j.paths.stdout), str(j.paths.stderr)) for j in jobs]

    def submit_launch(self, spec_path: Path, n: int, folder: Path, resources: Resources,
                      name: str) -> list[Submitted]:
        """The ``n`` tasks of a launch as one array. Unlike ``map_array``, which pickles every
        task, ONE task pickle is written; each task links it under its own name when it starts
        (:mod:`nora_server.batch.slurm_task`) and reads its index from ``SLURM_ARRAY_TASK_ID``.
        This keeps a 1000-task launch close to a bare ``sbatch --array``."""
        from submitit.core.utils import DelayedSubmission

        from nora_server.batch.runner import run_array_task
        folder = Path(folder).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        ex = self._executor(folder, resources, name, n)
        task = DelayedSubmission(run_array_task, str(spec_path))
        task.set_timeout(resources.time_min, 0)
        task.dump(folder / "task.pkl")
        ex.parameters["map_count"] = n
        command = " ".join([ex.python, "-u -m nora_server.batch.slurm_task", shlex.quote(str(folder))])
        base = ex._submit_command(command).job_id
        f = str(folder)
        return [Submitted(f"{base}_{i}", f"{f}/{base}_{i}_0_log.out", f"{f}/{base}_{i}_0_log.err")
                for i in range(n)]

    def query(self, refs: dict[str, Path]) -> dict[str, Observation]:
        """States of the jobs ``{job_id: status_path}``: one ``sacct`` call for all of them."""
        if not refs:
            return {}
        bases = sorted({j.split("_")[0] for j in refs})
        out = _run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,Start,End", "-j", ",".join(bases)],
                   self.runner, self.retries, self.backoff_s)
        seen: dict[str, tuple[str, str, str]] = {}
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) < 4:
                continue
            raw_state = parts[1].split()[0] if parts[1] else ""
            for jid in expand_array_ids(parts[0]):
                seen[jid] = (raw_state, parts[2], parts[3])  # a requeued job: the last line wins
        result = {}
        for jid, spath in refs.items():
            if jid not in seen:
                result[jid] = Observation(None)
                continue
            raw, start, end = seen[jid]
            state = SLURM_STATES.get(raw)
            started = start if start and start not in ("Unknown", "None") else None
            finished = message = None
            if state in FINAL:
                status = read_status(spath)
                _, message = _final_info(state, status, SLURM_REASONS.get(raw))
                finished = end if end and end != "Unknown" else status.get("finished")
            result[jid] = Observation(state, started, finished, message)
        return result

    def cancel(self, job_ids: list[str]) -> None:
        if job_ids:
            _run(["scancel", *job_ids], self.runner, self.retries, self.backoff_s)


def _pid_alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # reap our own finished children (no zombies)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    except OSError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalScheduler:
    """submitit's local executor: every task a process on this machine (the default)."""
    kind = "local"

    def __init__(self, *, python: str | None = None):
        self.python = python

    def submit_array(self, fn, args: list[tuple], folder: Path, resources: Resources,
                     name: str) -> list[Submitted]:
        import submitit
        ex = submitit.LocalExecutor(folder=folder, python=self.python)
        ex.update_parameters(timeout_min=resources.time_min)
        jobs = ex.map_array(fn, *zip(*args))
        return [Submitted(j.job_id, str(j.paths.stdout), str(j.paths.stderr)) for j in jobs]

    def submit_launch(self, spec_path: Path, n: int, folder: Path, resources: Resources,
                      name: str) -> list[Submitted]:
        from nora_server.batch.runner import run_task
        return self.submit_array(run_task, [(str(spec_path), i) for i in range(n)], folder,
                                 resources, name)

    def query(self, refs: dict[str, Path]) -> dict[str, Observation]:
        result = {}
        for jid, spath in refs.items():
            status = read_status(spath)
            state = status.get("state")
            if state in FINAL:
                result[jid] = Observation(state, status.get("started"), status.get("finished"),
                                          status.get("message"))
            elif _pid_alive(int(jid)):
                result[jid] = Observation("running" if state else "queued", status.get("started"))
            else:
                result[jid] = Observation("error", status.get("started"), None,
                                          "the task process ended without reporting; see its log")
        return result

    def cancel(self, job_ids: list[str]) -> None:
        for jid in job_ids:
            try:
                os.kill(int(jid), signal.SIGINT)  # submitit's controller stops its tasks
            except (ProcessLookupError, ValueError):
                pass
