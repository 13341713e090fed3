"""an import keeps the line its header is on, how to read ambiguous dates, and strictness

lead_imports.header_row: the record number (1 = the file's first) of the header, found at upload
past title lines, blank lines and `key: value` metadata, and changeable on the mapping screen.
lead_imports.date_order: "mdy" or "dmy" for date columns whose days and months are all <= 12; NULL
until chosen. lead_imports.strict: reject a row with a value that cannot be read (instead of
importing the lead without it and keeping the value on its timeline).

Revision ID: b9c8d7e6f5a4
Revises: e5f6a7b8c9d0
Create Date: 2026-12-04 18:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b9c8d7e6f5a4'
down_revision = 'e5f6a7b8c9d0'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD/DROP COLUMN (SQLite 3.35+ has both): a batch copy of lead_imports would reflect stages
    # through its foreign key, and SQLAlchemy cannot reflect stages' expression index.
    op.add_column('lead_imports', sa.Column('header_row', sa.Integer(), nullable=False, server_default='1'))
    op.add_column('lead_imports', sa.Column('date_order', sa.String(length=3), nullable=True))
    op.add_column('lead_imports', sa.Column('strict', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    op.drop_column('lead_imports', 'strict')
    op.drop_column('lead_imports', 'date_order')
    op.drop_column('lead_imports', 'header_row')
