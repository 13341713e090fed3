"""The trash migration (e3f4a5b6c7d8): existing leads keep counting in the board totals; a lead moved
to the trash leaves its total and comes back when restored, whatever writes it (the triggers, on
SQLite and PostgreSQL); the downgrade purges the trash and counts every lead again."""
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app.extensions import db

BEFORE, AFTER = "f1e2b3a4c5d6", "e3f4a5b6c7d8"


def _totals(run) -> dict:
    rows = run("SELECT stage_id, owner_key, sum(lead_count), sum(value_cents) FROM ("
               " SELECT stage_id, owner_key, lead_count, value_cents FROM stage_totals"
               " UNION ALL SELECT stage_id, owner_key, lead_count, value_cents FROM stage_total_deltas) AS t"
               " GROUP BY stage_id, owner_key").all()
    return {(s, o): (int(c), int(v)) for s, o, c, v in rows if c or v}


def _lead(run, name: str, value: str, deleted: str | None = None) -> None:
    extra = ", deleted_at" if deleted else ""
    run("INSERT INTO leads (first_name, last_name, stage_id, position, version, created_at, updated_at, "
        f"stage_entered_at, score, value{extra}) VALUES (:name, '', 900, :position, 1, '2026-12-01', '2026-12-01', "
        f"'2026-12-01', 0, :value{', :deleted' if deleted else ''})",
        name=name, position=abs(hash(name)) % 100000, value=value, **({"deleted": deleted} if deleted else {}))


def test_trashed_leads_leave_the_totals_and_the_downgrade_purges_them(migration_app):
    with migration_app.app_context():
        upgrade(revision=BEFORE)
        run = lambda sql, **params: db.session.execute(text(sql), params)  # noqa: E731
        run("INSERT INTO stages (id, name, colour, position, kind) VALUES (900, 'New', '#64748b', 1, 'open')")
        _lead(run, "Ann", "10.00")
        _lead(run, "Bob", "2.50")
        db.session.commit()

        upgrade(revision=AFTER)
        assert _totals(run) == {(900, 0): (2, 1250)}
        run("UPDATE leads SET deleted_at = '2026-12-05' WHERE first_name = 'Bob'")
        assert _totals(run) == {(900, 0): (1, 1000)}
        run("UPDATE leads SET value = 99 WHERE first_name = 'Bob'")  # a trashed lead's change counts nowhere
        assert _totals(run) == {(900, 0): (1, 1000)}
        _lead(run, "Cat", "1.00", deleted="2026-12-05")
        assert _totals(run) == {(900, 0): (1, 1000)}
        run("UPDATE leads SET deleted_at = NULL WHERE first_name = 'Bob'")
        assert _totals(run) == {(900, 0): (2, 10900)}
        run("DELETE FROM leads WHERE first_name = 'Cat'")
        assert _totals(run) == {(900, 0): (2, 10900)}
        _lead(run, "Dan", "5.00", deleted="2026-12-05")
        run("INSERT INTO erasures (lead_id, erased_at, erased_by_name) VALUES (7, '2026-12-05', 'Ada')")
        run("UPDATE team_settings SET sequences_need_consent = true")  # no row yet: the column exists
        db.session.commit()

        downgrade(revision=BEFORE)
        assert sorted(run("SELECT first_name FROM leads").scalars()) == ["Ann", "Bob"]
        _lead(run, "Eve", "1.00")
        assert _totals(run) == {(900, 0): (3, 11000)}
        db.session.commit()
        db.engine.dispose()
