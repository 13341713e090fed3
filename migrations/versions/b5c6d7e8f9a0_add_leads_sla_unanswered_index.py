"""add a partial index of the leads whose first-response clock runs

The pool's "First response" filter (awaiting, overdue) and the breached counts ask for unanswered,
open leads with a due time. ix_leads_sla_due holds every lead that ever had a clock, answered or
not, so at a million leads that range grows with the team's history; this index holds only the
leads waiting now.

Revision ID: b5c6d7e8f9a0
Revises: b4c5d6e7f8a9
Create Date: 2026-12-03 17:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5c6d7e8f9a0'
down_revision = 'b4c5d6e7f8a9'
branch_labels = None
depends_on = None

WAITING = "sla_due_at IS NOT NULL AND first_response_at IS NULL AND closed_on IS NULL"


def upgrade():
    op.create_index('ix_leads_sla_unanswered', 'leads', ['sla_due_at'], unique=False,
                    postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))


def downgrade():
    op.drop_index('ix_leads_sla_unanswered', table_name='leads')
