"""add the lead trash (deleted_at), erasure records and marketing consent

A deleted lead keeps its row for 30 days with `deleted_at` set, then the worker purges it. The board
totals must not count it: the triggers of c4f1a7e2b9d3 are redefined so that a lead counts only
while `deleted_at IS NULL` (moving into the trash takes it out of its total, restoring puts it back).

`erasures` is the anonymous record that a person's data was erased on request: when, by whom, the
lead id it had, and no personal data. Their address goes on the suppression list as a digest.

Consent: a capture form may ask for marketing consent (its wording); a lead keeps what was agreed,
when, and through which form. A team setting makes sequences enrol only leads that agreed.

Revision ID: e3f4a5b6c7d8
Revises: f1e2b3a4c5d6
Create Date: 2026-12-05 21:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3f4a5b6c7d8'
down_revision = 'f1e2b3a4c5d6'
branch_labels = None
depends_on = None


def _pg_function(live: bool) -> str:
    """The totals trigger function; live=True counts only leads not in the trash."""
    old_live = " AND o.deleted_at IS NULL" if live else ""
    new_live = " AND n.deleted_at IS NULL" if live else ""
    rows_live = " WHERE deleted_at IS NULL" if live else ""
    changed = ("(o.stage_id, o.owner_id, o.value, o.deleted_at IS NULL) IS DISTINCT FROM "
               "(n.stage_id, n.owner_id, n.value, n.deleted_at IS NULL)" if live else
               "(o.stage_id, o.owner_id, o.value) IS DISTINCT FROM (n.stage_id, n.owner_id, n.value)")
    return f"""
CREATE OR REPLACE FUNCTION leads_keep_stage_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stage_total_deltas (stage_id, owner_key, lead_count, value_cents)
        SELECT stage_id, coalesce(owner_id, 0), count(*), coalesce(sum(round(value * 100)), 0)::bigint
        FROM new_rows{rows_live} GROUP BY 1, 2;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stage_total_deltas (stage_id, owner_key, lead_count, value_cents)
        SELECT stage_id, coalesce(owner_id, 0), -count(*), -coalesce(sum(round(value * 100)), 0)::bigint
        FROM old_rows{rows_live} GROUP BY 1, 2;
    ELSE
        INSERT INTO stage_total_deltas (stage_id, owner_key, lead_count, value_cents)
        SELECT stage_id, owner_key, sum(n), sum(cents)::bigint FROM (
            SELECT o.stage_id, coalesce(o.owner_id, 0) AS owner_key, -1 AS n, -coalesce(round(o.value * 100), 0) AS cents
            FROM old_rows o JOIN new_rows n USING (id)
            WHERE {changed}{old_live}
            UNION ALL
            SELECT n.stage_id, coalesce(n.owner_id, 0), 1, coalesce(round(n.value * 100), 0)
            FROM old_rows o JOIN new_rows n USING (id)
            WHERE {changed}{new_live}
        ) AS changes
        GROUP BY 1, 2 HAVING sum(n) <> 0 OR sum(cents) <> 0;
    END IF;
    RETURN NULL;
END
$$
"""


SQLITE_ADD = """
    INSERT OR IGNORE INTO stage_totals (stage_id, owner_key, lead_count, value_cents)
    VALUES ({row}.stage_id, coalesce({row}.owner_id, 0), 0, 0);
    UPDATE stage_totals SET lead_count = lead_count {sign} 1,
        value_cents = value_cents {sign} CAST(round(coalesce({row}.value, 0) * 100) AS INTEGER)
    WHERE stage_id = {row}.stage_id AND owner_key = coalesce({row}.owner_id, 0);
