"""stage names are unique in any case; an upload keeps its row count

"Won" and "won" were two stages a person cannot tell apart in the board's pickers; the service
refused the second, but two admins saving at once both passed its check. Stages already stored so
get " (2)", " (3)" ... added (the oldest keeps its name), then a unique index on lower(name) makes
the database refuse the second.

lead_imports.row_count: the data rows of an uploaded file, counted while it is stored, so the
import page can say how many rows it holds without reading the file again (NULL for uploads made
before this revision).

Revision ID: e5f6a7b8c9d0
Revises: d4e5f6a7b8c9
Create Date: 2026-12-04 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5f6a7b8c9d0'
down_revision = 'd4e5f6a7b8c9'
branch_labels = None
depends_on = None

NAME_LIMIT = 60


def upgrade():
    bind = op.get_bind()
    # Grouped by the database's own lower(), the one the index uses (SQLite's folds ASCII only).
    rows = bind.execute(sa.text("SELECT id, name, lower(name) FROM stages ORDER BY position, id")).all()
    seen: set = set()
    for stage_id, name, key in rows:
        if key not in seen:
            seen.add(key)
            continue
        number = 2
        while True:
            suffix = f" ({number})"
            renamed = name[:NAME_LIMIT - len(suffix)] + suffix
            taken = bind.execute(sa.text("SELECT 1 FROM stages WHERE lower(name) = lower(:name)"),
                                 {"name": renamed}).first()
            if taken is None:
                break
            number += 1
        bind.execute(sa.text("UPDATE stages SET name = :name WHERE id = :id"), {"name": renamed, "id": stage_id})
    # An expression index: SQLite (3.9+) and PostgreSQL both build and enforce it.
    op.create_index('ix_stages_lower_name', 'stages', [sa.text('lower(name)')], unique=True)
    with op.batch_alter_table('lead_imports') as batch_op:
        batch_op.add_column(sa.Column('row_count', sa.Integer(), nullable=True))


def downgrade():
    # The index goes first: SQLite's batch copy of lead_imports reflects stages (a foreign key points
    # there), and SQLAlchemy cannot reflect an expression index.
    op.drop_index('ix_stages_lower_name', table_name='stages')
    with op.batch_alter_table('lead_imports') as batch_op:
        batch_op.drop_column('row_count')
