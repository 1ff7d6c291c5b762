"""Batches on a real single-node Slurm (with accounting): failures, cancel, time limit,
missing inputs, a 50-subject array, re-running only the failed subjects."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from nora_server.batch.runner import read_status
from tests.batch.batch_helpers import (copy_batch, function_batch, make_storage,
                                       task_process_gone, wait_done)


@pytest.fixture(scope="module")
def timed_out(slurm, engine, tmp_path_factory):
    """Launched when the module starts (Slurm's smallest limit is one minute, enforced within
    about 30 s after it), checked by the last test while the others run."""
    from nora_server.batch.resolve import DirectoryFiles
    from nora_server.batch.scheduler import SlurmScheduler
    from nora_server.batch.service import BatchRunner

    tmp = tmp_path_factory.mktemp("timelimit")
    targets = make_storage(tmp / "storage", 1)
    runner = BatchRunner(engine, SlurmScheduler(), folder=tmp / "jobs",
                         files=DirectoryFiles(str(tmp / "storage")))
    res = runner.launch(function_batch("nora.sleep", n=600, time_min=1), targets, project="proj")
    return runner, res, time.monotonic()


@pytest.fixture(autouse=True)
def _start_timelimit_first(timed_out):
    """Every test here requests the time-limit launch, so it starts before the first test."""


def test_batch_runs_as_one_array_and_copies_per_subject(slurm_runner, storage):
    targets = make_storage(storage, 3)
    res = slurm_runner.launch(copy_batch(time_min=5), targets, project="proj")
    assert len({sid.split("_")[0] for sid in res.scheduler_ids}) == 1  # one Slurm array
    rows = wait_done(slurm_runner, res.launch_id)
    assert {k: r.state for k, r in rows.items()} == {t.subject: "done" for t in targets}
    for t in targets:
        out = storage / "proj" / t.subject / "20200101_mr" / "derived" / "t1copy.nii"
        assert out.read_text() == f"T1 {t.subject}"
    row = rows["S000"]
    assert row.started and row.finished and row.started <= row.finished
    assert Path(row.log_out).is_file()
    assert slurm_runner.jobs(launch_id=res.launch_id) == []  # finished jobs leave the view


def test_failing_job_is_error_with_its_message(slurm_runner, storage):
    targets = make_storage(storage, 2)
    res = slurm_runner.launch(function_batch("nora.fail", s="segmentation diverged"), targets,
                              project="proj")
    rows = wait_done(slurm_runner, res.launch_id)
    assert {r.state for r in rows.values()} == {"error"}
    assert "segmentation diverged" in rows["S000"].message
    assert "segmentation diverged" in slurm_runner.log_text(rows["S000"].id)
    # failed jobs stay in the default view
    assert len(slurm_runner.jobs(launch_id=res.launch_id)) == 2


def test_missing_input_marks_only_that_subject(slurm_runner, storage):
    targets = make_storage(storage, 4, missing={"S002"})
    res = slurm_runner.launch(copy_batch(), targets, project="proj")
    rows = wait_done(slurm_runner, res.launch_id)
    assert {k: r.state for k, r in rows.items()} == {
        "S000": "done", "S001": "done", "S002": "error", "S003": "done"}
    msg = rows["S002"].message
    assert "t1*/s0*.nii" in msg and "S002" in msg and "20200101_mr" in msg


def test_cancel_running_job(slurm_runner, storage):
    targets = make_storage(storage, 2)
    res = slurm_runner.launch(function_batch("nora.sleep", n=300), targets, project="proj")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # Slurm says running, and the tasks' code has started
        slurm_runner.refresh(launch_id=res.launch_id)
        rows = slurm_runner.jobs(launch_id=res.launch_id)
        states = {r.state for r in rows}
        if states == {"running"} and all(read_status(r.status_path).get("pid") for r in rows):
            break
        time.sleep(0.3)
    assert states == {"running"}
    assert slurm_runner.cancel([res.job_ids[0]]) == 1
    # the scheduler confirms it; the other job keeps running until cancelled too
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "State", "-j",
                              res.scheduler_ids[0]], capture_output=True, text=True).stdout
        if out.startswith("CANCELLED"):
            break
        time.sleep(0.3)
    assert out.startswith("CANCELLED")
    slurm_runner.refresh(launch_id=res.launch_id)
    rows = {r.subject: r.state for r in slurm_runner.jobs(launch_id=res.launch_id)}
    assert rows == {"S000": "cancelled", "S001": "running"}
    slurm_runner.cancel([res.job_ids[1]])
    rows = wait_done(slurm_runner, res.launch_id, timeout=30)
    assert {r.state for r in rows.values()} == {"cancelled"}
    assert all(task_process_gone(r) for r in rows.values())  # the work really stopped


def test_fifty_subjects_then_rerun_only_the_failed(slurm_runner, storage):
    missing = {f"S{i:03d}" for i in (3, 17, 41)}
    targets = make_storage(storage, 50, missing=missing)
    res = slurm_runner.launch(copy_batch(), targets, project="proj")
    assert len(res.job_ids) == 50
    rows = wait_done(slurm_runner, res.launch_id, timeout=180)
    failed = {k for k, r in rows.items() if r.state == "error"}
    assert failed == missing
    assert sum(r.state == "done" for r in rows.values()) == 47
    for subj in missing:  # fix the data, re-run only the failed subjects
        (storage / "proj" / subj / "20200101_mr" / "t1_mprage" / "s001.nii").write_text("late")
    again = slurm_runner.rerun(res.launch_id)
    assert len(again.job_ids) == 3
    rows2 = wait_done(slurm_runner, again.launch_id)
    assert {k: r.state for k, r in rows2.items()} == {s: "done" for s in missing}


def test_job_past_its_time_limit_is_an_error(timed_out):
    runner, res, t0 = timed_out
    rows = wait_done(runner, res.launch_id, timeout=max(10.0, 150 - (time.monotonic() - t0)))
    row = rows["S000"]
    assert row.state == "error"
    assert "time limit" in row.message
    assert task_process_gone(row)


def test_refused_submission_is_recorded_and_raised(slurm_runner, storage):
    targets = make_storage(storage, 2)
    with pytest.raises(Exception, match="(?i)invalid partition"):
        slurm_runner.launch(copy_batch(partition="no_such_queue"), targets, project="proj")
    rows = [r for r in slurm_runner.jobs(project="proj") if r.batch_name == "copy t1"
            and r.state == "error" and "submission failed" in (r.message or "")]
    assert len(rows) == 2 and all(r.scheduler_id is None for r in rows)


def test_database_failure_cancels_the_submitted_array(slurm, tmp_path, storage):
    """The rows go in while sbatch runs; if the job table cannot be written (here: it does not
    exist) the array sbatch took is cancelled: Slurm keeps no job the table does not know."""
    from nora_server.archive.db import make_engine
    from nora_server.batch.resolve import DirectoryFiles
    from nora_server.batch.scheduler import SlurmScheduler
    from nora_server.batch.service import BatchRunner

    targets = make_storage(storage, 2)
    engine = make_engine(f"sqlite:///{tmp_path / 'no_tables.sqlite'}")
    runner = BatchRunner(engine, SlurmScheduler(sbatch_extra={"hold": True}),
                         folder=tmp_path / "jobs", files=DirectoryFiles(str(storage)))
    name = f"db failure {uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(Exception, match="no such table"):
            runner.launch({**copy_batch(time_min=5), "name": name}, targets, project="proj")
    finally:
        engine.dispose()
    states = subprocess.run(["squeue", "-h", "-t", "all", "-n", f"nora-{name}", "-o", "%T"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert states and set(states) == {"CANCELLED"}  # submitted, then withdrawn


def test_array_task_started_before_its_task_pickle_waits_for_it(tmp_path):
    """The launch writes the one task pickle once sbatch runs: a task that starts first (a
    real ``slurm_task`` process, with the variables Slurm sets) waits for it, then runs it."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from submitit.core.utils import DelayedSubmission

    ran = tmp_path / "ran"
    env = dict(os.environ, SUBMITIT_EXECUTOR="slurm", SLURM_JOB_ID="78", SLURM_ARRAY_JOB_ID="77", SLURM_ARRAY_TASK_ID="0",
               SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0", SLURM_NTASKS="1",
               SLURM_JOB_NUM_NODES="1", SLURM_JOB_NODELIST="localhost")
    task = subprocess.Popen([sys.executable, "-m", "nora_server.batch.slurm_task",
                             str(tmp_path)], env=env, cwd=Path(__file__).parents[2])
    time.sleep(1.0)  # started, and finds no task.pkl
    assert task.poll() is None
    DelayedSubmission(Path.touch, ran).dump(tmp_path / "task.pkl")
    assert task.wait(timeout=60) == 0
    assert ran.exists()


