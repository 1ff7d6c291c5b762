"""The state refresh: one scheduler query for any number of jobs, retries with backoff, and a
scheduler that does not answer leaves states unknown (kept), never error."""

from __future__ import annotations

import subprocess
import time

from nora_server.batch.scheduler import SlurmScheduler, expand_array_ids
from tests.batch.batch_helpers import copy_batch, make_storage, wait_done


class CountingRunner:
    """subprocess.run that counts calls and can fail the first ``fail`` of them."""

    def __init__(self, fail: int = 0):
        self.calls, self.fail, self.fail_only = [], fail, None

    def __call__(self, cmd, **kw):
        self.calls.append(cmd[0])
        if len(self.calls) <= self.fail and self.fail_only in (None, cmd[0]):
            return subprocess.CompletedProcess(cmd, 1, "", "sacct: error: Problem talking to "
                                                         "the database: Connection refused")
        return subprocess.run(cmd, **kw)


def test_expand_array_ids():
    assert expand_array_ids("12_[3-5,9%4]") == ["12_3", "12_4", "12_5", "12_9"]
    assert expand_array_ids("12_7") == ["12_7"]
    assert expand_array_ids("12") == ["12"]


def test_sacct_lines_map_to_states(tmp_path):
    text = ("12_0|COMPLETED|2026-01-01T10:00:00|2026-01-01T10:00:05\n"
            "12_1|CANCELLED by 0|2026-01-01T10:00:00|2026-01-01T10:00:03\n"
            "12_2|TIMEOUT|2026-01-01T10:00:00|2026-01-01T10:01:30\n"
            "12_3|RUNNING|2026-01-01T10:00:00|Unknown\n"
            "12_[4-6%2]|PENDING|Unknown|Unknown\n")

    def runner(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 0, text, "")

    obs = SlurmScheduler(runner=runner).query({f"12_{i}": tmp_path / "none" for i in range(8)})
    assert {k: o.state for k, o in obs.items()} == {
        "12_0": "done", "12_1": "cancelled", "12_2": "error", "12_3": "running",
        "12_4": "queued", "12_5": "queued", "12_6": "queued", "12_7": None}
    assert "time limit" in obs["12_2"].message
    assert obs["12_0"].finished == "2026-01-01T10:00:05" and obs["12_3"].finished is None


def _runner(engine, tmp_path, counting, **kw):
    from nora_server.batch.resolve import DirectoryFiles
    from nora_server.batch.service import BatchRunner

    storage = tmp_path / "storage"
    targets = make_storage(storage, 5)
    runner = BatchRunner(engine, SlurmScheduler(runner=counting, backoff_s=0.1, **kw),
                         folder=tmp_path / "jobs", files=DirectoryFiles(str(storage)))
    return runner, targets


def test_one_query_per_refresh_and_retry_after_a_passing_failure(slurm, engine, tmp_path):
    counting = CountingRunner()
    runner, targets = _runner(engine, tmp_path, counting)
    res = runner.launch(copy_batch(), targets, project="proj")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # each refresh: sacct, and squeue only if sacct lacks some
        before = len(counting.calls)
        rep = runner.refresh(launch_id=res.launch_id)
        calls = counting.calls[before:]
        assert calls in (["sacct"], ["sacct", "squeue"]) and rep.queries == len(calls)
        if rep.checked == 0 or rep.counts.get("done") == rep.checked:
            break
        time.sleep(0.3)
    rows = {r.subject: r for r in runner.jobs(launch_id=res.launch_id, include_done=True)}
    assert {r.state for r in rows.values()} == {"done"}

    # scheduler down for good: the jobs stay as they were ("unknown"), nothing becomes error
    res2 = runner.launch(copy_batch(), targets[:2], project="proj")
    runner.scheduler.runner = CountingRunner(fail=100)
    rep = runner.refresh(launch_id=res2.launch_id)
    assert rep.error and "Connection refused" in rep.error and rep.unknown == 2
    assert rep.queries == 1 and len(runner.scheduler.runner.calls) == 4  # 1 + 3 retries
    assert {r.state for r in runner.jobs(launch_id=res2.launch_id)} == {"queued"}

    # a passing failure: two failed attempts, then the answer
    runner.scheduler.runner = CountingRunner(fail=2)
    rows = wait_done(runner, res2.launch_id)
    assert {r.state for r in rows.values()} == {"done"}


def test_held_jobs_are_queued_from_squeue_until_accounting_knows_them(slurm, engine, tmp_path):
    """Accounting learns of a job only once it is eligible: a held job is reported by the one
    squeue that follows sacct, as queued; released, it runs and sacct alone reports it."""
    counting = CountingRunner()
    runner, targets = _runner(engine, tmp_path, counting, sbatch_extra={"hold": True})
    res = runner.launch(copy_batch(), targets[:3], project="proj")
    rep = runner.refresh(launch_id=res.launch_id)
    assert rep.unknown == 0 and rep.counts == {"queued": 3}
    assert counting.calls == ["sacct", "squeue"] and rep.queries == 2
    # squeue failing after sacct answered: the jobs are unknown (kept queued), not errors
    runner.scheduler.runner = CountingRunner(fail=100)
    runner.scheduler.runner.fail_only = "squeue"
    rep = runner.refresh(launch_id=res.launch_id)
    assert rep.error is None and rep.unknown == 3
    runner.scheduler.runner = counting
    subprocess.run(["scontrol", "release", res.scheduler_ids[0].split("_")[0]], check=True)
    rows = wait_done(runner, res.launch_id)
    assert {r.state for r in rows.values()} == {"done"}
