"""add an index on leads (stage_id, owner_id, position), for "my leads" board columns paged by keyset

Revision ID: c3a8f0d4e2b1
Revises: b7d41e2a9c10
Create Date: 2026-12-02 17:55:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c3a8f0d4e2b1'
down_revision = 'b7d41e2a9c10'
branch_labels = None
depends_on = None


def upgrade():
    # Without it a "my leads" column walks the whole stage's position index past everyone else's
    # cards: a page cost that grows with the stage, not with the page.
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('ix_leads_stage_owner_position', ['stage_id', 'owner_id', 'position'], unique=False)


def downgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_stage_owner_position')
