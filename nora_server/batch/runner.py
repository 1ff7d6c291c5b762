"""What runs inside one array task: the batch's jobs, in order, for one subject or study.

The launcher pickles one :class:`LaunchSpec` per launch; each array task receives only the spec's
path and its index (so a 1000-subject launch writes 1000 tiny pickles, not 1000 batches). The
launcher writes the spec while the scheduler takes the submission, so a task that starts first
waits for it (:func:`load_spec`). The task writes a small status file (running -> done/error
with a message) that the refresh reads for messages and, with the local executor, for the state
itself.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from nora_server.batch.functions import JobContext, lookup
from nora_server.batch.model import parse_batch
from nora_server.batch.resolve import MissingInputError, StudyInfo, Target, resolve_job
from nora_server.batch.substitute import environment, substitute

log = logging.getLogger(__name__)
SPEC_WAIT_S = 60.0  # the launch writes the spec milliseconds after submitting


class JobFailed(RuntimeError):
    """A job of the batch failed; the message names the job and the reason."""


@dataclass
class LaunchSpec:
    launch_id: str
    batch: dict
    targets: list[Target]
    files: object                 # file source (see resolve.py), picklable
    registrar: object = None      # callable(target, path, tags) registering OUT files, picklable
    env: dict = field(default_factory=dict)  # extra environment for jobs (e.g. NORA_DB_URL)

    def dump(self, folder: Path) -> Path:
        """Write ``folder/spec.pkl`` (whole or not at all: a task may be waiting for it)."""
        (folder / "status").mkdir(parents=True, exist_ok=True)
        path = folder / "spec.pkl"
        tmp = folder / "spec.pkl.tmp"
        with open(tmp, "wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        return path

    def __getstate__(self) -> dict:
        """Targets as plain tuples: pickling 1000 dataclasses costs more than the submission."""
        state = dict(self.__dict__)
        state["targets"] = [target_tuple(t) for t in self.targets]
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["targets"] = [target_from_tuple(t) for t in state["targets"]]
        self.__dict__.update(state)


def target_tuple(t: Target) -> tuple:
    return (t.project, t.subject, tuple([(s.id, s.date, s.tags, s.description) for s in t.studies]),
            t.study, t.subject_tags, t.subject_key, t.study_key)


def target_from_tuple(row: tuple) -> Target:
    project, subject, studies, study, tags, subject_key, study_key = row
    return Target(project, subject, tuple(StudyInfo(*s) for s in studies), study, tags,
                  subject_key, study_key)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def status_path(spec_path: str | os.PathLike, index: int) -> Path:
    return Path(spec_path).parent / "status" / f"{index}.json"


def write_status(path: Path, **data) -> None:
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(data))
    except FileNotFoundError:  # a task that started before the launch made the folder
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def read_status(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def load_spec(spec_path: str | os.PathLike, wait_s: float = SPEC_WAIT_S) -> LaunchSpec:
    """The launch's spec; a task that starts before the launch wrote it waits up to ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with open(spec_path, "rb") as fh:
                return pickle.load(fh)
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _on_time_warning(signum, frame):  # submitit's USR2 means "time limit near": no requeue here
    log.warning("signal %s: the time limit is near; Slurm will stop this job at its limit", signum)


def run_task(spec_path: str, index: int) -> dict:
    """Entry point of one array task (submitted through submitit). Raises on failure.

    submitit ignores SIGTERM and requeues on SIGUSR2; a NORA job is not checkpointable, so
    SIGTERM (scancel, the time limit) ends it at once, with its children, and SIGUSR2 is logged.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "SIGUSR2"):
        signal.signal(signal.SIGUSR2, _on_time_warning)
    spec = load_spec(spec_path)
    target = spec.targets[index]
    spath = status_path(spec_path, index)
    started = now_iso()
    write_status(spath, state="running", started=started, host=socket.gethostname(),
                 pid=os.getpid())
    try:
        outputs = run_target(spec, target)
    except Exception as exc:
        message = str(exc) if isinstance(exc, (JobFailed, MissingInputError)) else \
            f"{type(exc).__name__}: {exc}"
        write_status(spath, state="error", started=started, finished=now_iso(), message=message)
        print(f"NORA batch error for {target.label}: {message}", file=sys.stderr, flush=True)
        raise
    write_status(spath, state="done", started=started, finished=now_iso(), outputs=outputs)
    return {"target": target.label, "outputs": outputs}


def run_array_task(spec_path: str) -> dict:
    """Entry point of a Slurm array task: the index is ``SLURM_ARRAY_TASK_ID``."""
    return run_task(spec_path, int(os.environ["SLURM_ARRAY_TASK_ID"]))


def run_target(spec: LaunchSpec, target: Target) -> list[str]:
    """Run every job of the batch for ``target`` in order; returns the OUT files written."""
    batch = parse_batch(spec.batch)
    written = []
    for number, job in enumerate(batch.jobs, 1):
        values = resolve_job(job, target, spec.files, level=batch.level)
        print(f"[nora] {target.label}: job {number} {job.name!r} ({job.type})", flush=True)
        env = {**os.environ, **spec.env, **environment(values), "NORA_PROJECT": target.project,
               "NORA_SUBJECT": target.subject, "NORA_STUDY": target.study or ""}
        if job.type == "function":
            ctx = JobContext.from_values(values, project=target.project, subject=target.subject,
                                         study=target.study)
            try:
                lookup(job.function)(ctx)
            except Exception as exc:
                raise JobFailed(f"job {job.name!r} ({job.function}) failed for {target.label}: "
                                f"{type(exc).__name__}: {exc}") from exc
        else:
            code = substitute(job.code, values, language=job.type)
            cmd = ["bash", "-c", code] if job.type == "bash" else [sys.executable, "-c", code]
            rc = subprocess.run(cmd, env=env).returncode
            if rc != 0:
                raise JobFailed(f"job {job.name!r} ({job.type}) exited with status {rc} for "
                                f"{target.label}; its output is in this task's log")
        for arg in job.args:
            if arg.type != "OUT":
                continue
            path = values[arg.var]
            if not os.path.exists(path):
                raise JobFailed(f"job {job.name!r} finished but did not write OUT ${arg.var} "
                                f"{path} for {target.label}")
            if spec.registrar is not None:
                spec.registrar(target, path, arg.tags)
            written.append(path)
    return written
