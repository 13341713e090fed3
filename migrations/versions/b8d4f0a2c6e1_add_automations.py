"""add automations, their run history and their waits

automations: when/if/then rules (trigger and its options, conditions with all/any, ordered actions,
all JSON), active or paused. automation_runs: one row per run on a lead (ok, failed, skipped, or
stopped by the loop guard) with what happened, indexed for the per-day history. automation_waits:
the rest of a run waiting for its time ("wait 3 days, then ..."), claimed by the worker's sweep.

Revision ID: b8d4f0a2c6e1
Revises: c9e5a1b3d7f2
Create Date: 2026-12-06 00:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b8d4f0a2c6e1'
down_revision = 'c9e5a1b3d7f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'automations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('trigger', sa.String(length=40), nullable=False),
        sa.Column('trigger_options', sa.JSON(), nullable=False),
        sa.Column('match', sa.String(length=3), nullable=False),
        sa.Column('conditions', sa.JSON(), nullable=False),
        sa.Column('actions', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_automations_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automations')),
    )
    op.create_index(op.f('ix_automations_trigger'), 'automations', ['trigger'], unique=False)
    op.create_table(
        'automation_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('automation_id', sa.Integer(), nullable=False),
        sa.Column('lead_id', sa.Integer(), nullable=True),
        sa.Column('event', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['automation_id'], ['automations.id'],
                                name=op.f('fk_automation_runs_automation_id_automations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_automation_runs_lead_id_leads'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_runs')),
    )
    op.create_index('ix_automation_runs_automation_at', 'automation_runs', ['automation_id', 'at'], unique=False)
    op.create_index(op.f('ix_automation_runs_lead_id'), 'automation_runs', ['lead_id'], unique=False)
    op.create_table(
        'automation_waits',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('automation_id', sa.Integer(), nullable=False),
        sa.Column('lead_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=40), nullable=False),
        sa.Column('next_action', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('claimed_at', sa.DateTime(), nullable=True),
        sa.Column('done_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['automation_id'], ['automations.id'],
                                name=op.f('fk_automation_waits_automation_id_automations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_automation_waits_lead_id_leads'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_waits')),
    )
    op.create_index(op.f('ix_automation_waits_automation_id'), 'automation_waits', ['automation_id'], unique=False)
    op.create_index(op.f('ix_automation_waits_lead_id'), 'automation_waits', ['lead_id'], unique=False)
    op.create_index('ix_automation_waits_due', 'automation_waits', ['due_at'], unique=False,
                    postgresql_where=sa.text('done_at IS NULL'), sqlite_where=sa.text('done_at IS NULL'))


def downgrade():
    op.drop_index('ix_automation_waits_due', table_name='automation_waits')
    op.drop_index(op.f('ix_automation_waits_lead_id'), table_name='automation_waits')
    op.drop_index(op.f('ix_automation_waits_automation_id'), table_name='automation_waits')
    op.drop_table('automation_waits')
    op.drop_index(op.f('ix_automation_runs_lead_id'), table_name='automation_runs')
    op.drop_index('ix_automation_runs_automation_at', table_name='automation_runs')
    op.drop_table('automation_runs')
    op.drop_index(op.f('ix_automations_trigger'),
                  table_name='automations')
    op.drop_table('automations')
