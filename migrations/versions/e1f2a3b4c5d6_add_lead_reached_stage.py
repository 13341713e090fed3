"""add the furthest open stage each lead reached, for the funnel

A lead stores only the stage it is in now, so the funnel counted a lost lead only towards its lost
stage and a lead moved back only where it sits: every "Reached" was short by the leads lost along
the way, and every conversion between stages inflated. leads.reached_stage_id keeps the furthest
open stage (in the pipeline's order: position, then id) the lead has been in; services/leads
keeps it on every move. A stage being deleted hands its place to the open stage before it.

Backfill, set-based (one statement, whatever the number of leads): the furthest open stage a lead's
timeline names ("created" in a stage, a "stage_changed" from or to one), matching the stage names
the entries recorded to today's stages where they still match (in any case), when it is further
along than the stage the lead is in now. Otherwise the column stays empty: the lead got no further
than its current stage (a renamed or deleted stage's entries match nothing, so the current stage
stands), and the funnel reads an empty one so; a won or lost lead with no matching entry counts only
at the top of the funnel.

ix_leads_reports is made again with reached_stage_id as its last column, so the funnel still reads
the index alone; ix_leads_reached_stage_id serves deleting a stage (its foreign key and hand-down).

Revision ID: e1f2a3b4c5d6
Revises: b8d4f0a2c6e1
Create Date: 2026-12-06 03:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'e1f2a3b4c5d6'
down_revision = 'b8d4f0a2c6e1'
branch_labels = None
depends_on = None

REPORTS = ['created_at', 'stage_id', 'owner_id', 'source', 'value', 'stage_entered_at', 'first_response_seconds',
           'first_response_by_id', 'first_response_at', 'sla_due_at', 'closed_on', 'capture_form_id', 'utm_campaign',
           'deleted_at']


def _named(key: str, pg: bool) -> str:
    """The lower-cased stage name a timeline entry's data holds under `key` (SQL)."""
    return f"lower(t.data ->> '{key}')" if pg else f"lower(json_extract(t.data, '$.{key}'))"


def upgrade():
    pg = op.get_bind().dialect.name == 'postgresql'
    # Plain ADD COLUMN on leads: a batch would rebuild the table on SQLite and drop its totals triggers.
    if pg:
        op.add_column('leads', sa.Column('reached_stage_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_leads_reached_stage_id_stages'), 'leads', 'stages', ['reached_stage_id'], ['id'])
    else:
        op.execute("ALTER TABLE leads ADD COLUMN reached_stage_id INTEGER REFERENCES stages (id)")

    # The open stages in the pipeline's order, numbered: "furthest" is the highest number. Only the
    # leads whose timeline names an open stage further along than the one they are in (lost, won or
    # moved back) are written: the rest keep None, which means no further than their stage, as the
    # funnel reads it. On PostgreSQL every row written is a new version in each of the table's ~30
    # indexes, so writing all of them would cost minutes at a million leads.
    ranked = ("SELECT id, lower(name) AS name, row_number() OVER (ORDER BY position, id) AS rank "
              "FROM stages WHERE kind = 'open'")
    named = " UNION ALL ".join(
        f"SELECT t.lead_id, {_named(key, pg)} AS name FROM timeline_entries t WHERE t.kind = '{kind}'"
        for kind, key in (('created', 'stage'), ('stage_changed', 'from'), ('stage_changed', 'to')))
    op.execute(f"""
        WITH ranked AS ({ranked}),
             seen AS (SELECT h.lead_id, max(r.rank) AS rank FROM ({named}) h JOIN ranked r ON r.name = h.name
                      GROUP BY h.lead_id)
        UPDATE leads SET reached_stage_id = furthest.id
        FROM seen JOIN ranked furthest ON furthest.rank = seen.rank
        WHERE seen.lead_id = leads.id
          AND NOT EXISTS (SELECT 1 FROM ranked now WHERE now.id = leads.stage_id AND now.rank >= seen.rank)""")

    op.create_index('ix_leads_reached_stage_id', 'leads', ['reached_stage_id'])
    op.drop_index('ix_leads_reports', table_name='leads')
    op.create_index('ix_leads_reports', 'leads', [*REPORTS, 'reached_stage_id'])


def downgrade():
    op.drop_index('ix_leads_reports', table_name='leads')
    op.create_index('ix_leads_reports', 'leads', REPORTS)
    op.drop_index('ix_leads_reached_stage_id', table_name='leads')
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('fk_leads_reached_stage_id_stages'), 'leads', type_='foreignkey')
    op.drop_column('leads', 'reached_stage_id')
