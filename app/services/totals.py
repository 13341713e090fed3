"""Lead counts and values per stage and owner, read from `stage_totals` instead of counted.

The database keeps those rows (triggers on `leads`, migration c4f1a7e2b9d3) in the same transaction
as every change to a lead, so reading them costs one small query whatever the number of leads.
`reconcile()` recomputes them from the leads; `flask reconcile-totals` runs it."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete, func, select, text

from app.extensions import db
from app.models import Lead, StageTotal
from app.services import atomic

POOL = 0  # owner_key of leads nobody owns


@dataclass(frozen=True)
class Total:
    count: int = 0
    value: Decimal = Decimal(0)


def owner_key(owner_id: int | None) -> int:
    return POOL if owner_id is None else owner_id


def by_stage(owner_id: int | None = None, *, pool: bool = False, stage_id: int | None = None) -> dict[int, Total]:
    """Each stage's total: of every lead, of one owner's (`owner_id`), or of the pool's (`pool=True`)."""
    query = select(StageTotal.stage_id, func.sum(StageTotal.lead_count), func.sum(StageTotal.value_cents))
    if pool or owner_id is not None:
        query = query.where(StageTotal.owner_key == (POOL if pool else owner_id))
    if stage_id is not None:
        query = query.where(StageTotal.stage_id == stage_id)
    rows = db.session.execute(query.group_by(StageTotal.stage_id))
    return {sid: Total(int(count or 0), Decimal(int(cents or 0)) / 100) for sid, count, cents in rows}


def lead_count(*, stage_id: int | None = None, owner_id: int | None = None, pool: bool = False) -> int:
    """How many leads there are, optionally in one stage and of one owner (or of the pool)."""
    return sum(total.count for total in by_stage(owner_id, pool=pool, stage_id=stage_id).values())


def _fresh():
    """The totals as a GROUP BY over every lead computes them (cents rounded as the triggers do)."""
    cents = func.round(func.coalesce(Lead.value, 0) * 100)
    key = func.coalesce(Lead.owner_id, POOL)
    return select(Lead.stage_id, key, func.count(), func.sum(cents)).group_by(Lead.stage_id, key)


def recount() -> dict[tuple[int, int], tuple[int, int]]:
    """(stage_id, owner_key) -> (count, cents), counted from the leads; what the totals should say."""
    return {(sid, key): (int(count), int(cents)) for sid, key, count, cents in db.session.execute(_fresh())}


def stored() -> dict[tuple[int, int], tuple[int, int]]:
    """(stage_id, owner_key) -> (count, cents) as `stage_totals` holds them, empty groups left out."""
    rows = db.session.execute(select(StageTotal.stage_id, StageTotal.owner_key, StageTotal.lead_count,
                                     StageTotal.value_cents))
    return {(sid, key): (int(count), int(cents)) for sid, key, count, cents in rows if count or cents}


def reconcile() -> int:
    """Recompute every total from the leads; returns how many (stage, owner) totals were wrong.

    Holds writers to `leads` off while it counts (PostgreSQL: a SHARE lock; SQLite: the write
    transaction), so no change slips between the count and the rewrite."""
    with atomic():
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text("LOCK TABLE leads IN SHARE MODE"))
        fresh, kept = recount(), stored()
        wrong = sum(1 for key in fresh.keys() | kept.keys() if fresh.get(key) != kept.get(key))
        if wrong:
            db.session.execute(delete(StageTotal))
            db.session.execute(StageTotal.__table__.insert().from_select(
                ["stage_id", "owner_key", "lead_count", "value_cents"], _fresh()))
        return wrong
