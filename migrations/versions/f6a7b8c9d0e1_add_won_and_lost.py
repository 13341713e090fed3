"""add lost reasons, and on leads when they were closed, why lost, and a note

Moving a lead to a won stage records the date it was won (its value is the lead's value); to a lost
stage, the date, a reason from the list admins edit, and a note. Reopening clears them. The board
shows a closed column's leads closed in the last `board_closed_days` days (index stage_id,
closed_on), and a team may require a lost reason.

Revision ID: f6a7b8c9d0e1
Revises: e5a551a0e5b7
Create Date: 2026-12-03 09:55:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f6a7b8c9d0e1'
down_revision = 'e5a551a0e5b7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lost_reasons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('archived', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lost_reasons')),
    sa.UniqueConstraint('name', name=op.f('uq_lost_reasons_name'))
    )
    # Plain ADD COLUMN on leads: a batch would rebuild the table on SQLite and drop its totals triggers.
    op.add_column('leads', sa.Column('closed_on', sa.Date(), nullable=True))
    op.add_column('leads', sa.Column('lost_note', sa.String(length=500), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.add_column('leads', sa.Column('lost_reason_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_leads_lost_reason_id_lost_reasons'), 'leads', 'lost_reasons',
                              ['lost_reason_id'], ['id'])
    else:
        # Reasons are archived, never deleted, so the reference needs no ON DELETE (SQLite's
        # reflection would not see one declared on a column, and the schema test compares them).
        op.execute("ALTER TABLE leads ADD COLUMN lost_reason_id INTEGER REFERENCES lost_reasons (id)")
    # Leads already in a won or lost stage were closed the day they entered it.
    day = ("date(COALESCE(stage_entered_at, updated_at))" if op.get_bind().dialect.name == 'sqlite'
           else "CAST(COALESCE(stage_entered_at, updated_at) AS DATE)")
    op.execute(f"UPDATE leads SET closed_on = {day} "
               "WHERE stage_id IN (SELECT id FROM stages WHERE kind IN ('won', 'lost'))")
    op.create_index('ix_leads_stage_id_closed_on', 'leads', ['stage_id', 'closed_on'], unique=False)
    op.create_index(op.f('ix_leads_lost_reason_id'), 'leads', ['lost_reason_id'], unique=False)
    with op.batch_alter_table('team_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lost_reason_required', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('board_closed_days', sa.Integer(), server_default='30', nullable=False))
    reasons = sa.table('lost_reasons', sa.column('name', sa.String), sa.column('position', sa.Integer))
    op.bulk_insert(reasons, [{'name': name, 'position': n} for n, name in enumerate(
        ("Price", "Chose a competitor", "No budget", "Bad timing", "No response", "Not a fit"), start=1)])


def downgrade():
    with op.batch_alter_table('team_settings', schema=None) as batch_op:
        batch_op.drop_column('board_closed_days')
        batch_op.drop_column('lost_reason_required')
    op.drop_index(op.f('ix_leads_lost_reason_id'), table_name='leads')
    op.drop_index('ix_leads_stage_id_closed_on', table_name='leads')
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('fk_leads_lost_reason_id_lost_reasons'), 'leads', type_='foreignkey')
    op.drop_column('leads', 'lost_reason_id')
    op.drop_column('leads', 'lost_note')
    op.drop_column('leads', 'closed_on')
    op.drop_table('lost_reasons')
