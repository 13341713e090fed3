"""add automation_backfills: applying an automation to the leads that already exist, as a job

One row per "apply to existing leads": the worker walks the live leads by id (after_id), runs the
automation's steps on those it fits, and keeps its progress (total, done, acted) in the same
transaction as each batch.

Revision ID: 7f3e2d1c0b9a
Revises: e1f2a3b4c5d6
Create Date: 2026-12-06 04:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7f3e2d1c0b9a'
down_revision = 'e1f2a3b4c5d6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'automation_backfills',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('automation_id', sa.Integer(), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('acted', sa.Integer(), nullable=False),
        sa.Column('after_id', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['automation_id'], ['automations.id'],
                                name=op.f('fk_automation_backfills_automation_id_automations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_automation_backfills_actor_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_backfills')),
    )
    op.create_index(op.f('ix_automation_backfills_automation_id'), 'automation_backfills', ['automation_id'],
                    unique=False)
    op.create_index(op.f('ix_automation_backfills_state'), 'automation_backfills', ['state'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_automation_backfills_state'), table_name='automation_backfills')
    op.drop_index(op.f('ix_automation_backfills_automation_id'), table_name='automation_backfills')
    op.drop_table('automation_backfills')
