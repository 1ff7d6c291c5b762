"""batch job tables: batch_launches and gridjobs (nora_server.batch.tables)

Revision ID: b001
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'b001'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batch_launches',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project', sa.String(length=128), nullable=False),
    sa.Column('user', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('batch', sa.JSON(), nullable=False),
    sa.Column('scheduler', sa.String(length=16), nullable=False),
    sa.Column('resources', sa.JSON(), nullable=False),
    sa.Column('folder', sa.String(length=1024), nullable=False),
    sa.Column('parent_id', sa.String(length=32), nullable=True),
    sa.Column('created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_launches')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('batch_launches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_launches_project'), ['project'], unique=False)

    op.create_table('gridjobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('launch_id', sa.String(length=32), nullable=False),
    sa.Column('task_index', sa.Integer(), nullable=False),
    sa.Column('project', sa.String(length=128), nullable=False),
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('study', sa.String(length=128), nullable=True),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('study_id', sa.Integer(), nullable=True),
    sa.Column('batch_name', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('scheduler', sa.String(length=16), nullable=False),
    sa.Column('scheduler_id', sa.String(length=64), nullable=True),
    sa.Column('submitted', sa.DateTime(), nullable=False),
    sa.Column('started', sa.DateTime(), nullable=True),
    sa.Column('finished', sa.DateTime(), nullable=True),
    sa.Column('checked', sa.DateTime(), nullable=True),
    sa.Column('log_out', sa.String(length=1024), nullable=False),
    sa.Column('log_err', sa.String(length=1024), nullable=False),
    sa.Column('status_path', sa.String(length=1024), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['launch_id'], ['batch_launches.id'], name=op.f('fk_gridjobs_launch_id_batch_launches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_gridjobs_study_id_studies'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_gridjobs_subject_id_subjects'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gridjobs')),
    mysql_charset='utf8mb4',
    mysql_engine='InnoDB'
    )
    with op.batch_alter_table('gridjobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gridjobs_launch_id'), ['launch_id'], unique=False)
        batch_op.create_index('ix_gridjobs_project_state', ['project', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_gridjobs_scheduler_id'), ['scheduler_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gridjobs_study_id'), ['study_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gridjobs_subject_id'), ['subject_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('gridjobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gridjobs_subject_id'))
        batch_op.drop_index(batch_op.f('ix_gridjobs_study_id'))
        batch_op.drop_index(batch_op.f('ix_gridjobs_scheduler_id'))
        batch_op.drop_index('ix_gridjobs_project_state')
        batch_op.drop_index(batch_op.f('ix_gridjobs_launch_id'))

    op.drop_table('gridjobs')
    with op.batch_alter_table('batch_launches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_launches_project'))

    op.drop_table('batch_launches')
