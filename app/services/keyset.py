"""Keyset pages of a newest-first list: "the next rows after this one", at a cost that does not grow
with the list's length or the page's depth (no OFFSET, no count).

A page is asked for by the id of the last row shown (`before`). The caller loads that row and checks
it belongs to the list (its lead, its person); a cursor naming another list's row, a deleted row or
nothing gets the first page, never an error."""
from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, and_, or_

from app.extensions import db

T = TypeVar("T")


def older_than(moment, ident, anchor_moment: datetime, anchor_id: int):
    """Rows after (anchor_moment, anchor_id) in (moment desc, id desc) order. The first term bounds
    an index on (parent, moment), so a deep page starts where the last one stopped."""
    return and_(moment <= anchor_moment, or_(moment < anchor_moment, ident < anchor_id))


def newest_first(query: Select, moment, ident, anchor: tuple[datetime, int] | None,
                 limit: int) -> tuple[list, bool]:
    """Up to `limit` rows of `query` in (moment desc, id desc) order after `anchor` (None: from the
    newest), and whether more remain."""
    query = query.order_by(moment.desc(), ident.desc()).limit(limit + 1)
    if anchor is not None:
        query = query.where(older_than(moment, ident, *anchor))
    rows = list(db.session.scalars(query))
    return rows[:limit], len(rows) > limit
