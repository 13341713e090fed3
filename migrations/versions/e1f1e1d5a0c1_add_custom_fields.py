"""add custom_fields, lead_field_values and lead_field_choices

Admins define lead fields of their own. Each value is a row in a typed column (text, long text,
number, date) indexed as (field_id, value, lead_id), so the pool filters and sorts by a custom
field with an index range at any number of leads; a multiple-choice field keeps one row per chosen
option in lead_field_choices.

Revision ID: e1f1e1d5a0c1
Revises: c4f2a8e61d07
Create Date: 2026-12-03 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e1f1e1d5a0c1'
down_revision = 'c4f2a8e61d07'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('custom_fields',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('help_text', sa.String(length=300), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('show_on_card', sa.Boolean(), nullable=False),
    sa.Column('choices', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_custom_fields')),
    sa.UniqueConstraint('key', name=op.f('uq_custom_fields_key'))
    )
    op.create_table('lead_field_values',
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=False),
    sa.Column('value_text', sa.String(length=500), nullable=True),
    sa.Column('value_long', sa.Text(), nullable=True),
    sa.Column('value_number', sa.Numeric(precision=20, scale=4), nullable=True),
    sa.Column('value_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['field_id'], ['custom_fields.id'], name=op.f('fk_lead_field_values_field_id_custom_fields'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_field_values_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lead_id', 'field_id', name=op.f('pk_lead_field_values'))
    )
    op.create_index('ix_lead_field_values_text', 'lead_field_values', ['field_id', 'value_text', 'lead_id'], unique=False)
    op.create_index('ix_lead_field_values_number', 'lead_field_values', ['field_id', 'value_number', 'lead_id'], unique=False)
    op.create_index('ix_lead_field_values_date', 'lead_field_values', ['field_id', 'value_date', 'lead_id'], unique=False)
    op.create_table('lead_field_choices',
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('field_id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['field_id'], ['custom_fields.id'], name=op.f('fk_lead_field_choices_field_id_custom_fields'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_field_choices_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lead_id', 'field_id', 'choice', name=op.f('pk_lead_field_choices'))
    )
    op.create_index('ix_lead_field_choices_field_choice', 'lead_field_choices', ['field_id', 'choice', 'lead_id'], unique=False)
    with op.batch_alter_table('capture_forms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('custom_fields', sa.JSON(), nullable=False, server_default='[]'))


def downgrade():
    with op.batch_alter_table('capture_forms', schema=None) as batch_op:
        batch_op.drop_column('custom_fields')
    op.drop_index('ix_lead_field_choices_field_choice', table_name='lead_field_choices')
    op.drop_table('lead_field_choices')
    op.drop_index('ix_lead_field_values_date', table_name='lead_field_values')
    op.drop_index('ix_lead_field_values_number', table_name='lead_field_values')
    op.drop_index('ix_lead_field_values_text', table_name='lead_field_values')
    op.drop_table('lead_field_values')
    op.drop_table('custom_fields')
