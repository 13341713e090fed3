"""add logged activities, lead touches and first response, and a stale setting per stage

activities: calls, emails sent outside Leadboard and meetings people log on a lead.
leads.last_touch_at: the last time a person touched the lead (services/touches.py), indexed with
its stage (and stage_entered_at) so the stale filter reads one index range per stage.
leads.first_response_by_id / first_response_seconds: who gave the first response, and how long it
took after capture in plain seconds (business time comes with the SLA work).
stages.stale_days: a lead untouched this many days in the stage is flagged stale.

Backfill: last_touch_at is the latest timeline entry a person made that counts as a touch (a note,
a stage move, a booked appointment); leads nobody touched stay NULL. first_response_seconds is
first_response_at minus created_at; first_response_by_id is the person behind the earliest such
entry (an approximation for leads answered before this change; NULL where no entry names one).

SQLite: only ADD COLUMN and CREATE INDEX, which batch mode runs in place, so the leads table is
not rebuilt (a rebuild would drop its stage-totals triggers).

Revision ID: f2b3c4d5e6f7
Revises: e5a551a0e5b7
Create Date: 2026-12-03 09:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2b3c4d5e6f7'
down_revision = 'e5a551a0e5b7'
branch_labels = None
depends_on = None

TOUCH_ENTRIES = "('note', 'stage_changed', 'appointment_booked')"


def upgrade():
    op.create_table('activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('duration_minutes', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_activities_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_activities_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities'))
    )
    op.create_index('ix_activities_lead_created', 'activities', ['lead_id', 'created_at'], unique=False)
    op.create_index('ix_activities_user_created', 'activities', ['user_id', 'created_at'], unique=False)

    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stale_days', sa.Integer(), nullable=True))

    # Plain ADD COLUMNs. first_response_by_id has no foreign key: on SQLite one could be added
    # only by rebuilding the table, which would drop its stage-totals triggers.
    op.add_column('leads', sa.Column('last_touch_at', sa.DateTime(), nullable=True))
    op.add_column('leads', sa.Column('first_response_by_id', sa.Integer(), nullable=True))
    op.add_column('leads', sa.Column('first_response_seconds', sa.Integer(), nullable=True))

    op.execute(f"""
        UPDATE leads SET last_touch_at = (
            SELECT max(t.created_at) FROM timeline_entries t
            WHERE t.lead_id = leads.id AND t.actor_id IS NOT NULL AND t.kind IN {TOUCH_ENTRIES})""")
    op.execute(f"""
        UPDATE leads SET first_response_by_id = (
            SELECT t.actor_id FROM timeline_entries t
            WHERE t.lead_id = leads.id AND t.actor_id IS NOT NULL AND t.kind IN {TOUCH_ENTRIES}
            ORDER BY t.created_at, t.id LIMIT 1)
        WHERE first_response_at IS NOT NULL""")
    if op.get_bind().dialect.name == "sqlite":
        elapsed = "CAST(round((julianday(first_response_at) - julianday(created_at)) * 86400) AS INTEGER)"
    else:
        elapsed = "CAST(round(extract(epoch FROM (first_response_at - created_at))) AS INTEGER)"
    op.execute(f"UPDATE leads SET first_response_seconds = max_zero WHERE first_response_at IS NOT NULL"
               .replace("max_zero", f"CASE WHEN {elapsed} < 0 THEN 0 ELSE {elapsed} END"))

    op.create_index('ix_leads_stage_touch', 'leads', ['stage_id', 'last_touch_at', 'stage_entered_at'], unique=False)


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+ runs it in place), so the leads table keeps its triggers.
    op.drop_index('ix_leads_stage_touch', table_name='leads')
    op.drop_column('leads', 'first_response_by_id')
    op.drop_column('leads', 'first_response_seconds')
    op.drop_column('leads', 'last_touch_at')
    op.drop_column('stages', 'stale_days')
    op.drop_index('ix_activities_user_created', table_name='activities')
    op.drop_index('ix_activities_lead_created', table_name='activities')
    op.drop_table('activities')
