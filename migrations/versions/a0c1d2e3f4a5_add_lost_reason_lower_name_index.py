"""add a unique index on lower(name) of lost reasons, after merging same-named ones

Two admins adding "Racey" and "RACEY" at the same moment both passed the service's case-insensitive
check; the database now refuses the second. Reasons already stored twice in different cases are
merged first: the leads lost for a duplicate point at the one kept (the oldest, or the oldest not
archived if any is), and the duplicates are deleted.

Revision ID: a0c1d2e3f4a5
Revises: f7a8b9c0d1e2
Create Date: 2026-12-03 13:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a0c1d2e3f4a5'
down_revision = 'f7a8b9c0d1e2'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    # Grouped by the database's own lower(), the one the index uses (SQLite's folds ASCII only).
    rows = bind.execute(sa.text("SELECT id, lower(name), archived FROM lost_reasons ORDER BY id")).all()
    groups: dict[str, list] = {}
    for reason_id, key, archived in rows:
        groups.setdefault(key, []).append((reason_id, bool(archived)))
    for members in groups.values():
        if len(members) < 2:
            continue
        kept = next((reason_id for reason_id, archived in members if not archived), members[0][0])
        for reason_id, _ in members:
            if reason_id == kept:
                continue
            bind.execute(sa.text("UPDATE leads SET lost_reason_id = :kept WHERE lost_reason_id = :gone"),
                         {"kept": kept, "gone": reason_id})
            bind.execute(sa.text("DELETE FROM lost_reasons WHERE id = :gone"), {"gone": reason_id})
    # An expression index: SQLite (3.9+) and PostgreSQL both build and enforce it.
    op.create_index('ix_lost_reasons_lower_name', 'lost_reasons', [sa.text('lower(name)')], unique=True)


def downgrade():
    op.drop_index('ix_lost_reasons_lower_name', table_name='lost_reasons')
