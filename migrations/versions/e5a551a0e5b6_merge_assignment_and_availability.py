"""merge the assignment rules and availability branches

Revision ID: e5a551a0e5b6
Revises: e5a551a0e5b5, e3a0a11ab1e3
Create Date: 2026-12-03 06:45:00.000000

"""


# revision identifiers, used by Alembic.
revision = 'e5a551a0e5b6'
down_revision = ('e5a551a0e5b5', 'e3a0a11ab1e3')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
