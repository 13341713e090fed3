"""add the first-response SLA: business hours, holidays, target rules, and the clock per lead

business_hours / holidays: the team's opening ranges per weekday and days off, in the team timezone.
sla_rules: ordered first-response targets matching a source, a form, a score band or anything.
leads.sla_*: the rule, when the clock started, the due instant (indexed: breached and due-soon
filters), the next escalation instant (partial index: the worker's sweep reads only pending ones),
and when the warning and the breach happened. Existing leads get no SLA clock (NULL).

SQLite: only ADD COLUMN and CREATE INDEX on leads, which run in place, so the table is not rebuilt
(a rebuild would drop its stage-totals triggers).

Revision ID: a1d2e3f4a5b6
Revises: a2e3f4a5b6c7 (notification kinds, branch notify; main's head f7a8b9c0d1e2 before it)
Create Date: 2026-12-03 13:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1d2e3f4a5b6'
down_revision = 'a2e3f4a5b6c7'  # after notify's revision, merged into this branch: one head
branch_labels = None
depends_on = None

PENDING = sa.text("sla_next_at IS NOT NULL")


def upgrade():
    op.create_table('business_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_minute', sa.Integer(), nullable=False),
    sa.Column('end_minute', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_hours'))
    )
    op.create_table('holidays',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_holidays'))
    )
    op.create_table('sla_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('match', sa.String(length=8), nullable=False),
    sa.Column('value', sa.String(length=100), nullable=False),
    sa.Column('target_minutes', sa.Integer(), nullable=False),
    sa.Column('business_time', sa.Boolean(), nullable=False),
    sa.Column('on_breach', sa.String(length=8), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_rules'))
    )
    for name in ('sla_rule_id',):
        op.add_column('leads', sa.Column(name, sa.Integer(), nullable=True))
    for name in ('sla_started_at', 'sla_due_at', 'sla_next_at', 'sla_warned_at', 'sla_breached_at'):
        op.add_column('leads', sa.Column(name, sa.DateTime(), nullable=True))
    op.create_index('ix_leads_sla_due', 'leads', ['sla_due_at'], unique=False)
    op.create_index('ix_leads_sla_next', 'leads', ['sla_next_at'], unique=False,
                    postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade():
    op.drop_index('ix_leads_sla_next', table_name='leads')
    op.drop_index('ix_leads_sla_due', table_name='leads')
    # Plain DROP COLUMN (SQLite 3.35+ runs it in place), so the leads table keeps its triggers.
    for name in ('sla_breached_at', 'sla_warned_at', 'sla_next_at', 'sla_due_at', 'sla_started_at', 'sla_rule_id'):
        op.drop_column('leads', name)
    op.drop_table('sla_rules')
    op.drop_table('holidays')
    op.drop_table('business_hours')
