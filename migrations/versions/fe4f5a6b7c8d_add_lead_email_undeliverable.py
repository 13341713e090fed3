"""add lead email_undeliverable_at and _reason: a relay refused the address for good

Revision ID: fe4f5a6b7c8d
Revises: fb1c2d3e4f5a
Create Date: 2026-12-03 16:45:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'fe4f5a6b7c8d'
down_revision = 'fb1c2d3e4f5a'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable columns with no default: no rewrite of the leads table on PostgreSQL.
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_undeliverable_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('email_undeliverable_reason', sa.String(length=300), nullable=True))


def downgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('email_undeliverable_reason')
        batch_op.drop_column('email_undeliverable_at')
