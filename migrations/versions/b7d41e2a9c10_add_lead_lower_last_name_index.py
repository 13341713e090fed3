"""add an index on lower(last_name), for capture's name-and-company identity rule

Revision ID: b7d41e2a9c10
Revises: a9e4c2d71b30
Create Date: 2026-12-02 14:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d41e2a9c10'
down_revision = 'a9e4c2d71b30'
branch_labels = None
depends_on = None


def upgrade():
    # An expression index: SQLite (3.9+) and PostgreSQL both build and use it for lower(last_name) = ?.
    op.create_index('ix_leads_lower_last_name', 'leads', [sa.text('lower(last_name)')], unique=False)


def downgrade():
    op.drop_index('ix_leads_lower_last_name', table_name='leads')
