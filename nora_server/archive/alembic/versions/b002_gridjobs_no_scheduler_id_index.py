"""gridjobs: no index on scheduler_id

No query looks a job up by its scheduler id (the job list's search is ``LIKE '%...%'``, which
an index cannot serve), while the index cost every launch a third of its job-table writes: the
rows go in before the submission answers and get their ids with one UPDATE afterwards
(nora_server.batch.jobtable), and both statements maintained it.

Revision ID: b002
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = 'b002'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_gridjobs_scheduler_id', table_name='gridjobs')


def downgrade() -> None:
    op.create_index('ix_gridjobs_scheduler_id', 'gridjobs', ['scheduler_id'])