"""


def _sqlite_triggers(live: bool) -> list[str]:
    if not live:
        return [
            f"CREATE TRIGGER leads_totals_insert AFTER INSERT ON leads BEGIN {SQLITE_ADD.format(row='NEW', sign='+')} END",
            f"CREATE TRIGGER leads_totals_delete AFTER DELETE ON leads BEGIN {SQLITE_ADD.format(row='OLD', sign='-')} END",
            "CREATE TRIGGER leads_totals_update AFTER UPDATE OF stage_id, owner_id, value ON leads "
            "WHEN OLD.stage_id IS NOT NEW.stage_id OR OLD.owner_id IS NOT NEW.owner_id OR OLD.value IS NOT NEW.value "
            f"BEGIN {SQLITE_ADD.format(row='OLD', sign='-')} {SQLITE_ADD.format(row='NEW', sign='+')} END",
        ]
    changed = ("(OLD.stage_id IS NOT NEW.stage_id OR OLD.owner_id IS NOT NEW.owner_id OR OLD.value IS NOT NEW.value "
               "OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))")
    return [
        "CREATE TRIGGER leads_totals_insert AFTER INSERT ON leads WHEN NEW.deleted_at IS NULL "
        f"BEGIN {SQLITE_ADD.format(row='NEW', sign='+')} END",
        "CREATE TRIGGER leads_totals_delete AFTER DELETE ON leads WHEN OLD.deleted_at IS NULL "
        f"BEGIN {SQLITE_ADD.format(row='OLD', sign='-')} END",
        # An update is two halves: the old row leaves its total if it counted, the new one joins if it counts.
        "CREATE TRIGGER leads_totals_update_out AFTER UPDATE OF stage_id, owner_id, value, deleted_at ON leads "
        f"WHEN {changed} AND OLD.deleted_at IS NULL BEGIN {SQLITE_ADD.format(row='OLD', sign='-')} END",
        "CREATE TRIGGER leads_totals_update_in AFTER UPDATE OF stage_id, owner_id, value, deleted_at ON leads "
        f"WHEN {changed} AND NEW.deleted_at IS NULL BEGIN {SQLITE_ADD.format(row='NEW', sign='+')} END",
    ]


SQLITE_NAMES = ('leads_totals_insert', 'leads_totals_delete', 'leads_totals_update', 'leads_totals_update_out',
                'leads_totals_update_in')


def upgrade():
    # Plain ADD COLUMNs (no batch): rebuilding `leads` on SQLite would drop its triggers.
    op.add_column('leads', sa.Column('deleted_at', sa.DateTime(), nullable=True))
    op.add_column('leads', sa.Column('deleted_by_id', sa.Integer(), nullable=True))
    op.add_column('leads', sa.Column('consent_at', sa.DateTime(), nullable=True))
    op.add_column('leads', sa.Column('consent_text', sa.String(length=1000), nullable=True))
    op.add_column('leads', sa.Column('consent_form_id', sa.Integer(), nullable=True))
    # The trash page and the purge read only the deleted leads, oldest first.
    op.create_index('ix_leads_deleted_at', 'leads', ['deleted_at'], unique=False,
                    postgresql_where=sa.text('deleted_at IS NOT NULL'), sqlite_where=sa.text('deleted_at IS NOT NULL'))
    op.add_column('capture_forms', sa.Column('consent_text', sa.String(length=1000), nullable=True))
    op.add_column('team_settings', sa.Column('sequences_need_consent', sa.Boolean(), server_default=sa.false(),
                                             nullable=False))
    op.create_table(
        'erasures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lead_id', sa.Integer(), nullable=False),
        sa.Column('erased_at', sa.DateTime(), nullable=False),
        sa.Column('erased_by_id', sa.Integer(), nullable=True),
        sa.Column('erased_by_name', sa.String(length=120), nullable=False),
        sa.Column('removed', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['erased_by_id'], ['users.id'], name=op.f('fk_erasures_erased_by_id_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures')),
    )
    op.create_index('ix_erasures_lead_id', 'erasures', ['lead_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_pg_function(live=True))
    else:
        for name in SQLITE_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for statement in _sqlite_triggers(live=True):
            op.execute(statement)


def downgrade():
    # Trashed leads would count again once the column is gone: purge them first.
    op.execute("DELETE FROM leads WHERE deleted_at IS NOT NULL")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_pg_function(live=False))
    else:
        for name in SQLITE_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index('ix_erasures_lead_id', table_name='erasures')
    op.drop_table('erasures')
    op.drop_column('team_settings', 'sequences_need_consent')
    op.drop_column('capture_forms', 'consent_text')
    op.drop_index('ix_leads_deleted_at', table_name='leads')
    for name in ('consent_form_id', 'consent_text', 'consent_at', 'deleted_by_id', 'deleted_at'):
        op.drop_column('leads', name)
    if op.get_bind().dialect.name != 'postgresql':
        for statement in _sqlite_triggers(live=False):
            op.execute(statement)
