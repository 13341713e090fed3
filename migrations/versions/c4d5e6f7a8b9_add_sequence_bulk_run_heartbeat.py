"""add sequence_bulk_runs.heartbeat_at and an index on state: a bulk enrolment whose worker died is
found by the sweep (no heartbeat for a while) and carried on after its last batch

Revision ID: c4d5e6f7a8b9
Revises: c2b3c4d5e6f7
Create Date: 2026-12-03 19:55:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4d5e6f7a8b9'
down_revision = 'c2b3c4d5e6f7'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sequence_bulk_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_sequence_bulk_runs_state'), ['state'], unique=False)


def downgrade():
    with op.batch_alter_table('sequence_bulk_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sequence_bulk_runs_state'))
        batch_op.drop_column('heartbeat_at')
