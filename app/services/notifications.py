"""In-app notifications: what a teammate should know about, until they read it, and by email too
for the kinds each person chose at /account.

notify() is the one way a notice is written: every service that tells a person something calls it
inside its own transaction, so the notice and its email (an outbox row) exist only if the change does."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from flask import current_app
from sqlalchemy import DateTime, Integer, String, and_, delete, false, func, insert, literal, select, true, update

from app.extensions import db
from app.models import Notification, NotificationPreference, User
from app.services import atomic, utcnow
from app.services.keyset import anchor, newest_first

PAGE = 50


@dataclass(frozen=True)
class Kind:
    name: str
    label: str  # the /account checkbox: "Also email me ..."
    email: bool  # the choice of a person who has not made one
    admins_only: bool = False


# Every kind of notice, in the order /account lists them.
KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("assigned", "when a lead is assigned to me (by a rule, an admin or a bulk assign)", False),
    Kind("sla_warning", "when a first response on my lead is about to be late", False),
    Kind("sla_breach", "when a first response is late", True),
    Kind("task_due", "when a task of mine is due", False),
    Kind("appointment", "when a prospect answers an appointment", True),
    Kind("mention", "when someone mentions me in a note", False),
    Kind("automation", "when an automation tells me about a lead", False),
    Kind("held_submission", "when a web-form submission is held for review", False, admins_only=True),
    Kind("rule_broken", "when an assignment rule stops working", False, admins_only=True),
    Kind("webhook_disabled", "when a webhook endpoint is turned off after failing for a day", False, admins_only=True),
)}
# Not a notice but an email of its own (services/digest.py), chosen beside them: off unless ticked.
DIGEST = "daily_digest"
DIGEST_LABEL = "each morning, a digest of my overdue tasks, late first responses and today's appointments"
CHOICES = (*KINDS, DIGEST)


class UnknownKind(ValueError):
    """A caller named a kind of notice that KINDS does not list (a programming error)."""


def notify(user_ids: Iterable[int], kind: str, message: str, *, lead_id: int | None = None,
           url: str | None = None, capture_form_id: int | None = None, now: datetime | None = None) -> int:
    """Tell these people something: one notification each (active people only, each once), and an
    outbox email to each who chose email for this kind. Joins the caller's transaction (call it
    inside atomic()); commits nothing. `url` is a path in the app (as url_for gives it; default: the
    lead's page). Returns how many notifications it wrote. Raises UnknownKind."""
    if kind not in KINDS:
        raise UnknownKind(kind)
    ids = sorted({int(uid) for uid in user_ids if uid is not None})
    if not ids:
        return 0
    now = now or utcnow()
    message = " ".join(message.split())[:500]
    if url is None and lead_id is not None:
        url = app_path("leads.show", lead_id=lead_id)
    people = (select(User.id, literal(kind, String), literal(message, String), literal(lead_id, Integer),
                     literal(capture_form_id, Integer), literal(url, String), literal(now, DateTime))
              .where(User.id.in_(ids), User.active.is_(True)))
    written = db.session.scalars(insert(Notification).from_select(
        ["user_id", "kind", "message", "lead_id", "capture_form_id", "url", "created_at"], people)
        .returning(Notification.id)).all()
    _email(ids, KINDS[kind], message, lead_id, url, now)
    return len(written)


def _email(ids: list[int], kind: Kind, message: str, lead_id: int | None, url: str | None, now: datetime) -> None:
    from app.services.outbox import queue_email
    chose = select(User).outerjoin(NotificationPreference, and_(NotificationPreference.user_id == User.id,
                                                                NotificationPreference.kind == kind.name))
    chose = chose.where(User.id.in_(ids), User.active.is_(True),
                        func.coalesce(NotificationPreference.email, true() if kind.email else false()))
    base = current_app.config["BASE_URL"].rstrip("/")
    context = {"message": message, "url": base + url if url else None,
               "account_url": base + app_path("main.account")}
    for person in db.session.scalars(chose.order_by(User.id)):
        # "owner_notice": a note to a teammate, not an email to the prospect on the lead's timeline.
        queue_email(kind="owner_notice", to_address=person.email, to_name=person.name, subject=message,
                    text_body=_render("email/notice.txt", person=person, **context),
                    html_body=_render("email/notice.html", person=person, **context), lead_id=lead_id, now=now)


def app_path(endpoint: str, **values) -> str:
    """A route's path without a request (the worker has none), for a notification's link."""
    return current_app.url_map.bind("localhost", url_scheme="http").build(endpoint, values)


def _render(name: str, **context) -> str:
    # Straight from the Jinja environment: the worker has no request, so no context processors.
    return current_app.jinja_env.get_template(name).render(**context)


# --- each person's email choices (/account) --------------------------------------------------------


def kinds_for(user: User) -> list[Kind]:
    """The kinds a person can receive (admins' kinds only for admins), in /account's order."""
    return [kind for kind in KINDS.values() if user.is_admin or not kind.admins_only]


def email_choices(user_id: int) -> set[str]:
    """The kinds that also email this person: their choices, and the defaults where they made none."""
    chosen = dict(db.session.execute(select(NotificationPreference.kind, NotificationPreference.email)
                                     .where(NotificationPreference.user_id == user_id)).all())
    return {name for name in CHOICES if chosen.get(name, KINDS[name].email if name in KINDS else False)}


def set_email_choices(user_id: int, kinds: Iterable[str]) -> set[str]:
    """Save which kinds (and the digest) also email this person (every kind gets a row, so a later change of a default
    does not change their mind), in one transaction. Raises UnknownKind."""
    wanted = set(kinds)
    unknown = wanted - set(CHOICES)
    if unknown:
        raise UnknownKind(", ".join(sorted(unknown)))
    with atomic():
        db.session.execute(delete(NotificationPreference).where(NotificationPreference.user_id == user_id))
        db.session.execute(insert(NotificationPreference),
                           [{"user_id": user_id, "kind": name, "email": name in wanted} for name in CHOICES])
    return wanted


# --- reading and marking read ------------------------------------------------------------------


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


def mark_one_read(user_id: int, notification_id: int, now: datetime | None = None) -> bool:
    """Mark one of this user's notifications read; False when it is not theirs or was read already."""
    with atomic():
        return db.session.execute(update(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id, Notification.read_at.is_(None))
            .values(read_at=now or utcnow()).execution_options(synchronize_session=False)).rowcount == 1


def mark_read(user_id: int, now: datetime | None = None, upto_id: int | None = None) -> int:
    """Mark every notification of this user read (`upto_id`: only those up to the newest the page
    showed, so one that arrived meanwhile stays unread); returns how many were unread."""
    seen = Notification.id <= upto_id if upto_id is not None else true()
    with atomic():
        return db.session.execute(update(Notification).where(Notification.user_id == user_id, seen,
                                                             Notification.read_at.is_(None))
                                  .values(read_at=now or utcnow()).execution_options(synchronize_session=False)
                                  ).rowcount
