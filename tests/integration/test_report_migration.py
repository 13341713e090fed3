"""The reports migration adds a stage's win probability, a lead's expected close day and the
indexes the reports read; on SQLite leads keeps its triggers and stages its lower(name) index (no
batch copy); it downgrades."""
from __future__ import annotations

import warnings

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app.extensions import db

BEFORE, AFTER = "e3f4a5b6c7d8", "c1d2e3f4a5b6"
INDEXES = {"leads": {"ix_leads_stage_entered", "ix_leads_reports", "ix_leads_forecast"}, "tasks": {"ix_tasks_done_by_done"},
           "notes": {"ix_notes_author_created"}, "appointments": {"ix_appointments_created"},
           "sequence_enrolments": {"ix_sequence_enrolments_enrolled"}}


def _columns(table: str) -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {c["name"] for c in inspect(db.engine).get_columns(table)}


def _indexes(table: str) -> set[str]:
    with warnings.catch_warnings():  # SQLite's reflection skips expression indexes (lower(name)), with a warning
        warnings.simplefilter("ignore")
        return {i["name"] for i in inspect(db.engine).get_indexes(table)}


def _triggers() -> set[str]:
    """SQLite's triggers on leads and indexes on stages: a batch copy of either table would lose them."""
    if db.engine.dialect.name != "sqlite":
        return set()
    return set(db.session.scalars(text("SELECT name FROM sqlite_master WHERE (type = 'trigger' AND tbl_name = 'leads') "
                                       "OR (type = 'index' AND tbl_name = 'stages')")))


def test_it_adds_probability_expected_close_and_indexes_keeps_the_triggers_and_downgrades(migration_app):
    with migration_app.app_context():
        upgrade(revision=BEFORE)
        db.session.execute(text("INSERT INTO stages (id, name, colour, position, kind) VALUES (1, 'New', '#64748b', 0, 'open')"))
        db.session.commit()
        triggers = _triggers()

        upgrade(revision=AFTER)
        db.engine.dispose()
        assert "probability" in _columns("stages") and "expected_close_on" in _columns("leads")
        for table, names in INDEXES.items():
            assert names <= _indexes(table), table
        assert _triggers() == triggers
        assert db.session.execute(text("SELECT name, probability FROM stages")).all() == [("New", None)]
        db.session.rollback()

        downgrade(revision=BEFORE)
        db.engine.dispose()
        assert "probability" not in _columns("stages") and "expected_close_on" not in _columns("leads")
        for table, names in INDEXES.items():
            assert not names & _indexes(table), table
        assert _triggers() == triggers
        db.session.rollback()
        db.engine.dispose()
