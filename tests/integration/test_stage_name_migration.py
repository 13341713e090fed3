"""The migration that makes stage names unique in any case (and gives uploads a row count) numbers
the stages a team already had twice ("Won" and "won"), keeping every stage, and downgrades back."""
from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from app.extensions import db

BEFORE, AFTER = "d4e5f6a7b8c9", "e5f6a7b8c9d0"


def test_stages_named_twice_in_two_cases_are_numbered_then_refused_and_it_downgrades(migration_app):
    with migration_app.app_context():
        upgrade(revision=BEFORE)
        run = lambda sql, **params: db.session.execute(text(sql), params)  # noqa: E731
        for stage_id, name, position in ((1, "New", 0), (2, "Won", 1), (3, "won", 2), (4, "Won (2)", 3),
                                         (5, "WON", 4), (6, "L" * 60, 5), (7, "l" * 60, 6)):
            run("INSERT INTO stages (id, name, colour, position, kind) VALUES (:id, :name, '#64748b', :position, 'open')",
                id=stage_id, name=name, position=position)
        db.session.commit()

        upgrade(revision=AFTER)

        names = dict(run("SELECT id, name FROM stages ORDER BY id").all())
        # The first in the pipeline keeps its name; the others get the next number free, within 60 characters.
        assert names == {1: "New", 2: "Won", 3: "won (3)", 4: "Won (2)", 5: "WON (4)", 6: "L" * 60,
                         7: "l" * 56 + " (2)"}
        assert "row_count" in {c["name"] for c in inspect(db.engine).get_columns("lead_imports")}
        with pytest.raises(IntegrityError):
            run("INSERT INTO stages (id, name, colour, position, kind) VALUES (8, 'NEW', '#64748b', 9, 'open')")
            db.session.commit()
        db.session.rollback()

        downgrade(revision=BEFORE)
        db.engine.dispose()
        assert "row_count" not in {c["name"] for c in inspect(db.engine).get_columns("lead_imports")}
        run("INSERT INTO stages (id, name, colour, position, kind) VALUES (8, 'NEW', '#64748b', 9, 'open')")
        db.session.commit()  # the index is gone with the downgrade
        db.engine.dispose()
