"""add settings_versions: one token every settings change renews, so captures may keep checked rules

Revision ID: f8b9c0d1e2f3
Revises: f7a8b9c0d1e2
Create Date: 2026-12-03 11:00:00.000000

"""
import uuid

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f8b9c0d1e2f3'
down_revision = 'f7a8b9c0d1e2'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table('settings_versions',
                            sa.Column('id', sa.Integer(), nullable=False),
                            sa.Column('token', sa.String(length=32), nullable=False),
                            sa.PrimaryKeyConstraint('id', name=op.f('pk_settings_versions')))
    op.bulk_insert(table, [{'id': 1, 'token': uuid.uuid4().hex}])


def downgrade():
    op.drop_table('settings_versions')
