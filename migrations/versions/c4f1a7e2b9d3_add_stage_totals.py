"""add stage_totals: lead count and value per stage and owner, kept by triggers on leads

The board's column totals and the pool's counts read these rows instead of counting every lead.
Triggers keep them in the same transaction as each insert, update and delete of a lead, whatever
writes it (the ORM, a bulk UPDATE, an import batch, a merge and its undo), and a rolled-back
transaction or savepoint takes its changes to the totals with it.

PostgreSQL: statement-level triggers with transition tables append one delta row per (stage,
owner) a statement changes to stage_total_deltas: inserts only, so concurrent writers never wait
for each other on a shared totals row (updating those rows in place deadlocked bulk actions that
touch them in different orders). services.totals adds the deltas to stage_totals when it reads
and folds them in (worker housekeeping). SQLite has one writer at a time: its row triggers update
stage_totals in place.

Value is summed in whole cents (BIGINT), so adding and taking away never drifts by rounding.

Revision ID: c4f1a7e2b9d3
Revises: c3a8f0d4e2b1
Create Date: 2026-12-02 17:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4f1a7e2b9d3'
down_revision = 'c3a8f0d4e2b1'
branch_labels = None
depends_on = None


BACKFILL = """
    INSERT INTO stage_totals (stage_id, owner_key, lead_count, value_cents)
    SELECT stage_id, coalesce(owner_id, 0), count(*), coalesce(sum({cents}), 0)
    FROM leads GROUP BY stage_id, coalesce(owner_id, 0)
"""

PG_FUNCTION = """
CREATE FUNCTION leads_keep_stage_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stage_total_deltas (stage_id, owner_key, lead_count, value_cents)
        SELECT stage_id, coalesce(owner_id, 0), count(*), coalesce(sum(round(value * 100)), 0)::bigint
        FROM new_rows GROUP BY 1, 2;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO stage_total_deltas (stage_id, owner_key, lead_count, value_cents)
        SELECT stage_id, coalesce(owner_id, 0), -count(*), -coalesce(sum(round(value * 100)), 0)::bigint
        FROM old_rows GROUP BY 1, 2;
    ELSE
        INSERT INTO stage_total_deltas (stage_id, owner_key, lead_count, value_cents)
        SELECT stage_id, owner_key, sum(n), sum(cents)::bigint FROM (
            SELECT o.stage_id, coalesce(o.owner_id, 0) AS owner_key, -1 AS n, -coalesce(round(o.value * 100), 0) AS cents
            FROM old_rows o JOIN new_rows n USING (id)
            WHERE (o.stage_id, o.owner_id, o.value) IS DISTINCT FROM (n.stage_id, n.owner_id, n.value)
            UNION ALL
            SELECT n.stage_id, coalesce(n.owner_id, 0), 1, coalesce(round(n.value * 100), 0)
            FROM old_rows o JOIN new_rows n USING (id)
            WHERE (o.stage_id, o.owner_id, o.value) IS DISTINCT FROM (n.stage_id, n.owner_id, n.value)
        ) AS changes
        GROUP BY 1, 2 HAVING sum(n) <> 0 OR sum(cents) <> 0;
    END IF;
    RETURN NULL;
END
$$
"""

PG_TRIGGERS = [
    "CREATE TRIGGER leads_totals_insert AFTER INSERT ON leads REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION leads_keep_stage_totals()",
    "CREATE TRIGGER leads_totals_update AFTER UPDATE ON leads REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION leads_keep_stage_totals()",
    "CREATE TRIGGER leads_totals_delete AFTER DELETE ON leads REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION leads_keep_stage_totals()",
]

SQLITE_ADD = """
    INSERT OR IGNORE INTO stage_totals (stage_id, owner_key, lead_count, value_cents)
    VALUES ({row}.stage_id, coalesce({row}.owner_id, 0), 0, 0);
    UPDATE stage_totals SET lead_count = lead_count {sign} 1,
        value_cents = value_cents {sign} CAST(round(coalesce({row}.value, 0) * 100) AS INTEGER)
    WHERE stage_id = {row}.stage_id AND owner_key = coalesce({row}.owner_id, 0);
"""

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER leads_totals_insert AFTER INSERT ON leads BEGIN {SQLITE_ADD.format(row='NEW', sign='+')} END",
    f"CREATE TRIGGER leads_totals_delete AFTER DELETE ON leads BEGIN {SQLITE_ADD.format(row='OLD', sign='-')} END",
    "CREATE TRIGGER leads_totals_update AFTER UPDATE OF stage_id, owner_id, value ON leads "
    "WHEN OLD.stage_id IS NOT NEW.stage_id OR OLD.owner_id IS NOT NEW.owner_id OR OLD.value IS NOT NEW.value "
    f"BEGIN {SQLITE_ADD.format(row='OLD', sign='-')} {SQLITE_ADD.format(row='NEW', sign='+')} END",
]


def upgrade():
    op.create_table(
        'stage_totals',
        sa.Column('stage_id', sa.Integer(), nullable=False),
        sa.Column('owner_key', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('lead_count', sa.BigInteger(), nullable=False),
        sa.Column('value_cents', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('stage_id', 'owner_key'),
    )
    # Neither table has a foreign key to stages: checking one would share-lock the stage row under
    # every lead change. A deleted stage's rows (its leads moved out first) just add up to nothing.
    op.create_table(
        'stage_total_deltas',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('stage_id', sa.Integer(), nullable=False),
        sa.Column('owner_key', sa.Integer(), nullable=False),
        sa.Column('lead_count', sa.BigInteger(), nullable=False),
        sa.Column('value_cents', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    # A capture form's settings page counts the leads that came through it.
    op.create_index('ix_leads_capture_form_id', 'leads', ['capture_form_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("LOCK TABLE leads IN SHARE MODE")  # no lead changes between the backfill and the triggers
        op.execute(BACKFILL.format(cents="round(value * 100)"))
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        op.execute(BACKFILL.format(cents="CAST(round(value * 100) AS INTEGER)"))
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    for name in ('leads_totals_insert', 'leads_totals_update', 'leads_totals_delete'):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON leads" if op.get_bind().dialect.name == 'postgresql'
                   else f"DROP TRIGGER IF EXISTS {name}")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS leads_keep_stage_totals()")
    op.drop_table('stage_total_deltas')
    op.drop_table('stage_totals')
    op.drop_index('ix_leads_capture_form_id', table_name='leads')
