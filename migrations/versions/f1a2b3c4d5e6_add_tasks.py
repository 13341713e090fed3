"""add tasks, each lead's next task due time, and the reminder and next-task choices

tasks holds follow-ups on leads; partial indexes (open tasks only) serve "My day" by owner and due
time, a lead's next open task, and the reminder sweep (open, not yet reminded, by due time).
leads.next_task_due_at is the soonest open task's due time, kept by services/tasks.py in the same
transaction as every task change (indexed for the pool's "no next step" and "overdue" filters).
users.email_task_reminders: a due task also emails its owner. team_settings.ask_next_task: completing
a task offers the next one.

SQLite: only ADD COLUMN and CREATE INDEX on existing tables, which batch mode runs in place, so the
leads table is not rebuilt (a rebuild would drop its stage-totals triggers).

Revision ID: f1a2b3c4d5e6
Revises: e5a551a0e5b7
Create Date: 2026-12-03 09:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1a2b3c4d5e6'
down_revision = 'e5a551a0e5b7'
branch_labels = None
depends_on = None

OPEN = sa.text("done_at IS NULL")
UNREMINDED = sa.text("done_at IS NULL AND reminded_at IS NULL")


def upgrade():
    op.create_table('tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('done_by_id', sa.Integer(), nullable=True),
    sa.Column('snoozed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_tasks_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_tasks_owner_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['done_by_id'], ['users.id'], name=op.f('fk_tasks_done_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_tasks_created_by_id_users'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    op.create_index('ix_tasks_owner_due_open', 'tasks', ['owner_id', 'due_at', 'id'], unique=False,
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index('ix_tasks_lead_due_open', 'tasks', ['lead_id', 'due_at', 'id'], unique=False,
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index('ix_tasks_remind_due', 'tasks', ['due_at'], unique=False,
                    postgresql_where=UNREMINDED, sqlite_where=UNREMINDED)

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_task_due_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_leads_next_task_due_id', ['next_task_due_at', 'id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_task_reminders', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))

    with op.batch_alter_table('team_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ask_next_task', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+ runs it in place), so the leads table keeps its triggers.
    op.drop_column('team_settings', 'ask_next_task')
    op.drop_column('users', 'email_task_reminders')
    op.drop_index('ix_leads_next_task_due_id', table_name='leads')
    op.drop_column('leads', 'next_task_due_at')
    op.drop_index('ix_tasks_remind_due', table_name='tasks')
    op.drop_index('ix_tasks_lead_due_open', table_name='tasks')
    op.drop_index('ix_tasks_owner_due_open', table_name='tasks')
    op.drop_table('tasks')
