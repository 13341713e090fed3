"""Lead counts and values per stage and owner, read from `stage_totals` instead of counted.

The database keeps them (triggers on `leads`, migration c4f1a7e2b9d3) in the same transaction as
every change to a lead, so reading them costs one small query whatever the number of leads. On
PostgreSQL the triggers append `stage_total_deltas` rows rather than update the totals in place
(concurrent changes then never wait on one another); a read adds them in, and `fold()`, run by the
worker's housekeeping, moves them into the totals so they stay few. `reconcile()` recomputes
everything from the leads; `flask reconcile-totals` runs it."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete, func, select, text, union_all

from app.extensions import db
from app.models import Lead, StageTotal, StageTotalDelta
from app.services import atomic

POOL = 0  # owner_key of leads nobody owns


@dataclass(frozen=True)
class Total:
    count: int = 0
    value: Decimal = Decimal(0)


def owner_key(owner_id: int | None) -> int:
    return POOL if owner_id is None else owner_id


def _kept():
    """Every kept total row and every delta not yet folded in, as one set of (stage, owner, count, cents)."""
    columns = lambda table: select(table.stage_id, table.owner_key, table.lead_count, table.value_cents)  # noqa: E731
    return union_all(columns(StageTotal), columns(StageTotalDelta)).subquery()


def by_stage(owner_id: int | None = None, *, pool: bool = False, stage_id: int | None = None,
             owners: tuple[int, ...] | None = None) -> dict[int, Total]:
    """Each stage's total: of every lead, of one owner's (`owner_id`), of the pool's (`pool=True`), or
    of some owners' together (`owners`, owner keys: POOL for the pool). Stages with no leads (and
    stages deleted since) are left out."""
    kept = _kept()
    query = select(kept.c.stage_id, func.sum(kept.c.lead_count), func.sum(kept.c.value_cents))
    if owners is not None:
        query = query.where(kept.c.owner_key.in_(set(owners)))
    elif pool or owner_id is not None:
        query = query.where(kept.c.owner_key == (POOL if pool else owner_id))
    if stage_id is not None:
        query = query.where(kept.c.stage_id == stage_id)
    rows = db.session.execute(query.group_by(kept.c.stage_id))
    return {sid: Total(int(count), Decimal(int(cents)) / 100) for sid, count, cents in rows if count or cents}


def lead_count(*, stage_id: int | None = None, owner_id: int | None = None, pool: bool = False,
               owners: tuple[int, ...] | None = None) -> int:
    """How many leads there are, optionally in one stage and of one owner (or of the pool, or of `owners`)."""
    return sum(total.count for total in by_stage(owner_id, pool=pool, stage_id=stage_id, owners=owners).values())


def _fresh():
    """The totals as a GROUP BY over every lead not in the trash computes them (cents rounded as the triggers do)."""
    cents = func.round(func.coalesce(Lead.value, 0) * 100)
    key = func.coalesce(Lead.owner_id, POOL)
    return (select(Lead.stage_id, key, func.count(), func.sum(cents))
            .where(Lead.deleted_at.is_(None))  # the trash counts nowhere (migration e3f4a5b6c7d8)
            .group_by(Lead.stage_id, key))


def recount() -> dict[tuple[int, int], tuple[int, int]]:
    """(stage_id, owner_key) -> (count, cents), counted from the leads; what the totals should say."""
    return {(sid, key): (int(count), int(cents)) for sid, key, count, cents in db.session.execute(_fresh())}


def stored() -> dict[tuple[int, int], tuple[int, int]]:
    """(stage_id, owner_key) -> (count, cents) as the kept totals and deltas say, empty groups left out."""
    kept = _kept()
    rows = db.session.execute(select(kept.c.stage_id, kept.c.owner_key, func.sum(kept.c.lead_count),
                                     func.sum(kept.c.value_cents)).group_by(kept.c.stage_id, kept.c.owner_key))
    return {(sid, key): (int(count), int(cents)) for sid, key, count, cents in rows if count or cents}


FOLD = text("""
    WITH folded AS (DELETE FROM stage_total_deltas RETURNING stage_id, owner_key, lead_count, value_cents)
    INSERT INTO stage_totals AS t (stage_id, owner_key, lead_count, value_cents)
    SELECT stage_id, owner_key, sum(lead_count), sum(value_cents) FROM folded
    GROUP BY stage_id, owner_key ORDER BY stage_id, owner_key
    ON CONFLICT (stage_id, owner_key) DO UPDATE
    SET lead_count = t.lead_count + excluded.lead_count, value_cents = t.value_cents + excluded.value_cents""")


def fold() -> int:
    """Move the deltas into the totals (PostgreSQL; SQLite keeps none); returns how many totals changed.
    One folder at a time (an advisory lock); writers are never waited for."""
    if db.session.get_bind().dialect.name != "postgresql":
        return 0
    with atomic():
        if not db.session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext('leadboard.fold_totals'))")):
            return 0
        return db.session.execute(FOLD).rowcount


def reconcile() -> int:
    """Recompute every total from the leads; returns how many (stage, owner) totals were wrong.

    Holds writers to `leads` off while it counts (PostgreSQL: a SHARE lock; SQLite: the write
    transaction), so no change slips between the count and the rewrite."""
    with atomic():
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(text("LOCK TABLE leads IN SHARE MODE"))
        fresh, kept = recount(), stored()
        wrong = sum(1 for key in fresh.keys() | kept.keys() if fresh.get(key) != kept.get(key))
        db.session.execute(delete(StageTotalDelta))
        db.session.execute(delete(StageTotal))
        db.session.execute(StageTotal.__table__.insert().from_select(
            ["stage_id", "owner_key", "lead_count", "value_cents"], _fresh()))
        return wrong
