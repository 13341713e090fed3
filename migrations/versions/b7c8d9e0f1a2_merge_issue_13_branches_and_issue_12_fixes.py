"""merge the issue 13 branches (templates, suppression, delivery) with the issue 12 fixes

Revision ID: b7c8d9e0f1a2
Revises: b6c7d8e9f0a1, fc2d3e4f5a6b, fd3e4f5a6b7c, fe4f5a6b7c8d
Create Date: 2026-12-03 18:15:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'b7c8d9e0f1a2'
down_revision = ('b6c7d8e9f0a1', 'fc2d3e4f5a6b', 'fd3e4f5a6b7c', 'fe4f5a6b7c8d')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
