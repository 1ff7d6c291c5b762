"""submitit's local executor (the default): a launch's tasks on this machine, a few at a time.

A launch of ``n`` tasks starts ``P`` submitit local jobs, *lanes* (``P`` = the resources'
``array_parallelism``, else the number of CPUs, at most ``n``). Each lane takes the next task
index from a shared counter (so tasks start in order and a slow subject does not hold back a
lane's share) and runs it as a child process in its own session, with its own log files and
the task's time limit. A 1000-subject batch on a workstation is thus ``P`` running jobs, not a
thousand processes.

Job ids look like Slurm's: ``<pid of lane 0>_<index>``. States come from the status file the
task writes (runner.py) and from whether the launch's lanes are alive; cancel marks the task
(a lane skips a marked task) and stops its process group.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from nora_server.batch.runner import now_iso, read_status, status_path, write_status
from nora_server.batch.states import (FINAL, Observation, Resources, Started, Submitted,
                                      SubmittedArray, task_logs)

log = logging.getLogger(__name__)
KILL_GRACE_S = 3.0


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
    try:  # a zombie (someone else's child, not reaped yet) has stopped
        with open(f"/proc/{pid}/stat") as fh:
            return not fh.read().rpartition(") ")[2].startswith("Z")
    except OSError:
        return True


def _next_index(folder: Path, n: int) -> int | None:
    """Take the next task index of the launch (a counter file under an exclusive lock)."""
    with open(folder / "queue.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        i = int(fh.read() or 0)
        if i >= n:
            return None
        fh.seek(0)
        fh.truncate()
        fh.write(str(i + 1))
        fh.flush()
        return i


def cancel_marker(spec_path, index: int) -> Path:
    return status_path(spec_path, index).with_suffix(".cancel")


def _kill_group(pid: int, sig=signal.SIGTERM) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_lane(spec_path: str, n: int, time_min: float, logs: str) -> int:
    """One lane (runs as a submitit local job): tasks of the launch until none is left.
    Returns the number of tasks it ran."""
    folder, ran = Path(spec_path).parent, 0
    current: list[int] = []

    def stop(signum, frame):  # the lane is stopped: so is the task it runs
        for pid in current:
            _kill_group(pid)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while (i := _next_index(folder, n)) is not None:
        spath = status_path(spec_path, i)
        if cancel_marker(spec_path, i).exists():
            write_status(spath, state="cancelled", finished=now_iso(), message="cancelled")
            continue
        ran += 1
        prefix, out_sfx, err_sfx = task_logs(logs)
        with open(f"{prefix}{i}{out_sfx}", "ab") as out, open(f"{prefix}{i}{err_sfx}", "ab") as err:
            child = subprocess.Popen([sys.executable, "-u", "-m", "nora_server.batch.local",
                                      str(spec_path), str(i)], stdout=out, stderr=err,
                                     start_new_session=True)
        current[:] = [child.pid]
        started = now_iso()
        write_status(spath, state="running", started=started, pid=child.pid)
        if cancel_marker(spec_path, i).exists():  # cancelled while starting (see cancel())
            _kill_group(child.pid)
        try:
            child.wait(timeout=time_min * 60)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(child.pid)
            try:
                child.wait(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                _kill_group(child.pid, signal.SIGKILL)
                child.wait()
        _kill_group(child.pid, signal.SIGKILL)  # whatever the task left behind in its session
        if read_status(spath).get("state") in FINAL:
            continue
        if cancel_marker(spec_path, i).exists():
            final = {"state": "cancelled", "message": "cancelled"}
        elif timed_out:
            final = {"state": "error",
                     "message": f"the job ran past its time limit ({time_min:g} min)"}
        else:
            final = {"state": "error", "message": f"the task process ended with status "
                                                  f"{child.returncode} without reporting"}
        write_status(spath, started=started, finished=now_iso(), pid=child.pid, **final)
    return ran


class LocalScheduler:
    """submitit's local executor, ``parallelism`` tasks of a launch at a time (default: the
    launch's ``array_parallelism``, else the number of CPUs)."""
    kind = "local"

    def __init__(self, *, python: str | None = None, parallelism: int | None = None):
        self.python = python
        self.parallelism = parallelism
        self.last_queries = 0

    def _executor(self, folder: Path, timeout_min: float):
        import submitit
        ex = submitit.LocalExecutor(folder=folder, python=self.python)
        ex.update_parameters(timeout_min=timeout_min)
        return ex

    def submit_array(self, fn, args: list[tuple], folder: Path, resources: Resources,
                     name: str) -> list[Submitted]:
        """Any function over a list of argument tuples, one local job each (no lanes)."""
        jobs = self._executor(folder, resources.time_min).map_array(fn, *zip(*args))
        return [Submitted(j.job_id, str(j.paths.stdout), str(j.paths.stderr)) for j in jobs]

    def start_launch(self, spec_path: Path, n: int, folder: Path, resources: Resources,
                     name: str) -> Started:
        lanes = max(1, min(n, resources.array_parallelism or self.parallelism
                           or os.cpu_count() or 1))
        folder = Path(folder).absolute()
        folder.mkdir(parents=True, exist_ok=True)
        ex = self._executor(folder, resources.time_min * n + 5)  # a lane's own safety limit
        args = [(str(spec_path), n, resources.time_min, str(folder))] * lanes
        jobs = ex.map_array(run_lane, *zip(*args))
        pids = [int(j.job_id) for j in jobs]
        (Path(spec_path).parent / "lanes.json").write_text(json.dumps(pids))
        subs = SubmittedArray(f"{pids[0]}_", *task_logs(folder), n)
        return Started(lambda: subs)

    def query(self, refs: dict[str, Path]) -> dict[str, Observation]:
        """From the status files; the lanes of each launch are checked once."""
        self.last_queries = 0
        alive: dict[Path, bool] = {}
        result = {}
        for jid, spath in refs.items():
            spath = Path(spath)
            status = read_status(spath)
            state = status.get("state")
            if state in FINAL:
                result[jid] = Observation(state, status.get("started"), status.get("finished"),
                                          status.get("message"))
                continue
            launch = spath.parent.parent
            if launch not in alive:
                try:
                    pids = json.loads((launch / "lanes.json").read_text())
                except (OSError, ValueError):
                    pids = []
                alive[launch] = any(_pid_alive(p) for p in pids)
            if state == "running" and status.get("pid") and _pid_alive(int(status["pid"])):
                result[jid] = Observation("running", status.get("started"))
            elif alive[launch]:
                result[jid] = Observation("running" if state else "queued", status.get("started"))
            else:
                result[jid] = Observation("error", status.get("started"), None,
                                          "the task process ended without reporting; see its log")
        return result

    def cancel(self, job_ids: list[str], status_paths=None) -> None:
        """Mark the tasks cancelled (a lane skips them) and stop those running."""
        for spath in status_paths or []:
            spath = Path(spath)
            spath.with_suffix(".cancel").touch()
            status = read_status(spath)
            if status.get("state") == "running" and status.get("pid"):
                _kill_group(int(status["pid"]))


def main(argv=None) -> None:
    """``python -m nora_server.batch.local SPEC INDEX``: one task, started by a lane."""
    from nora_server.batch.resolve import MissingInputError
    from nora_server.batch.runner import JobFailed, run_task
    spec, index = (argv or sys.argv[1:])[:2]
    try:
        run_task(spec, int(index))
    except (JobFailed, MissingInputError) as exc:  # run_task printed the reason
        if exc.__cause__ is not None:  # a Python function job's own error: where it came from
            traceback.print_exception(exc.__cause__)
        sys.exit(1)
    except Exception:  # not the batch's own failure: where it came from, for a bug report
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
