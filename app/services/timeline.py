"""A lead's timeline and notes: recording what happened to a lead, and reading it back newest first."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Note, TimelineEntry
from app.services import utcnow


def record(lead_id: int, kind: str, actor_id: int | None, data: dict | None = None, now: datetime | None = None) -> None:
    """Add a timeline entry to the current transaction (call inside atomic())."""
    db.session.add(TimelineEntry(lead_id=lead_id, kind=kind, actor_id=actor_id, data=data or {},
                                 created_at=now or utcnow()))


def timeline(lead_id: int, *, before_id: int | None = None, limit: int = 50) -> tuple[list[TimelineEntry], bool]:
    """Newest first, `limit` at a time; the flag says whether older entries remain."""
    query = (select(TimelineEntry).options(joinedload(TimelineEntry.actor))
             .where(TimelineEntry.lead_id == lead_id)
             .order_by(TimelineEntry.created_at.desc(), TimelineEntry.id.desc()).limit(limit + 1))
    if before_id is not None:
        anchor = db.session.get(TimelineEntry, before_id)
        if anchor is not None and anchor.lead_id == lead_id:
            query = query.where(or_(TimelineEntry.created_at < anchor.created_at,
                                    (TimelineEntry.created_at == anchor.created_at) & (TimelineEntry.id < anchor.id)))
    entries = list(db.session.scalars(query))
    return entries[:limit], len(entries) > limit


def notes(lead_id: int) -> list[Note]:
    """A lead's notes, newest first, with their authors loaded."""
    return list(db.session.scalars(select(Note).options(joinedload(Note.author))
                                   .where(Note.lead_id == lead_id).order_by(Note.created_at.desc(), Note.id.desc())))
