"""Archive tables (SQLAlchemy 2.0 declarative models).

Hierarchy: project -> subject -> study -> file. Tags hang on subjects, studies and files
(one association table each, the tag is a plain string). Users get a role per project
through ``rights``; ``users.is_admin`` marks site admins. Job tables come with the batch
runner: it declares its models on the same :class:`Base`, so one metadata (and one Alembic
history) covers everything.

Names that appear in paths or filters (pseudonym, study key, file path) compare
case-insensitively on both back ends: MariaDB's ``utf8mb4_general_ci`` and SQLite's ``NOCASE``
collation, which also lets SQLite use the indexes for ``LIKE 'prefix%'``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey,
                        Index, Integer, MetaData, String, Text, UniqueConstraint)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("owner", "member", "reader")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def name_type(length: int) -> String:
    """A case-insensitive string column (NOCASE on SQLite, the server collation elsewhere)."""
    return String(length).with_variant(sqlite.VARCHAR(length, collation="NOCASE"), "sqlite")


MYSQL = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (MYSQL,)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(name_type(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    module: Mapped[str | None] = mapped_column(String(128))
    # absolute folder for projects indexed in place ("create project from existing data");
    # None: <storage root>/<name>
    path: Mapped[str | None] = mapped_column(String(1024))
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (MYSQL,)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    full_name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Right(Base):
    __tablename__ = "rights"
    __table_args__ = (CheckConstraint("role IN ('owner', 'member', 'reader')", name="role"), MYSQL)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = (UniqueConstraint("project_id", "pseudonym"), MYSQL)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    pseudonym: Mapped[str] = mapped_column(name_type(128))  # the folder name, always visible
    patient_id: Mapped[str | None] = mapped_column(name_type(128), index=True)  # real ID
    patient_name: Mapped[str | None] = mapped_column(name_type(255))  # real name
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(8))
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Study(Base):
    __tablename__ = "studies"
    __table_args__ = (UniqueConstraint("subject_id", "key"), MYSQL)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(name_type(128))  # the folder name (NORA's SID)
    study_date: Mapped[date | None] = mapped_column(Date, index=True)
    description: Mapped[str] = mapped_column(name_type(255), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class File(Base):
    __tablename__ = "files"
    # (project_id, path, study_id) covers pattern searches in a project: LIKE runs on one range
    # of the index alone, whatever the other projects hold (project_id is its study's subject's
    # project, copied here for that: migration 0002)
    __table_args__ = (UniqueConstraint("study_id", "path"),
                      Index("ix_files_project_path", "project_id", "path", "study_id"), MYSQL)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(name_type(512))  # "<series folder>/<file>", study-relative
    kind: Mapped[str] = mapped_column(String(16), default="other")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    checksum: Mapped[str | None] = mapped_column(String(64))  # sha256 hex; None until computed
    added: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# Each tag row carries its owner's project (owners never change project; the row goes with
# its owner) and its table has an index (project_id, tag, owner id): a filter-bar term (STAG:,
# PTAG:, FTAG:) reads the project's owners of a tag from one range of the index alone
# (migrations 0002-0004).
class SubjectTag(Base):
    __tablename__ = "subject_tags"
    __table_args__ = (Index("ix_subject_tags_project_tag", "project_id", "tag", "subject_id"),
                      MYSQL)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"),
                                            primary_key=True)
    tag: Mapped[str] = mapped_column(name_type(128), primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)


class StudyTag(Base):
    __tablename__ = "study_tags"
    __table_args__ = (Index("ix_study_tags_project_tag", "project_id", "tag", "study_id"), MYSQL)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          primary_key=True)
    tag: Mapped[str] = mapped_column(name_type(128), primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)


class FileTag(Base):
    """``study_id`` is the file's study, copied here (files never change study; the row goes
    with its file): ``FTAG:`` reads studies from the index ``(project_id, tag, study_id,
    file_id)`` alone (migrations 0003, 0004)."""

    __tablename__ = "file_tags"
    __table_args__ = (Index("ix_file_tags_project_tag", "project_id", "tag", "study_id",
                            "file_id"), MYSQL)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"),
                                         primary_key=True)
    tag: Mapped[str] = mapped_column(name_type(128), primary_key=True)
    study_id: Mapped[int] = mapped_column(Integer)
    project_id: Mapped[int] = mapped_column(Integer)


class Document(Base):
    """A JSON document: metadata of a subject/study, a saved batch, settings, a share."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_owner", "kind", "project_id", "subject_id", "study_id"),
                      MYSQL)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # metadata | batch | settings | share | state
    name: Mapped[str] = mapped_column(String(255), default="")
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"))
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[dict] = mapped_column(JSON)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (MYSQL,)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(16), default="info")
    message: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    seen: Mapped[bool] = mapped_column(Boolean, default=False)


class PendingOp(Base):
    """Journal of a file operation in flight (see :mod:`nora_server.archive.journal`)."""

    __tablename__ = "pending_ops"
    __table_args__ = (MYSQL,)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="started")  # started | committed
    plan: Mapped[dict] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
