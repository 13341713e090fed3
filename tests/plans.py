"""The database's plan for a query, for tests that a filter reads its index rather than every lead."""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db


def plan(query, seed: str | None = None, **params) -> str:
    """`query`'s plan as one string. On PostgreSQL, `seed` (an INSERT ... SELECT over
    generate_series, with `params`) first adds enough rows for the planner to weigh real statistics;
    they are rolled back after. SQLite plans the same on an empty table."""
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "sqlite":
        return " ".join(str(row[-1]) for row in db.session.execute(text("EXPLAIN QUERY PLAN " + sql)))
    if seed:
        db.session.execute(text(seed), params)
        db.session.execute(text("ANALYZE leads"))
    try:
        return " ".join(row[0] for row in db.session.execute(text("EXPLAIN " + sql)))
    finally:
        db.session.rollback()
