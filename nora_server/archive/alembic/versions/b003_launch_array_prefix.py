"""batch_launches.array_prefix: a Slurm array's job ids in one row

A launch submitted as one Slurm array used to give each of its rows its job id
(``<array id>_<i>``) with an UPDATE of every row once sbatch answered: on the launch's critical
path (2 ms for 1000 rows on SQLite, 15-30 ms on InnoDB). The launch row now keeps the prefix
and a job's id is read as ``coalesce(gridjobs.scheduler_id, array_prefix || task_index)``
(nora_server.batch.tables.scheduler_id); rows written before keep their own ids.

Revision ID: b003
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'b003'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('batch_launches', sa.Column('array_prefix', sa.String(length=64),
                                              nullable=True))


def downgrade() -> None:
    # jobs of array launches get their ids back in their own rows before the column goes
    launches = sa.table('batch_launches', sa.column('id'), sa.column('array_prefix'))
    jobs = sa.table('gridjobs', sa.column('launch_id'), sa.column('task_index'),
                    sa.column('scheduler_id'))
    prefix = (sa.select(launches.c.array_prefix).where(launches.c.id == jobs.c.launch_id)
              .scalar_subquery())
    op.execute(jobs.update().where(jobs.c.scheduler_id.is_(None), prefix.is_not(None))
               .values(scheduler_id=prefix + sa.cast(jobs.c.task_index, sa.String)))
    with op.batch_alter_table('batch_launches') as batch:
        batch.drop_column('array_prefix')
