"""merge search documents and saved views into this session's head

Revision ID: fb1c2d3e4f5a
Revises: fa0b1c2d3e4f, a3f4a5b6c7d8
Create Date: 2026-12-03 14:45:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'fb1c2d3e4f5a'
down_revision = ('fa0b1c2d3e4f', 'a3f4a5b6c7d8')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
