"""index lead_merges.loser_id

A merged lead's old address (a bookmark, a link in an email, a notification) now leads to the lead
it was merged into, found by the loser's id.

Revision ID: b6c7d8e9f0a1
Revises: b5c6d7e8f9a0
Create Date: 2026-12-03 17:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b6c7d8e9f0a1'
down_revision = 'b5c6d7e8f9a0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f('ix_lead_merges_loser_id'), 'lead_merges', ['loser_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_lead_merges_loser_id'), table_name='lead_merges')
