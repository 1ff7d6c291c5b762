"""What every scheduler shares: job states, resources, submissions, observations, and running a
scheduler command with retries.

States of a grid job: ``queued``, ``running``, ``done``, ``error``, ``cancelled``. A scheduler
that does not know a job answers ``None`` ("unknown"): the job keeps its last known state, it
never becomes an error because a query failed.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "error", "cancelled")
FINAL = frozenset({"done", "error", "cancelled"})
ACTIVE = ("queued", "running")


class SchedulerUnavailable(RuntimeError):
    """The scheduler did not answer (after retries); job states are unknown, not errors."""


@dataclass(frozen=True)
class Resources:
    """What one task (one subject or study) asks for.

    ``partition`` is a Slurm partition; ``queue`` names one of the site's queues instead
    (``processing`` or ``import``, mapped to partitions by ``nora.toml``); ``time_min`` is the
    limit for one task (all jobs of the batch for one subject); ``array_parallelism`` caps the
    tasks of one launch running at once (local executor default: the number of CPUs).
    """
    partition: str | None = None
    cpus: int = 1
    mem_gb: float | None = None
    time_min: float = 60
    array_parallelism: int | None = None
    gpus: int = 0

    @classmethod
    def from_dict(cls, d: dict | None, default: Resources | None = None) -> Resources:
        base = default or cls()
        d = d or {}
        par = d.get("array_parallelism", base.array_parallelism)
        mem = d.get("mem_gb", base.mem_gb)
        return cls(d.get("partition", base.partition), int(d.get("cpus", base.cpus)),
                   float(mem) if mem is not None else None,
                   float(d.get("time_min", base.time_min)),
                   int(par) if par is not None else None, int(d.get("gpus", base.gpus)))

    def as_dict(self) -> dict:
        return {"partition": self.partition, "cpus": self.cpus, "mem_gb": self.mem_gb,
                "time_min": self.time_min, "array_parallelism": self.array_parallelism,
                "gpus": self.gpus}


@dataclass(frozen=True)
class Submitted:
    job_id: str
    stdout: str
    stderr: str


class SubmittedArray(Sequence):
    """The submissions of an array whose ids and logs follow ``pattern``: ``(job id prefix,
    log prefix, out suffix, err suffix)``, task ``i`` being ``<prefix><i>`` with logs
    ``<log prefix><i><suffix>`` (what SlurmScheduler returns; items are made on demand)."""

    def __init__(self, prefix: str, log_prefix: str, out_suffix: str, err_suffix: str, n: int):
        self.pattern = (prefix, log_prefix, out_suffix, err_suffix)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        p, lp, out, err = self.pattern
        return Submitted(f"{p}{i}", f"{lp}{i}{out}", f"{lp}{i}{err}")

    @property
    def job_ids(self) -> list[str]:
        return [f"{self.pattern[0]}{i}" for i in range(self.n)]


@dataclass(frozen=True)
class Started:
    """A submission the scheduler has started: ``wait()`` waits for its answer and gives the
    submissions (one per task, as a :class:`SubmittedArray`), or raises why it failed; call it
    once. ``ready(timeout)``: whether the answer came within ``timeout`` seconds."""
    wait: Callable[[], SubmittedArray]
    ready: Callable[[float], bool] = lambda timeout: True


@dataclass(frozen=True)
class Observation:
    state: str | None           # one of STATES, or None when the scheduler does not know the job
    started: str | None = None
    finished: str | None = None
    message: str | None = None


def task_logs(folder) -> tuple[str, str, str]:
    """Where task ``i`` of a launch writes its output: ``<folder>/task_<i>.out`` and ``.err``
    as ``(prefix, out suffix, err suffix)``; known before submitting, for both executors."""
    return f"{folder}/task_", ".out", ".err"


def run_command(cmd, runner=subprocess.run, retries: int = 3, backoff_s: float = 0.5,
                ok_errors: tuple[str, ...] = ()) -> str:
    """Run a scheduler command, retrying with exponential backoff; its stdout, or
    :class:`SchedulerUnavailable`. An error message containing one of ``ok_errors`` is an
    answer (empty output), not a failure (``squeue -j`` of jobs that ended long ago)."""
    err = ""
    for attempt in range(retries + 1):
        try:
            proc = runner(cmd, capture_output=True, text=True, timeout=60)
            if proc.returncode == 0:
                return proc.stdout
            err = (proc.stderr or proc.stdout or "").strip()
            if any(e in err for e in ok_errors):
                return ""
        except (OSError, subprocess.TimeoutExpired) as exc:
            err = str(exc)
        if attempt < retries:
            log.warning("%s failed (%s); retrying in %.1f s", cmd[0], err, backoff_s * 2 ** attempt)
            time.sleep(backoff_s * 2 ** attempt)
    raise SchedulerUnavailable(f"{cmd[0]} failed {retries + 1} times: {err}")
