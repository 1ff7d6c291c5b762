"""file tags carry their file's study: an FTAG: term reads study ids from the tag index

``file_tags.study_id`` (a copy of ``files.study_id``; files never change study, and a tag row
goes with its file through ``file_id``'s cascade) with the index ``(tag, study_id, file_id)``
replacing ``(tag, file_id)``: ``FTAG:good`` reads the studies of every tagged file from one
range of one index instead of looking up each tagged file in ``files``; selecting files by tag
still reads their ids from the same index.

Revision ID: 0003
Revises: b002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = 'b002'
branch_labels = None
depends_on = None

# SQLite rebuilds the table in batch mode: keep the tag's case-insensitive collation
TAG = sa.Column("tag", sa.String(length=128).with_variant(
    sa.VARCHAR(length=128, collation="NOCASE"), "sqlite"), primary_key=True, nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("file_tags", reflect_args=[TAG]) as batch:
        batch.add_column(sa.Column("study_id", sa.Integer(), nullable=True))
    op.execute("UPDATE file_tags SET study_id = (SELECT files.study_id FROM files "
               "WHERE files.id = file_tags.file_id)")
    with op.batch_alter_table("file_tags", reflect_args=[TAG]) as batch:
        batch.alter_column("study_id", existing_type=sa.Integer(), nullable=False)
        batch.create_index("ix_file_tags_tag_study", ["tag", "study_id", "file_id"])
        batch.drop_index("ix_file_tags_tag_file")


def downgrade() -> None:
    with op.batch_alter_table("file_tags", reflect_args=[TAG]) as batch:
        batch.create_index("ix_file_tags_tag_file", ["tag", "file_id"])
        batch.drop_index("ix_file_tags_tag_study")
        batch.drop_column("study_id")
