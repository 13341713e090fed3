"""merge the sequence bulk-run heartbeat (issue 13) with invitations (issue 14 accounts)

Revision ID: d3e4f5a6b7c8
Revises: c4d5e6f7a8b9, d1e2f3a4b5c6
Create Date: 2026-12-03 21:00:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'd3e4f5a6b7c8'
down_revision = ('c4d5e6f7a8b9', 'd1e2f3a4b5c6')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
