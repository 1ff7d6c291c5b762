"""Batches on submitit's local executor (the default): jobs in order, states, cancel."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from nora_server.batch.tables import BatchLaunch, GridJob, LaunchTargets
from tests.batch.batch_helpers import (copy_batch, function_batch, make_storage,
                                       task_process_gone, wait_done)

TWO_JOBS = {"name": "two steps", "level": "subject", "resources": {"time_min": 5}, "jobs": [
    {"name": "copy", "type": "bash", "code": "cp $f1 $o1",
     "args": [{"type": "FILE", "pattern": "t1*/s0*.nii"},
              {"type": "OUT", "name": "derived/t1copy.nii TAG(copy)"}]},
    {"name": "measure", "type": "python",
     "code": "open($o1, 'w').write(str(len(open($f1).read())) + ' ' + $s1)",
     "args": [{"type": "FILE", "pattern": "derived/t1copy.nii"},
              {"type": "OUT", "name": "derived/length.txt"},
              {"type": "STRING", "value": "chars"}]},
    {"name": "copy ct", "type": "function", "function": "nora.copy",
     "args": [{"type": "FILE", "pattern": "ct/*.nii", "study": "last"},
              {"type": "OUT", "name": "derived/ct.nii", "study": "last"}]}]}


def test_jobs_run_in_order_per_subject(local_runner, storage):
    targets = make_storage(storage, 3, missing={"S001"})
    res = local_runner.launch(TWO_JOBS, targets, project="proj")
    rows = wait_done(local_runner, res.launch_id, timeout=60)
    assert {k: r.state for k, r in rows.items()} == {"S000": "done", "S001": "error",
                                                      "S002": "done"}
    mr = storage / "proj" / "S000" / "20200101_mr" / "derived"
    assert (mr / "length.txt").read_text() == "7 chars"  # job 2 read job 1's output
    assert (storage / "proj/S002/20210101_ct/derived/ct.nii").read_text() == "CT S002"
    assert "t1*/s0*.nii" in rows["S001"].message
    assert not (storage / "proj" / "S001" / "20200101_mr" / "derived" / "length.txt").exists()
    log = local_runner.log_text(rows["S001"].id)  # the reason, not a traceback of ours
    assert "NORA batch error for S001" in log and "t1*/s0*.nii" in log
    assert "Traceback" not in log


def test_failure_in_a_later_job_stops_that_subject(local_runner, storage):
    targets = make_storage(storage, 1)
    doc = {"name": "fails", "jobs": [
        {"name": "ok", "type": "bash", "code": "echo first step"},
        {"name": "boom", "type": "bash", "code": "echo about to fail; exit 3"},
        {"name": "never", "type": "bash", "code": "touch $o1",
         "args": [{"type": "OUT", "name": "never.txt"}]}]}
    res = local_runner.launch(doc, targets, project="proj")
    row = wait_done(local_runner, res.launch_id, timeout=60)["S000"]
    assert row.state == "error"
    assert "'boom'" in row.message and "status 3" in row.message
    log = local_runner.log_text(row.id)
    assert "first step" in log and "about to fail" in log and "Traceback" not in log
    assert not (storage / "proj/S000/20200101_mr/never.txt").exists()


def test_cancel_local_job(local_runner, storage):
    targets = make_storage(storage, 1)
    res = local_runner.launch(function_batch("nora.sleep", n=120), targets, project="proj")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        local_runner.refresh(launch_id=res.launch_id)
        if [r.state for r in local_runner.jobs(launch_id=res.launch_id)] == ["running"]:
            break
        time.sleep(0.2)
    assert local_runner.cancel(res.job_ids) == 1
    row = local_runner.jobs(launch_id=res.launch_id)[0]
    assert row.state == "cancelled" and "cancelled by tester" in row.message
    assert task_process_gone(row)
    local_runner.refresh(launch_id=res.launch_id)  # a cancelled job stays cancelled
    assert local_runner.jobs(launch_id=res.launch_id)[0].state == "cancelled"


def test_local_tasks_run_a_few_at_a_time_in_order(local_runner, storage):
    """array_parallelism caps the tasks running at once; they start in subject order."""
    targets = make_storage(storage, 5)
    doc = {"name": "spans", "resources": {"array_parallelism": 2, "time_min": 5}, "jobs": [
        {"type": "python", "code": "import time\nt0 = time.time(); time.sleep(0.5)\n"
                                   "open($o1, 'w').write(f'{t0} {time.time()}')",
         "args": [{"type": "OUT", "name": "span.txt"}]}]}
    res = local_runner.launch(doc, targets, project="proj")
    rows = wait_done(local_runner, res.launch_id, timeout=90)
    assert {r.state for r in rows.values()} == {"done"}
    spans = [tuple(map(float, (storage / "proj" / t.subject / "20200101_mr" / "span.txt")
                       .read_text().split())) for t in targets]
    for t0, _ in spans:
        assert sum(s <= t0 < e for s, e in spans) <= 2  # never more than 2 at once
    assert spans[0][0] <= spans[2][0] and spans[1][0] <= spans[3][0] <= spans[4][0]


def test_local_job_past_its_time_limit_is_stopped(local_runner, storage):
    targets = make_storage(storage, 1)
    doc = {"name": "too long", "resources": {"time_min": 0.05}, "jobs": [
        {"type": "bash", "code": "sleep 60 & wait"}]}  # a child in the background too
    res = local_runner.launch(doc, targets, project="proj")
    row = wait_done(local_runner, res.launch_id, timeout=60)["S000"]
    assert row.state == "error" and "time limit (0.05 min)" in row.message
    assert task_process_gone(row)


def test_task_started_before_its_spec_waits_for_it(storage, tmp_path):
    """The launch submits first and writes the spec while the scheduler works: a task that
    starts before the spec is there (a real task process) waits for it, then runs."""
    import subprocess
    import sys

    from nora_server.batch.model import parse_batch
    from nora_server.batch.resolve import DirectoryFiles
    from nora_server.batch.runner import LaunchSpec, read_status, status_path

    targets = make_storage(storage, 1)
    folder = tmp_path / "launch"
    spec = LaunchSpec("l1", parse_batch(copy_batch(time_min=5)).to_dict(), targets,
                      DirectoryFiles(str(storage)))
    spec_path = folder / "spec.pkl"
    task = subprocess.Popen([sys.executable, "-m", "nora_server.batch.local", str(spec_path),
                             "0"])
    time.sleep(1.0)  # the task has started (or is starting) and finds no spec
    assert task.poll() is None
    spec.dump(folder)
    assert task.wait(timeout=60) == 0
    assert read_status(status_path(spec_path, 0))["state"] == "done"


def test_a_failing_function_job_logs_where_it_failed(local_runner, storage):
    """A registered Python function's own error: the reason, then its traceback."""
    targets = make_storage(storage, 1)
    res = local_runner.launch(function_batch("nora.fail", s="segmentation diverged"), targets,
                              project="proj")
    row = wait_done(local_runner, res.launch_id, timeout=60)["S000"]
    assert row.state == "error" and "segmentation diverged" in row.message
    log = local_runner.log_text(row.id)
    assert "NORA batch error for S000" in log
    assert "Traceback" in log and "in fail" in log and "RuntimeError: segmentation" in log


