"""The migration that makes lost reason names unique in any case merges the ones already stored twice
(a database where two admins raced before the index existed), keeping the leads' reasons."""
from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from app.extensions import db

BEFORE = "f7a8b9c0d1e2"  # main's head when the index was added


def test_reasons_stored_twice_in_two_cases_are_merged_and_their_leads_repointed(migration_app):
    with migration_app.app_context():
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
