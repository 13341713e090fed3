"""add known sign-in addresses: a correct password from one skips the per-account delay

Revision ID: a9e4c2d71b30
Revises: b7e3c1d0a9f4
Create Date: 2026-12-02 14:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a9e4c2d71b30'
down_revision = 'b7e3c1d0a9f4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('known_sign_in_addresses',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('last_signed_in_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_known_sign_in_addresses_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'ip', name=op.f('pk_known_sign_in_addresses'))
    )


def downgrade():
    op.drop_table('known_sign_in_addresses')
