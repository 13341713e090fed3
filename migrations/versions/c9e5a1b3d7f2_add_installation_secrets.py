"""add installation_secrets, with the key for erased addresses' digests

installation_secrets: random keys an installation makes for itself, by name. "erasure_digest" keys
the HMAC-SHA256 digest an erased person's address is kept as on the suppression list, so the list
cannot be checked by hashing guessed addresses. It is made here (and by the app on first use, for a
database whose row went missing). Digests written before this (plain SHA-256, "erased:sha256:...")
cannot be re-keyed without the address they hide, so they stay and are still checked.

Revision ID: c9e5a1b3d7f2
Revises: 9a6362dec061
Create Date: 2026-12-06 00:30:00.000000

"""
import secrets
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c9e5a1b3d7f2'
down_revision = '9a6362dec061'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table('installation_secrets',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_installation_secrets'))
    )
    op.bulk_insert(table, [{"name": "erasure_digest", "value": secrets.token_hex(32),
                            "created_at": datetime.now(timezone.utc).replace(tzinfo=None)}])


def downgrade():
    op.drop_table('installation_secrets')
