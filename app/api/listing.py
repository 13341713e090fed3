"""GET /leads: the pool's filters plus email and updated_since, walked by an opaque cursor over id.

Keyset pagination over the primary key: each page is one indexed range scan however deep the
walk goes, and a lead created or edited mid-walk never shifts the pages after it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from app.extensions import db
from app.models import Lead
from app.services.lead_queries import PoolFilters, filtered


@dataclass
class LeadQuery:
    q: str = ""
    stage_id: int | None = None
    owner: str = ""  # "", "none" or a user id as text
    source: str = ""
    tag: str = ""
    email: str = ""
    updated_since: datetime | None = None
    visible_to: int | None = None  # permissions.visible_to of the caller: None, every lead


class BadCursor(ValueError):
    pass


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="api-leads-cursor")


def encode_cursor(after_id: int) -> str:
    return _serializer().dumps({"after": after_id})


def decode_cursor(cursor: str) -> int:
    """The id a cursor continues after; raises BadCursor if it was not made by us."""
    try:
        data = _serializer().loads(cursor)
    except (BadSignature, UnicodeError, ValueError):
        raise BadCursor() from None
    after = data.get("after") if isinstance(data, dict) else None
    if isinstance(after, bool) or not isinstance(after, int):
        raise BadCursor()
    return after


def leads_after(query: LeadQuery, after_id: int, limit: int) -> tuple[list[Lead], int | None]:
    """Up to `limit` matching leads with id > after_id, oldest id first, and the id to continue after."""
    statement = filtered(select(Lead), PoolFilters(q=query.q, stage_id=query.stage_id, owner=query.owner,
                                                    source=query.source, tag=query.tag,
                                                    visible_to=query.visible_to), None)
    if query.email:
        statement = statement.where(Lead.email == query.email.strip().lower())
    if query.updated_since is not None:
        statement = statement.where(Lead.updated_at >= query.updated_since)
    leads = list(db.session.scalars(statement.where(Lead.id > after_id).order_by(Lead.id).limit(limit + 1)))
    more = len(leads) > limit
    leads = leads[:limit]
    return leads, (leads[-1].id if more else None)

