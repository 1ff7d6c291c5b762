"""The job table's bulk writes on both back ends: a launch's rows and the ids it hands back."""

from __future__ import annotations

from sqlalchemy import insert, select

from nora_server.archive.models import utcnow
from nora_server.batch.jobtable import insert_rows, row_ids
from nora_server.batch.tables import BatchLaunch, GridJob

SHARED = {"project": "demo", "batch_name": "b", "state": "queued", "scheduler": "slurm"}


def _launch(conn, launch_id: str) -> None:
    conn.execute(insert(BatchLaunch), [{"id": launch_id, "project": "demo", "user": "admin",
                                        "name": "b", "batch": {}, "scheduler": "slurm",
                                        "resources": {}, "folder": "/tmp", "created": utcnow()}])


def _ids(conn, launch_id: str) -> list[int]:
    return list(conn.execute(select(GridJob.id).where(GridJob.launch_id == launch_id)
                             .order_by(GridJob.task_index)).scalars())


def test_a_launch_gets_its_rows_ids_in_task_order(archive):
    with archive.engine.begin() as conn:
        for launch_id, n in [("L1", 5), ("L2", 3)]:
            _launch(conn, launch_id)
            first = insert_rows(conn, {**SHARED, "launch_id": launch_id, "submitted": utcnow()},
                                [(f"P{i}", None, None, None) for i in range(n)], "/j/status",
                                ("/j/logs/", ".out", ".err"))
            ids = row_ids(conn, launch_id, n, first)
            assert ids == _ids(conn, launch_id)
            if conn.dialect.name != "sqlite":  # the driver told the first id
                assert first == ids[0]
        row = conn.execute(select(GridJob).where(GridJob.id == ids[2])).one()
        assert (row.subject, row.task_index, row.status_path, row.log_err) == \
            ("P2", 2, "/j/status/2.json", "/j/logs/2.err")


def test_a_row_of_another_launch_between_is_not_taken(archive):
    """The ids are checked, not assumed: another launch's row amid this launch's ids."""
    with archive.engine.begin() as conn:
        _launch(conn, "A")
        _launch(conn, "B")
        base = 1000
        conn.execute(insert(GridJob), [
            {**SHARED, "id": base + k, "launch_id": lid, "task_index": i, "subject": "P",
             "submitted": utcnow()}
            for k, lid, i in [(0, "A", 0), (1, "B", 0), (2, "A", 1), (3, "A", 2)]])
        assert row_ids(conn, "A", 3, base) == [base, base + 2, base + 3]
