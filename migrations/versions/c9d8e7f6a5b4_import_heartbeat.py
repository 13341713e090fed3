"""add lead_imports.heartbeat_at and an index on status: an import whose worker died (or whose job
Redis lost) is found by the sweep and carried on after its last committed batch

Revision ID: c9d8e7f6a5b4
Revises: b9c8d7e6f5a4
Create Date: 2026-12-05 08:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c9d8e7f6a5b4'
down_revision = 'b9c8d7e6f5a4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead_imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_lead_imports_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('lead_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_imports_status'))
        batch_op.drop_column('heartbeat_at')
