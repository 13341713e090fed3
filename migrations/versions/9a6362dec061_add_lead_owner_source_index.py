"""add an index on leads (owner_id, source)

A member who may see only their own leads and the pool gets only those leads' sources in the
source pickers (lead_queries.sources): a loose index scan along this index for their own leads
and the pool's, one hop per source, instead of reading every lead they may see.

Revision ID: 9a6362dec061
Revises: d6e7f8a9b0c1
Create Date: 2026-12-06 00:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '9a6362dec061'
down_revision = 'd6e7f8a9b0c1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_leads_owner_source', 'leads', ['owner_id', 'source'])


def downgrade():
    op.drop_index('ix_leads_owner_source', table_name='leads')
