"""merge notifications and the first-response SLA, the lost-reason name index, and the settings
version with the board's owner-score index

Revision ID: fa0b1c2d3e4f
Revises: a1d2e3f4a5b6, a0c1d2e3f4a5, f9c0d1e2f3a4
Create Date: 2026-12-03 14:30:00.000000

"""

# revision identifiers, used by Alembic.
revision = 'fa0b1c2d3e4f'
down_revision = ('a1d2e3f4a5b6', 'a0c1d2e3f4a5', 'f9c0d1e2f3a4')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