def test_a_launch_is_one_record_until_a_view_writes_its_job_rows(local_runner, storage):
    """The launch returns with the launch and its targets recorded; the first view of the job
    table writes the job rows (once), and every view shows them."""
    targets = make_storage(storage, 2)
    res = local_runner.launch(function_batch("nora.sleep", n=60), targets, project="proj")
    assert res.count == 2

    def stored():
        with local_runner.engine.connect() as conn:
            rows = conn.execute(select(func.count()).where(
                GridJob.launch_id == res.launch_id)).scalar()
            kept = conn.execute(select(func.count()).where(
                LaunchTargets.launch_id == res.launch_id)).scalar()
            pending = conn.execute(select(BatchLaunch.pending).where(
                BatchLaunch.id == res.launch_id)).scalar()
        return rows, kept, pending
    assert stored() == (0, 1, True)
    assert local_runner.launches(launch_id=res.launch_id)[0]["counts"] in (
        {"queued": 2}, {"queued": 1, "running": 1}, {"running": 2})
    assert stored() == (2, 0, False)
    markers = local_runner.markers("proj")
    assert {m["job_id"] for k, m in markers.items() if k in ("S000", "S001")} == \
        set(res.job_ids)
    assert [r.subject for r in local_runner.jobs(launch_id=res.launch_id)] == ["S001", "S000"]
    assert local_runner.cancel(res.job_ids) == 2
