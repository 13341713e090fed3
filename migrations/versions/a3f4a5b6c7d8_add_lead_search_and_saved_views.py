"""add lead search documents and saved views

One normalised search document per lead (name, company, email, phone, job title, tags, custom
values, notes), kept by services/search.py in the same transaction as each change. PostgreSQL:
the unaccent extension (contrib) for the normaliser, a stored generated column
search_vector = to_tsvector('simple', document) and a GIN index on it. SQLite: an FTS5 table over the documents, kept by triggers.
Existing leads are filled in by one INSERT ... SELECT (a frozen copy of
search.document_select, as it reads today).

saved_views: a named pool or board filter (its query string), private or shared.

Revision ID: a3f4a5b6c7d8
Revises: f7a8b9c0d1e2
Create Date: 2026-12-03 13:20:00.000000

"""
import re
import unicodedata

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3f4a5b6c7d8'
down_revision = 'f7a8b9c0d1e2'
branch_labels = None
depends_on = None

_FOLDS = str.maketrans({"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l",
                        "đ": "d", "Đ": "d", "ð": "d", "þ": "th", "ı": "i"})


def _normalise(text):
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", text.translate(_FOLDS))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[\W_]+", " ", plain).strip()


BACKFILL_PG = """
INSERT INTO lead_search_documents (lead_id, document)
SELECT l.id, left(trim(regexp_replace(lower(unaccent(concat_ws(' ', l.first_name, l.last_name, l.company,
    l.email, l.phone, l.job_title,
    (SELECT string_agg(t.name, ' ') FROM lead_tags lt JOIN tags t ON t.id = lt.tag_id WHERE lt.lead_id = l.id),
    (SELECT string_agg(concat_ws(' ', v.value_text, v.value_long, trim_scale(v.value_number)::text,
                                 v.value_date::text), ' ') FROM lead_field_values v WHERE v.lead_id = l.id),
    (SELECT string_agg(c.choice, ' ') FROM lead_field_choices c WHERE c.lead_id = l.id),
    (SELECT string_agg(n.body, ' ' ORDER BY n.created_at DESC, n.id DESC) FROM notes n WHERE n.lead_id = l.id)
  ))), '[^[:alnum:]]+', ' ', 'g')), 200000)
FROM leads l
"""

BACKFILL_SQLITE = """
INSERT INTO lead_search_documents (lead_id, document)
SELECT l.id, substr(lb_search_norm(
    coalesce(l.first_name, '') || ' ' || coalesce(l.last_name, '') || ' ' || coalesce(l.company, '') || ' ' ||
    coalesce(l.email, '') || ' ' || coalesce(l.phone, '') || ' ' || coalesce(l.job_title, '') || ' ' ||
    coalesce((SELECT group_concat(t.name, ' ') FROM lead_tags lt JOIN tags t ON t.id = lt.tag_id
              WHERE lt.lead_id = l.id), '') || ' ' ||
    coalesce((SELECT group_concat(coalesce(v.value_text, '') || ' ' || coalesce(v.value_long, '') || ' ' ||
                                  coalesce(CAST(v.value_number AS TEXT), '') || ' ' || coalesce(v.value_date, ''), ' ')
              FROM lead_field_values v WHERE v.lead_id = l.id), '') || ' ' ||
    coalesce((SELECT group_concat(c.choice, ' ') FROM lead_field_choices c WHERE c.lead_id = l.id), '') || ' ' ||
    coalesce((SELECT group_concat(body, ' ') FROM (SELECT n.body FROM notes n WHERE n.lead_id = l.id
              ORDER BY n.created_at DESC, n.id DESC)), '')), 1, 200000)
FROM leads l
"""


def upgrade():
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.create_table('lead_search_documents',
    sa.Column('lead_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_search_documents_lead_id_leads'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lead_id', name=op.f('pk_lead_search_documents'))
    )
    op.create_table('saved_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('shared', sa.Boolean(), nullable=False),
    sa.Column('target', sa.String(length=10), nullable=False),
    sa.Column('query', sa.String(length=2000), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_saved_views_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_views'))
    )
    op.create_index('ix_saved_views_owner_name', 'saved_views', ['owner_id', 'name'], unique=True)
    op.create_index('ix_saved_views_shared_name', 'saved_views', ['shared', 'name'], unique=False)
    if postgres:
        # The tsvector is stored (a generated column): a search that walks the newest leads and tests
        # each one (a common word) reads it instead of parsing the whole document again per row.
        op.execute("ALTER TABLE lead_search_documents ADD COLUMN search_vector tsvector "
                   "GENERATED ALWAYS AS (to_tsvector('simple', document)) STORED")
        op.execute("CREATE INDEX ix_lead_search_documents_fts ON lead_search_documents USING gin (search_vector)")
        op.execute(BACKFILL_PG)
        return
    # SQLite: an FTS5 index over the documents (external content: the text is stored once), kept by triggers.
    op.execute("CREATE VIRTUAL TABLE lead_search_fts USING fts5(document, content='lead_search_documents', "
               "content_rowid='lead_id', tokenize='unicode61 remove_diacritics 2')")
    op.execute("CREATE TRIGGER lead_search_documents_ai AFTER INSERT ON lead_search_documents BEGIN "
               "INSERT INTO lead_search_fts (rowid, document) VALUES (new.lead_id, new.document); END")
    op.execute("CREATE TRIGGER lead_search_documents_ad AFTER DELETE ON lead_search_documents BEGIN "
               "INSERT INTO lead_search_fts (lead_search_fts, rowid, document) "
               "VALUES ('delete', old.lead_id, old.document); END")
    op.execute("CREATE TRIGGER lead_search_documents_au AFTER UPDATE ON lead_search_documents BEGIN "
               "INSERT INTO lead_search_fts (lead_search_fts, rowid, document) "
               "VALUES ('delete', old.lead_id, old.document); "
               "INSERT INTO lead_search_fts (rowid, document) VALUES (new.lead_id, new.document); END")
    bind.connection.driver_connection.create_function("lb_search_norm", 1, _normalise, deterministic=True)
    op.execute(BACKFILL_SQLITE)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_lead_search_documents_fts")
    else:
        for name in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS lead_search_documents_{name}")
        op.execute("DROP TABLE IF EXISTS lead_search_fts")
    op.drop_index('ix_saved_views_shared_name', table_name='saved_views')
    op.drop_index('ix_saved_views_owner_name', table_name='saved_views')
    op.drop_table('saved_views')
    op.drop_table('lead_search_documents')
