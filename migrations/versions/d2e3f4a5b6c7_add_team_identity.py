"""add the team's identity to its settings: name, logo, accent colour, currency, From address

Revision ID: d2e3f4a5b6c7
Revises: c2b3c4d5e6f7
Create Date: 2026-12-03 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd2e3f4a5b6c7'
down_revision = 'c2b3c4d5e6f7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('team_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('accent_colour', sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column('currency', sa.String(length=3), server_default='USD', nullable=False))
        batch_op.add_column(sa.Column('mail_from', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('logo', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('logo_type', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('logo_version', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('team_settings', schema=None) as batch_op:
        batch_op.drop_column('logo_version')
        batch_op.drop_column('logo_type')
        batch_op.drop_column('logo')
        batch_op.drop_column('mail_from')
        batch_op.drop_column('currency')
        batch_op.drop_column('accent_colour')
        batch_op.drop_column('team_name')
