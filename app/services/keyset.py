"""Keyset pages of a newest-first list: "the next rows after this one", at a cost that does not grow
with the list's length or the page's depth (no OFFSET, no count).

A page is asked for by the id of the last row shown (`before`). The caller loads that row and checks
it belongs to the list (its lead, its person); a cursor naming another list's row, a deleted row or
nothing gets the first page, never an error."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, and_, or_

from app.extensions import db


def older_than(moment, ident, anchor_moment: datetime, anchor_id: int):
    """Rows after (anchor_moment, anchor_id) in (moment desc, id desc) order. The first term bounds
    an index on (parent, moment), so a deep page starts where the last one stopped."""
    return and_(moment <= anchor_moment, or_(moment < anchor_moment, ident < anchor_id))


def anchor(model, row_id: int | None, moment: str, **owner) -> tuple[datetime, int] | None:
    """Where a page starts: row `row_id`'s (moment, id) if it belongs to this list (`owner`, e.g.
    lead_id=3); None, the first page, for another list's row, a deleted one or none."""
    row = db.session.get(model, row_id) if row_id is not None else None
    if row is None or any(getattr(row, name) != value for name, value in owner.items()):
        return None
    return getattr(row, moment), row.id


def newest_first(query: Select, moment, ident, start: tuple[datetime, int] | None,
                 limit: int) -> tuple[list, bool]:
    """Up to `limit` rows of `query` in (moment desc, id desc) order after `start` (an anchor(); None:
    from the newest), and whether more remain."""
    query = query.order_by(moment.desc(), ident.desc()).limit(limit + 1)
    if start is not None:
        query = query.where(older_than(moment, ident, *start))
    rows = list(db.session.scalars(query))
    return rows[:limit], len(rows) > limit
