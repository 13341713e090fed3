"""add member permissions to team_settings, and a role and read-only scope to api_keys

team_settings.member_*: what members may do (see every lead or only theirs and the pool, reassign
others' leads, merge, import, export, delete); each starts true, what members could do before,
except delete: only admins could delete (move to the trash) before, so it starts false.
api_keys.role and read_only: keys made before this were full-access, so they become admin keys
that may write.

Revision ID: a7c3e9f1d2b4
Revises: c1d2e3f4a5b6
Create Date: 2026-12-05 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e9f1d2b4'
down_revision = 'c1d2e3f4a5b6'
branch_labels = None
depends_on = None

TOGGLES = ("member_see_all_leads", "member_reassign", "member_merge", "member_import", "member_export",
           "member_delete")


def upgrade():
    # Plain ADD COLUMN (no batch copy): a batch copy reflects the tables these refer to, and SQLite
    # cannot reflect the expression index on stages (ix_stages_lower_name).
    for name in TOGGLES:
        allowed = sa.false() if name == "member_delete" else sa.true()
        op.add_column('team_settings', sa.Column(name, sa.Boolean(), server_default=allowed, nullable=False))
    op.add_column('api_keys', sa.Column('role', sa.String(length=16), server_default='admin', nullable=False))
    op.add_column('api_keys', sa.Column('read_only', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    op.drop_column('api_keys', 'read_only')
    op.drop_column('api_keys', 'role')
    for name in reversed(TOGGLES):
        op.drop_column('team_settings', name)
