"""The job table's rows of a launch, on both back ends: recorded with the launch, written once
by the first reader (``write_pending``), all of them or none."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from nora_server.archive.models import Project, Subject, utcnow
from nora_server.batch import jobtable
from nora_server.batch.jobtable import launch_job_ids, write_pending
from nora_server.batch.tables import BatchLaunch, GridJob, LaunchTargets


def _launch(conn, launch_id: str, targets, created=None) -> None:
    """A launch as ``BatchRunner.launch`` records it: its targets, its rows still to write."""
    conn.execute(insert(BatchLaunch), [{
        "id": launch_id, "project": "demo", "user": "admin", "name": "b", "batch": {},
        "scheduler": "slurm", "resources": {}, "folder": f"/j/{launch_id}",
        "created": created or utcnow(), "pending": True}])
    conn.execute(insert(LaunchTargets), [{"launch_id": launch_id, "targets": json.dumps(targets)}])


def _rows(conn, launch_id: str) -> list:
    return conn.execute(select(GridJob).where(GridJob.launch_id == launch_id)
                        .order_by(GridJob.id)).all()


@pytest.fixture(params=["server", "client"])
def how(request, monkeypatch):
    """The rows built by the server from the launch's targets, or by us (other dialects)."""
    if request.param == "client":
        monkeypatch.setattr(jobtable, "_server_side", lambda dialect: False)
    return request.param


def test_a_launchs_rows_are_written_once_by_concurrent_readers(archive, how):
    """Four readers at once: the rows exist once, in task order, with their paths."""
    n = 200
    with archive.engine.begin() as conn:
        _launch(conn, "L1", [(f"P{i:03d}", "S1" if i % 2 else None, None, None)
                             for i in range(n)])
    written, errors = [], []
    start = threading.Barrier(4)

    def reader():
        try:
            start.wait()
            written.append(write_pending(archive.engine))
        except Exception as exc:  # noqa: BLE001 - the test says which
            errors.append(exc)
    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(written) == [0, 0, 0, 1]
    with archive.engine.connect() as conn:
        rows = _rows(conn, "L1")
        launch = conn.execute(select(BatchLaunch).where(BatchLaunch.id == "L1")).one()
        left = conn.execute(select(LaunchTargets)).all()
        assert launch_job_ids(conn, "L1") == [r.id for r in rows]
    assert [r.task_index for r in rows] == list(range(n))  # ids rise in task order
    assert (rows[3].subject, rows[3].study, rows[4].study, rows[3].state, rows[3].project) == \
        ("P003", "S1", None, "queued", "demo")
    assert (rows[3].status_path, rows[3].log_out, rows[3].log_err) == \
        ("/j/L1/status/3.json", "/j/L1/logs/task_3.out", "/j/L1/logs/task_3.err")
    assert rows[3].submitted == launch.created
    assert (launch.pending, left) == (False, [])
    assert write_pending(archive.engine) == 0


def test_older_launches_get_their_rows_first(archive):
    now = utcnow()
    with archive.engine.begin() as conn:
        _launch(conn, "NEW", [("P1", None, None, None)], created=now)
        _launch(conn, "OLD", [("P1", None, None, None), ("P2", None, None, None)],
                created=now - timedelta(seconds=5))
    assert write_pending(archive.engine) == 2
    with archive.engine.connect() as conn:
        assert max(launch_job_ids(conn, "OLD")) < min(launch_job_ids(conn, "NEW"))


def test_a_subject_deleted_since_the_launch_leaves_its_id_empty(archive, how):
    """As its deletion does to rows already written (ON DELETE SET NULL): the others keep
    theirs."""
    archive.session("admin").create_project("demo")
    with archive.engine.begin() as conn:
        subject_id = conn.execute(insert(Subject).values(project_id=conn.execute(
            select(Project.id).where(Project.name == "demo")).scalar(), pseudonym="P1",
            patient_id="X1")).inserted_primary_key[0]
        _launch(conn, "GONE", [("P1", None, subject_id, None), ("P2", None, 987654, None)])
    assert write_pending(archive.engine) == 1
    with archive.engine.connect() as conn:
        assert [(r.subject, r.subject_id) for r in _rows(conn, "GONE")] == [
            ("P1", subject_id), ("P2", None)]


def test_a_launch_whose_rows_fail_stays_pending_and_the_views_go_on(archive, how, caplog):
    """Targets that are no list (a hand-edited database): no row is written, the launch keeps
    its targets and the error is logged; the reader goes on. Once mended, the rows go in."""
    from nora_server.batch.jobviews import JobViews

    with archive.engine.begin() as conn:
        _launch(conn, "OK", [("P1", None, None, None)])
        _launch(conn, "BAD", [("P1", None, None, None)], created=utcnow() - timedelta(seconds=1))
        conn.execute(update(LaunchTargets).where(LaunchTargets.launch_id == "BAD")
                     .values(targets='{"P1": "not a list"'))
    views = JobViews()
    views.engine = archive.engine
    assert [r.launch_id for r in views.jobs(project="demo")] == ["OK"]
    assert "launch BAD: its job rows could not be written" in caplog.text
    with archive.engine.begin() as conn:
        assert _rows(conn, "BAD") == []
        launch = conn.execute(select(BatchLaunch).where(BatchLaunch.id == "BAD")).one()
        assert launch.pending
        conn.execute(update(LaunchTargets).where(LaunchTargets.launch_id == "BAD").values(
            targets=json.dumps([("P1", None, None, None), ("P2", None, None, None)])))
    assert write_pending(archive.engine) == 1
    with archive.engine.connect() as conn:
        assert [r.subject for r in _rows(conn, "BAD")] == ["P1", "P2"]
