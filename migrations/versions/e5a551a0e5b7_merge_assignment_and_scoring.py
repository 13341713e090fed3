"""merge the assignment rules and scoring (with custom fields and tags) branches

Revision ID: e5a551a0e5b7
Revises: e5a551a0e5b6, e4c0e5c0e4a5
Create Date: 2026-12-03 06:50:00.000000

"""


# revision identifiers, used by Alembic.
revision = 'e5a551a0e5b7'
down_revision = ('e5a551a0e5b6', 'e4c0e5c0e4a5')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
