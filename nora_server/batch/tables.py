"""The job table (NORA's ``gridjobs``) and launches, on the archive's declarative ``Base``.

One launch is one submitted batch (one Slurm array); one grid job is one array task: the batch's
jobs, in order, for one subject (or study). States: ``queued``, ``running``, ``done``,
``error``, ``cancelled``. The schema comes with the Alembic migrations ``b001``, ``b002`` and
``b003`` in the archive's history (``noractl db upgrade``). A job's scheduler id is its own
``scheduler_id`` or, for a task of a Slurm array, its launch's ``array_prefix`` and its task
index: :func:`scheduler_id` reads either (with :func:`with_launch`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, cast,
                        false, func)
from sqlalchemy.dialects.mysql import LONGTEXT
from sqlalchemy.orm import Mapped, mapped_column

from nora_server.archive.models import MYSQL, Base, utcnow


class BatchLaunch(Base):
    __tablename__ = "batch_launches"
    __table_args__ = (MYSQL,)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    user: Mapped[str] = mapped_column(String(128), default="")
    name: Mapped[str] = mapped_column(String(255), default="")
    batch: Mapped[dict] = mapped_column(JSON)
    scheduler: Mapped[str] = mapped_column(String(16))       # local | slurm
    resources: Mapped[dict] = mapped_column(JSON)
    folder: Mapped[str] = mapped_column(String(1024))        # submitit folder + spec + status
    parent_id: Mapped[str | None] = mapped_column(String(32))  # re-run of this launch
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # "<array job id>_" of a launch submitted as one array: its task i is "<prefix><i>"
    # (b003: one row written after sbatch answers instead of every job's row)
    array_prefix: Mapped[str | None] = mapped_column(String(64))
    # b004: a launch is recorded with its targets (LaunchTargets), its job rows written on
    # first need (nora_server.batch.jobtable.write_pending): ``pending`` until they are
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false(),
                                          index=True)


class LaunchTargets(Base):
    """The targets of a launch whose job rows are not written yet: JSON text, ``[subject,
    study, subject id, study id]`` per task (b004)."""
    __tablename__ = "batch_launch_targets"
    __table_args__ = (MYSQL,)
    launch_id: Mapped[str] = mapped_column(
        ForeignKey("batch_launches.id", ondelete="CASCADE"), primary_key=True)
    targets: Mapped[str] = mapped_column(Text().with_variant(LONGTEXT(), "mysql"))


class GridJob(Base):
    __tablename__ = "gridjobs"
    __table_args__ = (Index("ix_gridjobs_project_state", "project", "state"), MYSQL)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    launch_id: Mapped[str] = mapped_column(ForeignKey("batch_launches.id", ondelete="CASCADE"),
                                           index=True)
    task_index: Mapped[int] = mapped_column(Integer)
    project: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(128))
    study: Mapped[str | None] = mapped_column(String(128))
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL"), index=True)
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("studies.id", ondelete="SET NULL"), index=True)
    batch_name: Mapped[str] = mapped_column(String(255), default="")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    scheduler: Mapped[str] = mapped_column(String(16))
    scheduler_id: Mapped[str | None] = mapped_column(String(64))  # no index: see b002
    submitted: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime)
    finished: Mapped[datetime | None] = mapped_column(DateTime)
    checked: Mapped[datetime | None] = mapped_column(DateTime)   # last answer from the scheduler
    log_out: Mapped[str] = mapped_column(String(1024), default="")
    log_err: Mapped[str] = mapped_column(String(1024), default="")
    status_path: Mapped[str] = mapped_column(String(1024), default="")
    message: Mapped[str | None] = mapped_column(Text)


def scheduler_id():
    """SQL for a job's scheduler id (labelled ``scheduler_id``); the query must join the launch
    (:func:`with_launch`)."""
    return func.coalesce(GridJob.scheduler_id, BatchLaunch.array_prefix
                         + cast(GridJob.task_index, String)).label("scheduler_id")


def with_launch(q):
    """``q`` (a select over ``gridjobs``) joined to each job's launch."""
    return q.outerjoin(BatchLaunch, BatchLaunch.id == GridJob.launch_id)


def job_columns():
    """Every column of a job row, its scheduler id read by :func:`scheduler_id`."""
    return [c for c in GridJob.__table__.c if c.name != "scheduler_id"] + [scheduler_id()]
