"""add notification kinds and links, and each person's per-kind email choices

notifications.kind says what a notice is about (assigned, task_due, appointment, mention, ...), so a
person can choose per kind which also come by email; notifications.url is where the notice leads.
notification_preferences holds those choices (a kind with no row takes its default).

users.email_task_reminders is replaced by the "task_due" choice: a person who had it on gets a
task_due row with email on (off is the default, so nobody else needs a row). Existing notices get
their kind from what wrote them: a capture form's held-submission notice, "New lead for you" from
an assignment rule, a "... due: ..." task reminder, an admin's notice about a broken rule, and an
appointment answer otherwise.

SQLite: ADD COLUMN runs in place; DROP COLUMN is plain (SQLite 3.35+), so no table is rebuilt.

Revision ID: a2e3f4a5b6c7
Revises: f7a8b9c0d1e2
Create Date: 2026-12-03 13:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a2e3f4a5b6c7'
down_revision = 'f7a8b9c0d1e2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=32), server_default='notice', nullable=False))
        batch_op.add_column(sa.Column('url', sa.String(length=500), nullable=True))
    op.execute("UPDATE notifications SET kind = CASE"
                " WHEN capture_form_id IS NOT NULL THEN 'held_submission'"
                " WHEN lead_id IS NULL THEN 'rule_broken'"
                " WHEN message LIKE 'New lead for you:%' THEN 'assigned'"
                " WHEN message LIKE '% due: %' THEN 'task_due'"
                " ELSE 'appointment' END")

    op.create_table('notification_preferences',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('email', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'kind', name=op.f('pk_notification_preferences'))
    )
    op.execute("INSERT INTO notification_preferences (user_id, kind, email)"
               " SELECT id, 'task_due', email_task_reminders FROM users WHERE email_task_reminders")
    op.drop_column('users', 'email_task_reminders')


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_task_reminders', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.execute("UPDATE users SET email_task_reminders = EXISTS (SELECT 1 FROM notification_preferences p"
               " WHERE p.user_id = users.id AND p.kind = 'task_due' AND p.email)")
    op.drop_table('notification_preferences')
    op.drop_column('notifications', 'url')
    op.drop_column('notifications', 'kind')
