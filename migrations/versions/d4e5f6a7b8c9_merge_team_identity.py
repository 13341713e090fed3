"""merge the team's identity settings (issue 14 section 5) into the session head

Revision ID: d4e5f6a7b8c9
Revises: d3e4f5a6b7c8, d2e3f4a5b6c7
Create Date: 2026-12-03 21:05:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'd4e5f6a7b8c9'
down_revision = ('d3e4f5a6b7c8', 'd2e3f4a5b6c7')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
