"""add stage probability, lead expected close date and the indexes reports read

Revision ID: c1d2e3f4a5b6
Revises: e3f4a5b6c7d8
Create Date: 2026-12-05 21:10:00.000000

The forecast weights each open lead's value by its stage's probability (admins set it in the stage
editor) and groups it by the lead's expected close month. The indexes serve the reports' ranges:
the leads captured in a range (covering every column a report reads of them), open leads by
expected close day, the leads stuck longest per stage, and notes written, tasks done, appointments booked and enrolments made in a range.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'c1d2e3f4a5b6'
down_revision = 'e3f4a5b6c7d8'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable columns with no default: no rewrite on PostgreSQL. Plain ADD COLUMN, no batch copy: a
    # copy of leads would lose its SQLite triggers, one of stages its lower(name) index.
    op.add_column('stages', sa.Column('probability', sa.Integer(), nullable=True))
    op.add_column('leads', sa.Column('expected_close_on', sa.Date(), nullable=True))
    op.create_index('ix_leads_stage_entered', 'leads', ['stage_id', 'stage_entered_at'])
    # Every column a report reads of the leads captured in a range: reports scan this index alone.
    op.create_index('ix_leads_reports', 'leads', [
        'created_at', 'stage_id', 'owner_id', 'source', 'value', 'stage_entered_at', 'first_response_seconds',
        'first_response_by_id', 'first_response_at', 'sla_due_at', 'closed_on', 'capture_form_id', 'utm_campaign'])
    op.create_index('ix_leads_forecast', 'leads', ['expected_close_on', 'stage_id', 'owner_id', 'source', 'value'])
    op.create_index('ix_tasks_done_by_done', 'tasks', ['done_by_id', 'done_at'])
    op.create_index('ix_notes_author_created', 'notes', ['author_id', 'created_at'])
    op.create_index('ix_appointments_created', 'appointments', ['created_at'])
    op.create_index('ix_sequence_enrolments_enrolled', 'sequence_enrolments', ['enrolled_at'])


def downgrade():
    op.drop_index('ix_sequence_enrolments_enrolled', table_name='sequence_enrolments')
    op.drop_index('ix_appointments_created', table_name='appointments')
    op.drop_index('ix_notes_author_created', table_name='notes')
    op.drop_index('ix_tasks_done_by_done', table_name='tasks')
    op.drop_index('ix_leads_forecast', table_name='leads')
    op.drop_index('ix_leads_reports', table_name='leads')
    op.drop_index('ix_leads_stage_entered', table_name='leads')
    # Plain DROP COLUMN (SQLite 3.35+ runs it in place): leads keeps its triggers, stages its index.
    op.drop_column('leads', 'expected_close_on')
    op.drop_column('stages', 'probability')
