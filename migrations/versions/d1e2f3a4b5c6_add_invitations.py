"""add invitations: an admin invites a teammate by email; they set their own name and password

Revision ID: d1e2f3a4b5c6
Revises: c2b3c4d5e6f7
Create Date: 2026-12-03 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd1e2f3a4b5c6'
down_revision = 'c2b3c4d5e6f7'
branch_labels = None
depends_on = None

PENDING = sa.text("accepted_at IS NULL AND revoked_at IS NULL")


def upgrade():
    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('invited_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('accepted_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_invitations_invited_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations'))
    )
    # At most one pending invitation per address; the users page lists the pending ones through it.
    op.create_index('ux_invitations_pending_email', 'invitations', ['email'], unique=True,
                    sqlite_where=PENDING, postgresql_where=PENDING)


def downgrade():
    op.drop_index('ux_invitations_pending_email', table_name='invitations')
    op.drop_table('invitations')
