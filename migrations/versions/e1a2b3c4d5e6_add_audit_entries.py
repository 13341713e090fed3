"""add audit_entries: the log of admin actions shown at /settings/audit

Revision ID: e1a2b3c4d5e6
Revises: d9e8f7a6b5c4
Create Date: 2026-12-05 16:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1a2b3c4d5e6'
down_revision = 'd9e8f7a6b5c4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_entries_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    op.create_index('ix_audit_entries_kind_id', 'audit_entries', ['kind', 'id'], unique=False)
    op.create_index('ix_audit_entries_actor_id_id', 'audit_entries', ['actor_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_audit_entries_actor_id_id', table_name='audit_entries')
    op.drop_index('ix_audit_entries_kind_id', table_name='audit_entries')
    op.drop_table('audit_entries')
