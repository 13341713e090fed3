"""add the board's "My leads by score" index

The board's column for one person, sorted by score, pages by keyset over (score, id) inside
(stage_id, owner_id): one index range per page, however many leads the stage holds and however few
of them are this person's. Before it the column read ix_leads_stage_score_id and skipped other
people's leads, which for someone with few leads in a big stage meant scanning the stage.

Revision ID: f9c0d1e2f3a4
Revises: f8b9c0d1e2f3
Create Date: 2026-12-03 14:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f9c0d1e2f3a4'
down_revision = 'f8b9c0d1e2f3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_leads_stage_owner_score_id', 'leads', ['stage_id', 'owner_id', 'score', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_leads_stage_owner_score_id', table_name='leads')
