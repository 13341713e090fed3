"""add availability (away until, working hours), the pool claim cap, and lead territory

Assignment rules skip members who are away or outside their working hours, and the least-loaded
and pool limits count open leads. users.away_until is the last day away; working_hours holds one
shift per weekday in the user's timezone. team_settings.pool_claim_cap bounds how many open leads
a member may hold and still claim from the pool. leads.country (ISO 3166-1 alpha-2, indexed for
territory filters) and leads.region (state or province) route leads by territory.

SQLite: only ADD COLUMN and CREATE INDEX, which batch mode runs in place, so the leads table is
not rebuilt (a rebuild would drop its stage-totals triggers).

Revision ID: e3a0a11ab1e3
Revises: c4f2a8e61d07
Create Date: 2026-12-03 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3a0a11ab1e3'
down_revision = 'c4f2a8e61d07'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('away_until', sa.Date(), nullable=True))

    op.create_table('working_hours',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('weekday', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('starts_at', sa.Time(), nullable=False),
    sa.Column('ends_at', sa.Time(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_working_hours_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'weekday', name=op.f('pk_working_hours'))
    )

    with op.batch_alter_table('team_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pool_claim_cap', sa.Integer(), nullable=True))

    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('region', sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f('ix_leads_country'), ['country'], unique=False)


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+ runs it in place), so the leads table keeps its triggers.
    op.drop_index(op.f('ix_leads_country'), table_name='leads')
    op.drop_column('leads', 'region')
    op.drop_column('leads', 'country')
    op.drop_column('team_settings', 'pool_claim_cap')
    op.drop_table('working_hours')
    op.drop_column('users', 'away_until')
