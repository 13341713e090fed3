"""index the lead page's and the notifications page's lists on their keyset order

Notes and appointments were indexed on lead_id alone, notifications on (user_id, read_at): a page of
the newest had to read and sort a lead's (or a person's) whole history. A (parent, time) index
serves both the parent lookup and the newest-first keyset page, so the lead_id-only indexes go.

Revision ID: c4f2a8e61d07
Revises: c4f1a7e2b9d3
Create Date: 2026-12-02 17:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4f2a8e61d07'
down_revision = 'c4f1a7e2b9d3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_notes_lead_created', 'notes', ['lead_id', 'created_at'], unique=False)
    op.drop_index('ix_notes_lead_id', table_name='notes')
    op.create_index('ix_appointments_lead_starts', 'appointments', ['lead_id', 'starts_at'], unique=False)
    op.drop_index('ix_appointments_lead_id', table_name='appointments')
    op.create_index('ix_notifications_user_created', 'notifications', ['user_id', 'created_at'], unique=False)


def downgrade():
    op.drop_index('ix_notifications_user_created', table_name='notifications')
    op.create_index('ix_appointments_lead_id', 'appointments', ['lead_id'], unique=False)
    op.drop_index('ix_appointments_lead_starts', table_name='appointments')
    op.create_index('ix_notes_lead_id', 'notes', ['lead_id'], unique=False)
    op.drop_index('ix_notes_lead_created', table_name='notes')
