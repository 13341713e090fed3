"""A lead's timeline and notes: recording what happened to a lead, and reading it back newest first."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Note, TimelineEntry
from app.services import utcnow
from app.services.keyset import anchor, newest_first

NOTES_PAGE = 20


def record(lead_id: int, kind: str, actor_id: int | None, data: dict | None = None, now: datetime | None = None) -> None:
    """Add a timeline entry to the current transaction (call inside atomic())."""
    db.session.add(TimelineEntry(lead_id=lead_id, kind=kind, actor_id=actor_id, data=data or {},
                                 created_at=now or utcnow()))


def timeline(lead_id: int, *, before_id: int | None = None, limit: int = 50) -> tuple[list[TimelineEntry], bool]:
    """Newest first, `limit` at a time after the entry `before_id` (another lead's, or none: the
    newest); the flag says whether older entries remain."""
    query = (select(TimelineEntry).options(joinedload(TimelineEntry.actor))
             .where(TimelineEntry.lead_id == lead_id))
    start = anchor(TimelineEntry, before_id, "created_at", lead_id=lead_id)
    return newest_first(query, TimelineEntry.created_at, TimelineEntry.id, start, limit)


def notes(lead_id: int, *, before_id: int | None = None, limit: int = NOTES_PAGE) -> tuple[list[Note], bool]:
    """A lead's notes newest first, with their authors, `limit` at a time after the note `before_id`
    (another lead's, or none: the newest); the flag says whether older notes remain."""
    query = select(Note).options(joinedload(Note.author)).where(Note.lead_id == lead_id)
    start = anchor(Note, before_id, "created_at", lead_id=lead_id)
    return newest_first(query, Note.created_at, Note.id, start, limit)
