"""add a lead's street, city, postal code, website and description, and lower(company) for identity

The address beside the existing country and region, as imported files carry it and routing reads it;
the website normalised to a web address; the description as free text with its line breaks. The
index on lower(company) lets capture recognise a business with no person (no name, email or phone)
by its company name in any case (identity.same_company). The new columns start empty, so no search
document changes now.

Revision ID: a9b8c7d6e5f4
Revises: c9d8e7f6a5b4
Create Date: 2026-12-05 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9b8c7d6e5f4'
down_revision = 'c9d8e7f6a5b4'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no batch copy): a copy of leads would lose its SQLite triggers.
    op.add_column('leads', sa.Column('street', sa.String(length=200), nullable=True))
    op.add_column('leads', sa.Column('city', sa.String(length=100), nullable=True))
    op.add_column('leads', sa.Column('postal_code', sa.String(length=20), nullable=True))
    op.add_column('leads', sa.Column('website', sa.String(length=500), nullable=True))
    op.add_column('leads', sa.Column('description', sa.Text(), nullable=True))
    op.create_index('ix_leads_lower_company', 'leads', [sa.text('lower(company)')], unique=False)


def downgrade():
    op.drop_index('ix_leads_lower_company', table_name='leads')
    op.drop_column('leads', 'description')
    op.drop_column('leads', 'website')
    op.drop_column('leads', 'postal_code')
    op.drop_column('leads', 'city')
    op.drop_column('leads', 'street')
