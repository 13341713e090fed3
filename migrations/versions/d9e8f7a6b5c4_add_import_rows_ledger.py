"""add import_rows: every row of an import accounted for (replaces import_rejections); undone imports

import_rows holds one row per data row of an imported file: its outcome (created, updated, merged,
skipped, rejected), the lead it became or matched (SET NULL when that lead is deleted), the reason,
the raw values of a rejected row, and for updated and merged rows the fields they changed
({field: [before, after]}) so the import can be undone. The rejections already stored move into it
as "rejected" rows; import_rejections is dropped. lead_imports.undone_at marks an undone import.

Revision ID: d9e8f7a6b5c4
Revises: a9b8c7d6e5f4
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd9e8f7a6b5c4'
down_revision = 'a9b8c7d6e5f4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_rows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('values', sa.JSON(), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['import_id'], ['lead_imports.id'], name=op.f('fk_import_rows_import_id_lead_imports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_import_rows_lead_id_leads'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_rows'))
    )
    op.create_index('ix_import_rows_import_row', 'import_rows', ['import_id', 'row_number'], unique=False)
    op.create_index('ix_import_rows_import_outcome_row', 'import_rows', ['import_id', 'outcome', 'row_number'],
                    unique=False)
    op.create_index('ix_import_rows_import_lead', 'import_rows', ['import_id', 'lead_id'], unique=False)
    op.create_index('ix_import_rows_lead_id', 'import_rows', ['lead_id'], unique=False)
    op.execute('INSERT INTO import_rows (import_id, row_number, outcome, reason, "values") '
               "SELECT import_id, row_number, 'rejected', reason, \"values\" FROM import_rejections")
    op.drop_index('ix_import_rejections_import_row', table_name='import_rejections')
    op.drop_table('import_rejections')
    # Plain ADD COLUMN, as b9c8d7e6f5a4 explains (no batch copy of lead_imports on SQLite).
    op.add_column('lead_imports', sa.Column('undone_at', sa.DateTime(), nullable=True))


def downgrade():
    op.drop_column('lead_imports', 'undone_at')
    op.create_table('import_rejections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['lead_imports.id'], name=op.f('fk_import_rejections_import_id_lead_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_rejections'))
    )
    op.create_index('ix_import_rejections_import_row', 'import_rejections', ['import_id', 'row_number'], unique=False)
    op.execute('INSERT INTO import_rejections (import_id, row_number, reason, "values") '
               "SELECT import_id, row_number, reason, COALESCE(\"values\", '[]') FROM import_rows "
               "WHERE outcome = 'rejected'")
    op.drop_index('ix_import_rows_lead_id', table_name='import_rows')
    op.drop_index('ix_import_rows_import_lead', table_name='import_rows')
    op.drop_index('ix_import_rows_import_outcome_row', table_name='import_rows')
    op.drop_index('ix_import_rows_import_row', table_name='import_rows')
    op.drop_table('import_rows')
