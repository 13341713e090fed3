"""merge the country pool index and form tags, won and lost, tasks, and activities

Revision ID: f7a8b9c0d1e2
Revises: f4d5e6f7a8b9, f6a7b8c9d0e1, f1a2b3c4d5e6, f2b3c4d5e6f7
Create Date: 2026-12-03 10:55:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'f7a8b9c0d1e2'
down_revision = ('f4d5e6f7a8b9', 'f6a7b8c9d0e1', 'f1a2b3c4d5e6', 'f2b3c4d5e6f7')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
