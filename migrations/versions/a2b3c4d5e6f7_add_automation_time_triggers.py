"""add automation time triggers: what fired, how far each sweep looked, and wait digests

automation_occurrences: one row per (automation, lead, occurrence key) a time-based trigger fired
for, unique, so two workers never fire one twice. automation_cursors: how far the sweep has looked
for each time-based automation (from the moment it was saved or resumed: no backlog at once).
automation_waits.actions_digest: the steps a wait was left under, so an edit meanwhile stops the run
instead of carrying on at a wrong step. Two indexes for the sweep's keyset ranges: open leads by
their last activity (ix_leads_idle_open) and open tasks by due time (ix_tasks_due_open).

Revision ID: a2b3c4d5e6f7
Revises: 7f3e2d1c0b9a
Create Date: 2026-12-06 03:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a2b3c4d5e6f7'
down_revision = '7f3e2d1c0b9a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'automation_occurrences',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('automation_id', sa.Integer(), nullable=False),
        sa.Column('lead_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['automation_id'], ['automations.id'],
                                name=op.f('fk_automation_occurrences_automation_id_automations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_automation_occurrences_lead_id_leads'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_occurrences')),
        sa.UniqueConstraint('automation_id', 'lead_id', 'key',
                            name=op.f('uq_automation_occurrences_automation_id')),
    )
    op.create_index(op.f('ix_automation_occurrences_lead_id'), 'automation_occurrences', ['lead_id'], unique=False)
    op.create_table(
        'automation_cursors',
        sa.Column('automation_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('after_at', sa.DateTime(), nullable=False),
        sa.Column('after_id', sa.Integer(), nullable=False),
        sa.Column('swept_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['automation_id'], ['automations.id'],
                                name=op.f('fk_automation_cursors_automation_id_automations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('automation_id', name=op.f('pk_automation_cursors')),
    )
    with op.batch_alter_table('automation_waits') as batch:
        batch.add_column(sa.Column('actions_digest', sa.String(length=16), nullable=True))
    op.create_index('ix_leads_idle_open', 'leads', [sa.text('coalesce(last_touch_at, created_at)'), 'id'],
                    unique=False, postgresql_where=sa.text('closed_on IS NULL AND deleted_at IS NULL'),
                    sqlite_where=sa.text('closed_on IS NULL AND deleted_at IS NULL'))
    op.create_index('ix_tasks_due_open', 'tasks', ['due_at', 'id'], unique=False,
                    postgresql_where=sa.text('done_at IS NULL'), sqlite_where=sa.text('done_at IS NULL'))


def downgrade():
    op.drop_index('ix_tasks_due_open', table_name='tasks')
    op.drop_index('ix_leads_idle_open', table_name='leads')
    with op.batch_alter_table('automation_waits') as batch:
        batch.drop_column('actions_digest')
    op.drop_table('automation_cursors')
    op.drop_index(op.f('ix_automation_occurrences_lead_id'), table_name='automation_occurrences')
    op.drop_table('automation_occurrences')
