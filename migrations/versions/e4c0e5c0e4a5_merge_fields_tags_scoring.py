"""merge the custom fields, tags and scoring heads (no schema change)

Revision ID: e4c0e5c0e4a5
Revises: e1f1e1d5a0c1, e2a95a0c7e02, e4c0e5c0e4a4
Create Date: 2026-12-03 06:40:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'e4c0e5c0e4a5'
down_revision = ('e1f1e1d5a0c1', 'e2a95a0c7e02', 'e4c0e5c0e4a4')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
