"""add email templates, and a Reply-To on outbox emails

Templates are the team's saved subjects and bodies with lead variables; two never share a name in
any case (a unique index on lower(name)). An email a member writes to a lead goes out from the
team's address with the member's own as Reply-To, so the prospect's answer reaches them.

Revision ID: fc2d3e4f5a6b
Revises: fb1c2d3e4f5a
Create Date: 2026-12-03 16:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'fc2d3e4f5a6b'
down_revision = 'fb1c2d3e4f5a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'email_templates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body_html', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_email_templates_created_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_templates')),
    )
    op.create_index('ix_email_templates_lower_name', 'email_templates', [sa.text('lower(name)')], unique=True)
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_to', sa.String(length=254), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_emails', schema=None) as batch_op:
        batch_op.drop_column('reply_to')
    op.drop_index('ix_email_templates_lower_name', table_name='email_templates')
    op.drop_table('email_templates')
