"""The report indexes migration remakes ix_leads_reports and ix_leads_forecast with deleted_at as
their last column, so the reports' queries (which leave out the trash) read the index alone; the
leads' triggers are kept on SQLite (no batch copy); it downgrades."""
from __future__ import annotations

import warnings

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app.extensions import db

BEFORE, AFTER = "a7c3e9f1d2b4", "d6e7f8a9b0c1"


def _columns_of(index: str) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return next(i["column_names"] for i in inspect(db.engine).get_indexes("leads") if i["name"] == index)


def _triggers() -> set[str]:
    if db.engine.dialect.name != "sqlite":
        return set()
    return set(db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'leads'")))


def test_the_report_indexes_carry_deleted_at_and_it_downgrades(migration_app):
    with migration_app.app_context():
        upgrade(revision=BEFORE)
        triggers = _triggers()
        assert "deleted_at" not in _columns_of("ix_leads_reports")
        upgrade(revision=AFTER)
        assert _columns_of("ix_leads_reports")[-1] == "deleted_at"
        assert _columns_of("ix_leads_reports")[0] == "created_at"
        assert _columns_of("ix_leads_forecast") == ["expected_close_on", "stage_id", "owner_id", "source", "value",
                                                    "deleted_at"]
        assert _triggers() == triggers
        if db.engine.dialect.name == "sqlite":  # the funnel's query reads the index alone
            plan = " ".join(str(r[-1]) for r in db.session.execute(text(
                "EXPLAIN QUERY PLAN SELECT stage_id, count(*), sum(value) FROM leads WHERE deleted_at IS NULL "
                "AND created_at >= '2026-01-01' AND created_at < '2026-04-01' GROUP BY stage_id")))
            assert "COVERING INDEX ix_leads_reports" in plan, plan
        db.session.rollback()
        downgrade(revision=BEFORE)
        assert "deleted_at" not in _columns_of("ix_leads_reports")
        assert "deleted_at" not in _columns_of("ix_leads_forecast")