def test_a_stalled_scheduler_does_not_hold_the_archives_write_lock(slurm, slurm_runner, engine,
                                                                   storage, monkeypatch):
    """The rows go in while sbatch waits on slurmctld; if it does not answer within
    OVERLAP_S the transaction is rolled back (SQLite would keep every other writer waiting)
    and written once sbatch answered: other writers go on, the launch still lands whole."""
    import os
    import signal
    import threading

    from sqlalchemy import text

    from nora_server.batch import service

    monkeypatch.setattr(service, "OVERLAP_S", 0.5)
    targets = make_storage(storage, 2)
    pid = int((slurm.parent.parent / "run" / "slurmctld.pid").read_text())
    os.kill(pid, signal.SIGSTOP)  # slurmctld hangs: sbatch waits for it
    result = {}
    try:
        launch = threading.Thread(target=lambda: result.update(
            res=slurm_runner.launch(copy_batch(), targets, project="stall")))
        launch.start()
        time.sleep(1.5)  # past OVERLAP_S: the rows' transaction was given up
        assert launch.is_alive()
        t0 = time.monotonic()
        with engine.begin() as conn:  # another writer of the archive is not kept waiting
            conn.execute(text("UPDATE batch_launches SET name = name WHERE project = 'stall'"))
        assert time.monotonic() - t0 < 1.0
        assert not slurm_runner.jobs(project="stall")  # nothing half-written meanwhile
    finally:
        os.kill(pid, signal.SIGCONT)
    launch.join(120)
    res = result["res"]
    rows = slurm_runner.jobs(project="stall")
    assert sorted(r.id for r in rows) == sorted(res.job_ids)
    assert len(rows) == 2 and {r.scheduler_id for r in rows} == set(res.scheduler_ids)
    subprocess.run(["scancel", res.scheduler_ids[0].split("_")[0]], check=True)
