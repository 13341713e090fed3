"""saved view names are unique per owner in any case

"Hot leads" and "HOT LEADS" of one owner were two views with names a person cannot tell apart in
the navigation. Views already stored so get " (2)", " (3)" ... added, and the unique index on
(owner_id, name) becomes one on (owner_id, lower(name)).

Revision ID: b4c5d6e7f8a9
Revises: fb1c2d3e4f5a
Create Date: 2026-12-03 16:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b4c5d6e7f8a9'
down_revision = 'fb1c2d3e4f5a'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    # Grouped by the database's own lower(), the one the index uses.
    rows = bind.execute(sa.text("SELECT id, owner_id, name, lower(name) FROM saved_views ORDER BY id")).all()
    taken = {(owner_id, key) for _, owner_id, _, key in rows}
    seen: set = set()
    for view_id, owner_id, name, key in rows:
        if (owner_id, key) not in seen:
            seen.add((owner_id, key))
            continue
        number = 2
        while (owner_id, f"{name[:72]} ({number})".lower()) in taken:
            number += 1
        renamed = f"{name[:72]} ({number})"
        taken.add((owner_id, renamed.lower()))
        bind.execute(sa.text("UPDATE saved_views SET name = :name WHERE id = :id"), {"name": renamed, "id": view_id})
    op.drop_index('ix_saved_views_owner_name', table_name='saved_views')
    op.create_index('ix_saved_views_owner_lower_name', 'saved_views', ['owner_id', sa.text('lower(name)')],
                    unique=True)


def downgrade():
    op.drop_index('ix_saved_views_owner_lower_name', table_name='saved_views')
    op.create_index('ix_saved_views_owner_name', 'saved_views', ['owner_id', 'name'], unique=True)
