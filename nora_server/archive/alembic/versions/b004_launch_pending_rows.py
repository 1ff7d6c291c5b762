"""batch_launches.pending, batch_launch_targets: a launch's job rows come after its submission

A launch used to write one ``gridjobs`` row per task while sbatch ran: on InnoDB 1000 rows with
their four secondary indexes took 10-30 ms, two to four times a bare ``sbatch --array``. The
launch now records its targets as one row (``batch_launch_targets``, ``pending`` true on the
launch) and the job rows are written, in one transaction that clears ``pending`` and drops the
targets, by the first reader of the job table (nora_server.batch.jobtable.write_pending), the
way Slurm keeps an array as one record until its tasks start. Existing launches are not
pending.

Revision ID: b004
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mysql import LONGTEXT

revision = 'b004'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('batch_launches') as batch:
        batch.add_column(sa.Column('pending', sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.create_index('ix_batch_launches_pending', ['pending'])
    op.create_table(
        'batch_launch_targets',
        sa.Column('launch_id', sa.String(length=32), nullable=False),
        sa.Column('targets', sa.Text().with_variant(LONGTEXT(), 'mysql'), nullable=False),
        sa.ForeignKeyConstraint(['launch_id'], ['batch_launches.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('launch_id'),
        mysql_charset='utf8mb4', mysql_engine='InnoDB')


def downgrade() -> None:
    launches = sa.table('batch_launches', sa.column('id'), sa.column('pending'))
    waiting = op.get_bind().execute(sa.select(sa.func.count()).select_from(launches)
                                    .where(launches.c.pending == sa.true())).scalar()
    if waiting:
        raise RuntimeError(f"{waiting} launch(es) still wait for their job rows: list the jobs "
                           "once (nora jobs) with this version, then downgrade")
    op.drop_table('batch_launch_targets')
    with op.batch_alter_table('batch_launches') as batch:
        batch.drop_index('ix_batch_launches_pending')
        batch.drop_column('pending')
