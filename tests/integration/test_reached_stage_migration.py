"""The reached-stage migration adds leads.reached_stage_id and fills it, set-based, for the leads
whose timeline names (still matching today's stages, in any case) an open stage further along than
the one they are in; the funnel's covering index carries the column and the funnel reads it alone;
the leads' triggers are kept on SQLite; it downgrades."""
from __future__ import annotations

import json
import warnings
from datetime import datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app.extensions import db

BEFORE, AFTER = "b8d4f0a2c6e1", "e1f2a3b4c5d6"
AT = datetime(2026, 11, 2, 10)
PIPELINE = (("New", "open"), ("Contacted", "open"), ("Qualified", "open"), ("Appointment set", "open"),
            ("Won", "won"), ("Lost", "lost"))


def _columns_of(index: str) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return next(i["column_names"] for i in inspect(db.engine).get_indexes("leads") if i["name"] == index)


def _triggers() -> set[str]:
    if db.engine.dialect.name != "sqlite":
        return set()
    return set(db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'leads'")))


def _seed() -> dict[str, int]:
    """The pipeline and six leads as the schema stood before the migration, with their timelines."""
    stage = {}
    for position, (name, kind) in enumerate(PIPELINE):
        stage[name] = db.session.scalar(text(
            "INSERT INTO stages (name, colour, position, kind) VALUES (:n, '#64748b', :p, :k) RETURNING id"),
            {"n": name, "p": position, "k": kind})
    leads = {}

    def lead(key: str, now_in: str, *entries: tuple[str, dict]) -> None:
        leads[key] = db.session.scalar(text(
            "INSERT INTO leads (first_name, last_name, stage_id, position, version, created_at, updated_at, "
            "stage_entered_at, score) VALUES (:f, '', :s, :pos, 1, :at, :at, :at, 0) RETURNING id"),
            {"f": key, "s": stage[now_in], "pos": -len(leads) * 1024, "at": AT})
        for kind, data in entries:
            db.session.execute(text("INSERT INTO timeline_entries (lead_id, kind, data, created_at) "
                                    "VALUES (:l, :k, :d, :at)"), {"l": leads[key], "k": kind, "d": json.dumps(data), "at": AT})

    created = ("created", {"via": "manual entry", "stage": "New", "owner": None})
    # Lost from Qualified: reached the first three stages.
    lead("lost_from_3", "Lost", created, ("stage_changed", {"from": "New", "to": "Contacted"}),
         ("stage_changed", {"from": "Contacted", "to": "Qualified"}),
         ("stage_changed", {"from": "Qualified", "to": "Lost", "lost_reason": "Price"}))
    # In Contacted now, after Appointment set (recorded in another case): moved back, keeps the furthest.
    lead("moved_back", "Contacted", created, ("stage_changed", {"from": "New", "to": "APPOINTMENT SET"}),
         ("stage_changed", {"from": "Appointment set", "to": "Contacted"}))
    # In Qualified, its history naming a stage since renamed: the current stage stands.
    lead("renamed", "Qualified", created, ("stage_changed", {"from": "Warm", "to": "Qualified"}))
    # Lost with a history that names no stage of today's: none known.
    lead("lost_unknown", "Lost", ("created", {"via": "CSV import", "stage": "Gone"}))
    # Won straight from New.
    lead("won", "Won", created, ("stage_changed", {"from": "New", "to": "Won"}))
    # In New, no timeline at all.
    lead("bare", "New")
    db.session.commit()
    return {"stage": stage, "lead": leads}


def test_the_migration_fills_reached_stage_from_the_timeline_and_downgrades(migration_app):
    with migration_app.app_context():
        upgrade(revision=BEFORE)
        triggers = _triggers()
        seeded = _seed()
        upgrade(revision=AFTER)
        stage, lead = seeded["stage"], seeded["lead"]
        reached = dict(db.session.execute(text("SELECT id, reached_stage_id FROM leads")).all())
        assert {key: reached[lead_id] for key, lead_id in lead.items()} == {
            "lost_from_3": stage["Qualified"], "moved_back": stage["Appointment set"], "won": stage["New"],
            # Nothing further than the stage it is in (or no open stage known): left empty, read as such.
            "renamed": None, "lost_unknown": None, "bare": None}
        assert _columns_of("ix_leads_reports")[-2:] == ["deleted_at", "reached_stage_id"]
        assert _columns_of("ix_leads_reached_stage_id") == ["reached_stage_id"]
        assert _triggers() == triggers
        db.session.rollback()
        downgrade(revision=BEFORE)
        assert "reached_stage_id" not in _columns_of("ix_leads_reports")
        assert "reached_stage_id" not in {c["name"] for c in inspect(db.engine).get_columns("leads")}
        assert _triggers() == triggers
