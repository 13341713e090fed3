"""The migration that makes lost reason names unique in any case merges the ones already stored twice
(a database where two admins raced before the index existed), keeping the leads' reasons."""
from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db

BEFORE = "f7a8b9c0d1e2"  # main's head when the index was added


@pytest.fixture
def scratch_url(database_url, tmp_path):
    """An empty database of the same kind as this run's, for migrating step by step."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_migration"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_reasons_stored_twice_in_two_cases_are_merged_and_their_leads_repointed(scratch_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "INSTANCE_PATH": tmp_path / "instance",
                      "SECRET_KEY": "test", "LEADBOARD_ENV": "testing"})
    with app.app_context():
        upgrade(revision=BEFORE)
        db.session.execute(text("DELETE FROM lost_reasons"))
        db.session.execute(text("INSERT INTO lost_reasons (id, name, position, archived) VALUES "
                                "(101, 'Racey', 1, true), (102, 'RACEY', 2, false), (103, 'racey', 3, false), "
                                "(104, 'Price', 4, false)"))
        db.session.commit()
        # Plain SQL, as the schema stood then: today's services write columns that revision lacks.
        db.session.execute(text("INSERT INTO stages (id, name, colour, position, kind) "
                                "VALUES (900, 'Lost', '#64748b', 1, 'lost')"))
        for n, reason_id in enumerate((101, 102, 103, 104)):
            db.session.execute(text(
                "INSERT INTO leads (first_name, last_name, stage_id, position, version, created_at, updated_at, "
                "stage_entered_at, score, lost_reason_id) VALUES (:name, '', 900, :n, 1, '2026-12-01', "
                "'2026-12-01', '2026-12-01', 0, :reason)"), {"name": f"Lost{n}", "n": n, "reason": reason_id})
        db.session.commit()

        upgrade()

        reasons = db.session.execute(text("SELECT id, name, archived FROM lost_reasons ORDER BY id")).all()
        # The oldest one still offered is kept; the leads of the others now point at it.
        assert [(r.id, r.name, bool(r.archived)) for r in reasons] == [(102, "RACEY", False), (104, "Price", False)]
        pointed = db.session.execute(text("SELECT lost_reason_id FROM leads ORDER BY id")).scalars().all()
        assert pointed == [102, 102, 102, 104]
        db.session.rollback()
        with pytest.raises(Exception, match="(?i)unique"):
            db.session.execute(text("INSERT INTO lost_reasons (name, position, archived) VALUES ('PRICE', 5, false)"))
        db.session.rollback()
        db.engine.dispose()
