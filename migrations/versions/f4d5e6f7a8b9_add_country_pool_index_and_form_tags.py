"""add the pool's country index and a capture form's tags

The pool filtered by country pages newest first by keyset over (country, created_at, id): one
index range per page at any size. It replaces ix_leads_country, its prefix (what assignment's
territory rules and the country list's loose index scan read). capture_forms.tags: the tags every
submission of the form receives.

Revision ID: f4d5e6f7a8b9
Revises: e5a551a0e5b7
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f4d5e6f7a8b9'
down_revision = 'e5a551a0e5b7'
branch_labels = None
depends_on = None


def upgrade():
    # Plain CREATE/DROP INDEX and ADD COLUMN: no batch copy, so the leads table keeps its triggers.
    op.create_index('ix_leads_country_created_id', 'leads', ['country', 'created_at', 'id'], unique=False)
    op.drop_index('ix_leads_country', table_name='leads')
    op.add_column('capture_forms', sa.Column('tags', sa.JSON(), server_default='[]', nullable=False))


def downgrade():
    op.drop_column('capture_forms', 'tags')
    op.create_index('ix_leads_country', 'leads', ['country'], unique=False)
    op.drop_index('ix_leads_country_created_id', table_name='leads')
