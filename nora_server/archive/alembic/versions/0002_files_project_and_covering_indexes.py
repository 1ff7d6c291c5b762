"""files carry their project; covering indexes for pattern searches and tag terms

- ``files.project_id`` (the project of the file's study's subject) with the index
  ``(project_id, path, study_id)`` replacing ``(path, study_id)``: a pattern search in one
  project reads one range of one index, whatever other projects hold, and the database's
  planner sees that without guessing (MariaDB otherwise walked every study of the project).
- tag indexes ``(tag, owner id)`` replacing ``(tag)``: a filter-bar term STAG:/PTAG:/FTAG:
  reads its owners from the index alone (SQLite's tables are rowid tables, so an index on
  ``(tag)`` sent every hit back to the table; InnoDB appended the key already).

Revision ID: 0002
Revises: b001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = 'b001'
branch_labels = None
depends_on = None

TAGS = (("subject_tags", "subject_id"), ("study_tags", "study_id"), ("file_tags", "file_id"))
# SQLite rebuilds the table in batch mode: name the case-insensitive column explicitly so the
# rebuilt table keeps its collation whatever reflection returns
PATH = sa.Column("path", sa.String(length=512).with_variant(
    sa.VARCHAR(length=512, collation="NOCASE"), "sqlite"), nullable=False)


def upgrade() -> None:
    for table, owner in TAGS:
        op.create_index(f"ix_{table}_tag_{owner[:-3]}", table, ["tag", owner])
        op.drop_index(f"ix_{table}_tag", table_name=table)
    with op.batch_alter_table("files", reflect_args=[PATH]) as batch:
        batch.add_column(sa.Column("project_id", sa.Integer(), nullable=True))
    op.execute("UPDATE files SET project_id = (SELECT subjects.project_id FROM studies "
               "JOIN subjects ON studies.subject_id = subjects.id "
               "WHERE studies.id = files.study_id)")
    with op.batch_alter_table("files", reflect_args=[PATH]) as batch:
        batch.alter_column("project_id", existing_type=sa.Integer(), nullable=False)
        # the index first: MariaDB would otherwise add one of its own for the foreign key
        batch.create_index("ix_files_project_path", ["project_id", "path", "study_id"])
        batch.create_foreign_key(op.f("fk_files_project_id_projects"), "projects",
                                 ["project_id"], ["id"], ondelete="CASCADE")
        batch.drop_index("ix_files_path")


def downgrade() -> None:
    with op.batch_alter_table("files", reflect_args=[PATH]) as batch:
        # the foreign key first: MariaDB refuses to drop an index a foreign key needs
        batch.drop_constraint(op.f("fk_files_project_id_projects"), type_="foreignkey")
        batch.create_index("ix_files_path", ["path", "study_id"])
        batch.drop_index("ix_files_project_path")
        batch.drop_column("project_id")
    for table, owner in TAGS:
        op.create_index(f"ix_{table}_tag", table, ["tag"])
        op.drop_index(f"ix_{table}_tag_{owner[:-3]}", table_name=table)
