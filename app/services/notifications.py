"""In-app notifications: what a teammate should know about (a prospect's answer), until they read it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Notification
from app.services import atomic, utcnow
from app.services.keyset import anchor, newest_first

PAGE = 50


def unread_query(user_id):
    """The count of a user's unread notifications, as a query (`user_id` may be a column, to count
    inside another query: the sign-in check counts them for the layout in its own round trip)."""
    return (select(func.count()).select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None)))


def unread_count(user_id: int) -> int:
    return db.session.scalar(unread_query(user_id))


def recent(user_id: int, *, before_id: int | None = None, limit: int = PAGE) -> tuple[list[Notification], bool]:
    """A person's notifications newest first, `limit` at a time after the notification `before_id`
    (someone else's, or none: the newest); the flag says whether older ones remain."""
    start = anchor(Notification, before_id, "created_at", user_id=user_id)
    query = select(Notification).where(Notification.user_id == user_id)
    return newest_first(query, Notification.created_at, Notification.id, start, limit)


def mark_read(user_id: int, now: datetime | None = None) -> int:
    """Mark every notification of this user read; returns how many were unread."""
    with atomic():
        return db.session.execute(update(Notification).where(Notification.user_id == user_id,
                                                             Notification.read_at.is_(None))
                                  .values(read_at=now or utcnow()).execution_options(synchronize_session=False)
                                  ).rowcount
