"""the reports' indexes carry deleted_at, so they cover the reports' queries again

Revision ID: d6e7f8a9b0c1
Revises: a7c3e9f1d2b4
Create Date: 2026-12-06 00:15:00.000000

Reports leave out leads in the trash (deleted_at IS NULL), a column ix_leads_reports and
ix_leads_forecast did not hold: SQLite then read the range through ix_leads_created_at and looked up
every lead in the table (funnel at 100,000 leads: 220 ms against 76 ms from the covering index).
Both indexes are made again with deleted_at as their last column.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'd6e7f8a9b0c1'
down_revision = 'a7c3e9f1d2b4'
branch_labels = None
depends_on = None

REPORTS = ['created_at', 'stage_id', 'owner_id', 'source', 'value', 'stage_entered_at', 'first_response_seconds',
           'first_response_by_id', 'first_response_at', 'sla_due_at', 'closed_on', 'capture_form_id', 'utm_campaign']
FORECAST = ['expected_close_on', 'stage_id', 'owner_id', 'source', 'value']


def upgrade():
    op.drop_index('ix_leads_reports', table_name='leads')
    op.create_index('ix_leads_reports', 'leads', [*REPORTS, 'deleted_at'])
    op.drop_index('ix_leads_forecast', table_name='leads')
    op.create_index('ix_leads_forecast', 'leads', [*FORECAST, 'deleted_at'])


def downgrade():
    op.drop_index('ix_leads_forecast', table_name='leads')
    op.create_index('ix_leads_forecast', 'leads', FORECAST)
    op.drop_index('ix_leads_reports', table_name='leads')
    op.create_index('ix_leads_reports', 'leads', REPORTS)
