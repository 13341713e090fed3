"""add capture forms, api keys, imports and merges

Revision ID: ede5917ab7f6
Revises: 522d1ca5d128
Create Date: 2026-11-26 01:02:17.158401

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ede5917ab7f6'
down_revision = '522d1ca5d128'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_api_keys_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('capture_forms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('default_source', sa.String(length=100), nullable=True),
    sa.Column('default_stage_id', sa.Integer(), nullable=True),
    sa.Column('thank_you_message', sa.Text(), nullable=False),
    sa.Column('redirect_url', sa.String(length=500), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('submissions', sa.Integer(), nullable=False),
    sa.Column('spam_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['default_stage_id'], ['stages.id'], name=op.f('fk_capture_forms_default_stage_id_stages'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_capture_forms')),
    sa.UniqueConstraint('slug', name=op.f('uq_capture_forms_slug'))
    )
    op.create_table('lead_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('encoding', sa.String(length=20), nullable=False),
    sa.Column('delimiter', sa.String(length=1), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('mapping', sa.JSON(), nullable=False),
    sa.Column('default_source', sa.String(length=100), nullable=True),
    sa.Column('default_stage_id', sa.Integer(), nullable=True),
    sa.Column('default_owner_id', sa.Integer(), nullable=True),
    sa.Column('duplicates', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('processed_bytes', sa.Integer(), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('created_count', sa.Integer(), nullable=False),
    sa.Column('updated_count', sa.Integer(), nullable=False),
    sa.Column('skipped_count', sa.Integer(), nullable=False),
    sa.Column('rejected_count', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_lead_imports_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['default_owner_id'], ['users.id'], name=op.f('fk_lead_imports_default_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['default_stage_id'], ['stages.id'], name=op.f('fk_lead_imports_default_stage_id_stages'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_imports'))
    )
    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_idempotency_records_api_key_id_api_keys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('api_key_id', 'key', name='uq_idempotency_records_api_key_id_key')
    )
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_records_created_at'), ['created_at'], unique=False)

    op.create_table('import_chunks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['lead_imports.id'], name=op.f('fk_import_chunks_import_id_lead_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_chunks'))
    )
    with op.batch_alter_table('import_chunks', schema=None) as batch_op:
        batch_op.create_index('ix_import_chunks_import_seq', ['import_id', 'seq'], unique=True)

    op.create_table('import_rejections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['lead_imports.id'], name=op.f('fk_import_rejections_import_id_lead_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_rejections'))
    )
    with op.batch_alter_table('import_rejections', schema=None) as batch_op:
        batch_op.create_index('ix_import_rejections_import_row', ['import_id', 'row_number'], unique=False)

    op.create_table('lead_merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survivor_id', sa.Integer(), nullable=False),
    sa.Column('loser_id', sa.Integer(), nullable=False),
    sa.Column('loser_snapshot', sa.JSON(), nullable=False),
    sa.Column('survivor_before', sa.JSON(), nullable=False),
    sa.Column('survivor_after', sa.JSON(), nullable=False),
    sa.Column('moved_timeline_ids', sa.JSON(), nullable=False),
    sa.Column('moved_note_ids', sa.JSON(), nullable=False),
    sa.Column('merged_by_id', sa.Integer(), nullable=True),
    sa.Column('merged_at', sa.DateTime(), nullable=False),
    sa.Column('undone_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['merged_by_id'], ['users.id'], name=op.f('fk_lead_merges_merged_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survivor_id'], ['leads.id'], name=op.f('fk_lead_merges_survivor_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead_merges'))
    )
    with op.batch_alter_table('lead_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_merges_survivor_id'), ['survivor_id'], unique=False)

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('utm_source', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('utm_medium', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('utm_campaign', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('referrer', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('capture_form_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_leads_capture_form_id_capture_forms'), 'capture_forms', ['capture_form_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_leads_capture_form_id_capture_forms'), type_='foreignkey')
        batch_op.drop_column('capture_form_id')
        batch_op.drop_column('referrer')
        batch_op.drop_column('utm_campaign')
        batch_op.drop_column('utm_medium')
        batch_op.drop_column('utm_source')

    with op.batch_alter_table('lead_merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_merges_survivor_id'))

    op.drop_table('lead_merges')
    with op.batch_alter_table('import_rejections', schema=None) as batch_op:
        batch_op.drop_index('ix_import_rejections_import_row')

    op.drop_table('import_rejections')
    with op.batch_alter_table('import_chunks', schema=None) as batch_op:
        batch_op.drop_index('ix_import_chunks_import_seq')

    op.drop_table('import_chunks')
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_records_created_at'))

    op.drop_table('idempotency_records')
    op.drop_table('lead_imports')
    op.drop_table('capture_forms')
    op.drop_table('api_keys')
