"""add the suppression list and extra headers on outbox emails

suppressed_addresses: one row each time an address is put on the list (unsubscribed, bounced, or
added by an admin), lifted rows keeping who removed them, when and why. A partial unique index keeps
one row in force per address; (address, id) serves the admin page's prefix search (the address
compares byte by byte on PostgreSQL, COLLATE "C", as SQLite's does) and (created_at, id) its
newest-first list.

outbox_emails.extra_headers: headers an email carries beyond the usual ones (List-Unsubscribe).

Revision ID: fd3e4f5a6b7c
Revises: fb1c2d3e4f5a
Create Date: 2026-12-03 16:45:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = 'fd3e4f5a6b7c'
down_revision = 'fb1c2d3e4f5a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('suppressed_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=254).with_variant(postgresql.VARCHAR(254, collation="C"), "postgresql"),
              nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('removed_at', sa.DateTime(), nullable=True),
    sa.Column('removed_by_id', sa.Integer(), nullable=True),
    sa.Column('removed_reason', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_suppressed_addresses_lead_id_leads'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                            name=op.f('fk_suppressed_addresses_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['removed_by_id'], ['users.id'],
                            name=op.f('fk_suppressed_addresses_removed_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressed_addresses'))
    )
    op.create_index('ux_suppressed_addresses_active_address', 'suppressed_addresses', ['address'], unique=True,
                    sqlite_where=sa.text('removed_at IS NULL'), postgresql_where=sa.text('removed_at IS NULL'))
    op.create_index('ix_suppressed_addresses_address', 'suppressed_addresses', ['address', 'id'], unique=False)
    op.create_index('ix_suppressed_addresses_created', 'suppressed_addresses', ['created_at', 'id'], unique=False)
    op.create_index(op.f('ix_suppressed_addresses_lead_id'), 'suppressed_addresses', ['lead_id'], unique=False)
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extra_headers', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.drop_column('extra_headers')
    op.drop_index(op.f('ix_suppressed_addresses_lead_id'), table_name='suppressed_addresses')
    op.drop_index('ix_suppressed_addresses_created', table_name='suppressed_addresses')
    op.drop_index('ix_suppressed_addresses_address', table_name='suppressed_addresses')
    op.drop_index('ux_suppressed_addresses_active_address', table_name='suppressed_addresses')
    op.drop_table('suppressed_addresses')
