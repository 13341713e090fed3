"""The lead pool's list queries: filters, sorting and paging, shared by the pool page, the API's
listing and the CSV export so that all three show the same leads in the same order."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Lead

SORTS = {
    "created": Lead.created_at, "updated": Lead.updated_at, "name": Lead.last_name,
    "company": Lead.company, "value": Lead.value,
}


@dataclass
class PoolFilters:
    q: str = ""
    stage_id: int | None = None
    owner: str = ""  # "", "none" (the pool), or a user id as text
    source: str = ""
    sort: str = "created"
    direction: str = "desc"
    page: int = 1

    def as_args(self, **changes) -> dict:
        """Query-string arguments for this filter with some values changed (defaults left out)."""
        values = {"q": self.q, "stage": self.stage_id, "owner": self.owner, "source": self.source,
                  "sort": self.sort, "dir": self.direction, "page": self.page}
        values.update(changes)
        defaults = {"sort": "created", "dir": "desc", "page": 1}
        return {k: v for k, v in values.items() if v not in (None, "") and defaults.get(k) != v}


@dataclass
class Page:
    items: list[Lead]
    total: int
    page: int
    per_page: int
    pages: int = field(init=False)

    def __post_init__(self):
        self.pages = max(1, math.ceil(self.total / self.per_page))


def filtered(query: Select, f: PoolFilters, acting_user_id: int | None) -> Select:
    """`query` narrowed to the leads the pool shows for `f` (search, stage, owner, source); no order."""
    if f.q:
        like = f"%{f.q.strip().lower()}%"
        digits = "".join(ch for ch in f.q if ch.isdigit())
        clauses = [func.lower(Lead.first_name).like(like), func.lower(Lead.last_name).like(like),
                   func.lower(Lead.first_name + " " + Lead.last_name).like(like),
                   Lead.email.like(like), func.lower(Lead.company).like(like)]
        if len(digits) >= 3:
            clauses.append(Lead.phone.like(f"%{digits}%"))
        query = query.where(or_(*clauses))
    if f.stage_id is not None:
        query = query.where(Lead.stage_id == f.stage_id)
    if f.owner == "none":
        query = query.where(Lead.owner_id.is_(None))
    elif f.owner == "me" and acting_user_id is not None:
        query = query.where(Lead.owner_id == acting_user_id)
    elif f.owner.isdigit():
        query = query.where(Lead.owner_id == int(f.owner))
    if f.source:
        query = query.where(Lead.source == f.source)
    return query


NULLABLE_SORTS = {"company", "value"}


def pool_page(f: PoolFilters, acting_user_id: int | None, per_page: int = 50) -> Page:
    """One page of the lead pool with the filter applied; the total counts every match. A page past
    the last (a pager from before the filter changed) is the last page, never an empty one."""
    total = db.session.scalar(filtered(select(func.count()).select_from(Lead), f, acting_user_id))
    column = SORTS.get(f.sort, Lead.created_at)
    order = column.asc() if f.direction == "asc" else column.desc()
    if f.direction == "desc" and f.sort in NULLABLE_SORTS:
        # Only where NULLs exist: NULLS LAST on a NOT NULL column stops PostgreSQL using its index.
        order = order.nulls_last()
    tiebreak = Lead.id.asc() if f.direction == "asc" else Lead.id.desc()
    page = min(max(1, f.page), max(1, math.ceil(total / per_page)))
    # Page the ids first, then load just those rows with their owner and stage: a deep OFFSET
    # then skips index entries instead of joined rows.
    ids = db.session.scalars(filtered(select(Lead.id), f, acting_user_id).order_by(order, tiebreak)
                             .limit(per_page).offset((page - 1) * per_page)).all()
    rows = {lead.id: lead for lead in db.session.scalars(
        select(Lead).options(joinedload(Lead.owner), joinedload(Lead.stage)).where(Lead.id.in_(ids)))} if ids else {}
    return Page(items=[rows[i] for i in ids], total=total, page=page, per_page=per_page)


def sources() -> list[str]:
    """Every distinct source, found by hopping along the source index (a loose index scan):
    one lookup per source instead of reading every lead."""
    hop = text("""
        WITH RECURSIVE s(source) AS (
            SELECT min(source) FROM leads
            UNION ALL
            SELECT (SELECT min(source) FROM leads WHERE leads.source > s.source) FROM s WHERE s.source IS NOT NULL
        )
        SELECT source FROM s WHERE source IS NOT NULL""")
    return list(db.session.scalars(hop))
