"""tags carry their project: a tag term reads one project's owners from the tag index

``project_id`` on ``subject_tags``, ``study_tags`` and ``file_tags`` (a copy of the owner's
project: subjects, studies and files never change project, and a tag row goes with its owner
through the owner's cascade), with the indexes ``(project_id, tag, owner)`` replacing
``(tag, owner)``: ``PTAG:``, ``STAG:`` and ``FTAG:`` read the owners of a tag in the project
from one range of one index, so a filter bar of tags is counted from the index alone instead
of looking up every tagged study's subject for its project.

Revision ID: 0004
Revises: b003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = 'b003'
branch_labels = None
depends_on = None


def _tag() -> sa.Column:
    """SQLite rebuilds the tables in batch mode: keep the tag's case-insensitive collation
    (a new column object per table)."""
    return sa.Column("tag", sa.String(length=128).with_variant(
        sa.VARCHAR(length=128, collation="NOCASE"), "sqlite"), primary_key=True, nullable=False)


PROJECT = {  # table: (owner columns of the index, the owner's project)
    "subject_tags": (["subject_id"], "SELECT subjects.project_id FROM subjects "
                     "WHERE subjects.id = subject_tags.subject_id"),
    "study_tags": (["study_id"], "SELECT subjects.project_id FROM studies JOIN subjects "
                   "ON studies.subject_id = subjects.id WHERE studies.id = study_tags.study_id"),
    "file_tags": (["study_id", "file_id"], "SELECT files.project_id FROM files "
                  "WHERE files.id = file_tags.file_id"),
}
OLD = {"subject_tags": "ix_subject_tags_tag_subject", "study_tags": "ix_study_tags_tag_study",
       "file_tags": "ix_file_tags_tag_study"}


def upgrade() -> None:
    for table, (owners, project) in PROJECT.items():
        with op.batch_alter_table(table, reflect_args=[_tag()]) as batch:
            batch.add_column(sa.Column("project_id", sa.Integer(), nullable=True))
        op.execute(f"UPDATE {table} SET project_id = ({project})")
        with op.batch_alter_table(table, reflect_args=[_tag()]) as batch:
            batch.alter_column("project_id", existing_type=sa.Integer(), nullable=False)
            batch.create_index(f"ix_{table}_project_tag", ["project_id", "tag", *owners])
            batch.drop_index(OLD[table])


def downgrade() -> None:
    for table, (owners, _) in PROJECT.items():
        with op.batch_alter_table(table, reflect_args=[_tag()]) as batch:
            batch.create_index(OLD[table], ["tag", *owners])
            batch.drop_index(f"ix_{table}_project_tag")
            batch.drop_column("project_id")
