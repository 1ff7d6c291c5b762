"""Slurm through submitit: one array per launch, states from ``sacct`` (``squeue`` only for the
jobs accounting does not know yet), cancel with ``scancel``.

A refresh asks ``sacct`` once for every job. Accounting learns of a job only once it is eligible
to run (a held job, or one submitted a moment ago, is not there yet); only then, and only for
those jobs, one ``squeue`` follows. So a refresh costs one query, at most two. A failing
command is retried with backoff; a job neither reports stays as it was (unknown is not error).
"""

from __future__ import annotations

import logging
import math
import os
import re
import shlex
import subprocess
from pathlib import Path

from nora_server.batch.runner import read_status
from nora_server.batch.states import (FINAL, Observation, Resources, SchedulerUnavailable,
                                      Started, Submitted, SubmittedArray, run_command,
                                      task_logs)

log = logging.getLogger(__name__)

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
GONE = ("Invalid job id specified",)  # squeue -j of jobs the controller has forgotten


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


def _time(text: str) -> str | None:
    return text if text and text not in ("Unknown", "None", "N/A") else None


class SlurmScheduler:
    """Slurm through submitit. ``slurm_conf`` (else ``$SLURM_CONF``) selects the cluster;
    ``sbatch_extra`` adds site options (account, qos, ...); ``runner`` runs the commands
    (``subprocess.run``; tests pass a counting or failing one)."""
    kind = "slurm"

    def __init__(self, *, slurm_conf: str | None = None, runner=None,
                 retries: int = 3, backoff_s: float = 0.5, python: str | None = None,
                 sbatch_extra: dict | None = None):
        if slurm_conf:
            os.environ["SLURM_CONF"] = str(slurm_conf)
        self.runner = runner or subprocess.run
        self.retries, self.backoff_s, self.python = retries, backoff_s, python
        self.sbatch_extra = dict(sbatch_extra or {})
        self.last_queries = 0      # scheduler queries made by the last query()

    def _executor(self, folder: Path, resources: Resources, name: str, n: int,
                  logs: tuple[str, str, str] | None = None):
        import submitit
        ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=0, python=self.python)
        minutes = max(1, math.ceil(resources.time_min))  # Slurm counts whole minutes
        params = dict(job_name=name, cpus_per_task=resources.cpus, time=minutes,
                      array_parallelism=resources.array_parallelism or max(n, 1),
                      use_srun=False, signal_delay_s=min(90, minutes * 6))
        if resources.partition:
            params["partition"] = resources.partition
        if resources.mem_gb:
            params["mem"] = f"{int(resources.mem_gb * 1024)}M"
        if resources.gpus:
            params["gres"] = f"gpu:{resources.gpus}"
        extra = dict(self.sbatch_extra)
        if logs:  # one log pair per task, named by the array index (known before sbatch)
            extra.update(output=f"{logs[0]}%a{logs[1]}", error=f"{logs[0]}%a{logs[2]}")
        if extra:
            params["additional_parameters"] = extra
        ex.update_parameters(**params)
        return ex

    def submit_array(self, fn, args: list[tuple], folder: Path, resources: Resources,
                     name: str) -> list[Submitted]:
        """Any function over a list of argument tuples, as one array (submitit's map_array)."""
        jobs = self._executor(folder, resources, name, len(args)).map_array(fn, *zip(*args))
        return [Submitted(j.job_id, str(j.paths.stdout), str(j.paths.stderr)) for j in jobs]

    def start_launch(self, spec_path: Path, n: int, folder: Path, resources: Resources,
                     name: str) -> Started:
        """Start ``sbatch`` for the ``n`` tasks of a launch as one array; the caller writes the
        spec and its job table while sbatch waits on slurmctld, then ``wait()`` gives the
        submissions. Unlike ``map_array``, which pickles every task, ONE task pickle is written
        (once sbatch runs); each task links it under its own name when it starts
        (:mod:`nora_server.batch.slurm_task`) and reads its index from ``SLURM_ARRAY_TASK_ID``.
        The script goes to sbatch on its standard input. This keeps a 1000-task launch close to
        a bare ``sbatch --array``."""
        from submitit.core.utils import DelayedSubmission

        from nora_server.batch.runner import run_array_task
        folder = Path(folder).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        logs = task_logs(folder)
        ex = self._executor(folder, resources, name, n, logs)
        ex.parameters["map_count"] = n
        command = " ".join([ex.python, "-u -m nora_server.batch.slurm_task",
                            shlex.quote(str(folder))])
        script = ex._make_submission_file_text(command, "").encode()
        read, write = os.pipe()  # the script (a few kB) fits in the pipe: sbatch reads stdin
        try:
            with open(write, "wb") as fh:
                fh.write(script)
            proc = subprocess.Popen(["sbatch", "--parsable"], stdin=read,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        finally:
            os.close(read)
        task = DelayedSubmission(run_array_task, str(spec_path))  # while sbatch works: a task
        task.set_timeout(resources.time_min, 0)  # that starts first waits (see slurm_task)
        task.dump(folder / "task.pkl.part")
        os.replace(folder / "task.pkl.part", folder / "task.pkl")  # whole or not at all

        def wait() -> SubmittedArray:  # no time limit: a killed sbatch may have submitted
            out, err = proc.communicate()
            if proc.returncode != 0 or not out.strip():
                raise RuntimeError(f"sbatch failed: {(err or out).strip()}")
            return SubmittedArray(f"{out.strip().split(';')[0]}_", *logs, n)

        def ready(timeout: float) -> bool:
            try:
                proc.wait(timeout)  # its output (a job id) is far below the pipe's size
            except subprocess.TimeoutExpired:
                return False
            return True
        return Started(wait, ready)

    def _lines(self, cmd: list[str], ok_errors=()) -> dict[str, tuple[str, str, str]]:
        """``{job id: (state, start, end)}`` from ``sacct``/``squeue`` lines ``id|state|s|e``."""
        seen: dict[str, tuple[str, str, str]] = {}
        out = run_command(cmd, self.runner, self.retries, self.backoff_s, ok_errors)
        self.last_queries += 1
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) < 4:
                continue
            raw_state = parts[1].split()[0] if parts[1] else ""
            for jid in expand_array_ids(parts[0]):
                seen[jid] = (raw_state, parts[2], parts[3])  # a requeued job: the last line wins
        return seen

    def query(self, refs: dict[str, Path]) -> dict[str, Observation]:
        """States of the jobs ``{job_id: status_path}``: one ``sacct`` for all of them, and one
        ``squeue`` for those accounting does not know yet."""
        self.last_queries = 0
        if not refs:
            return {}
        bases = sorted({j.split("_")[0] for j in refs})
        seen = self._lines(["sacct", "-X", "-n", "-P", "-o", "JobID,State,Start,End",
                            "-j", ",".join(bases)])
        missing = sorted({j.split("_")[0] for j in refs if j not in seen})
        if missing:
            try:
                queue = self._lines(["squeue", "-h", "-j", ",".join(missing),
                                     "-o", "%i|%T|%S|%e"], GONE)
            except SchedulerUnavailable as exc:  # sacct answered: the rest stays unknown
                log.warning("squeue did not answer (%s); %d job state(s) unknown", exc,
                            len(refs) - len(seen))
                queue = {}
            seen.update({k: v for k, v in queue.items() if k not in seen})
        result = {}
        for jid, spath in refs.items():
            if jid not in seen:
                result[jid] = Observation(None)
                continue
            raw, start, end = seen[jid]
            state = SLURM_STATES.get(raw)
            finished = message = None
            if state in FINAL:
                status = read_status(spath)
                message = status.get("message") if state == "error" else None
                reason = SLURM_REASONS.get(raw)
                if state == "error" and reason:
                    message = reason + (f"; {message}" if message else "")
                finished = _time(end) or status.get("finished")
            started = _time(start) if state != "queued" else None
            result[jid] = Observation(state, started, finished, message)
        return result

    def cancel(self, job_ids: list[str], status_paths=None) -> None:
        if job_ids:
            run_command(["scancel", *job_ids], self.runner, self.retries, self.backoff_s)
