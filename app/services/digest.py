"""The daily digest: one email each morning to each person who chose it at /account, with their
overdue tasks, their leads whose first response is overdue and today's appointments on their leads,
from the worker's sweep, once a day."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Appointment, AppointmentStatus, Lead, NotificationPreference, Task, User
from app.services import atomic, utcnow
from app.services.lead_queries import response_filter
from app.services.notifications import DIGEST, app_path
from app.services.team_settings import user_timezone

HOUR = 7  # a person's digest goes out at or after this hour of their own day
SHOWN = 20  # at most this many tasks and this many appointments in one digest ("and more")


def send_digests(now: datetime | None = None) -> int:
    """Email each person who chose the digest, once per day of theirs, at or after HOUR their time;
    a day with nothing overdue and no appointments sends nothing. The day is claimed with
    UPDATE ... WHERE digest_sent_on is before it, in the transaction that queues the email, so of
    two workers only one sends. Returns how many digests were queued."""
    now = now or utcnow()
    latest_day = (now + timedelta(hours=14)).date()  # no timezone's today is later than this
    with atomic():
        people = db.session.scalars(
            select(User.id).join(NotificationPreference, and_(
                NotificationPreference.user_id == User.id, NotificationPreference.kind == DIGEST,
                NotificationPreference.email.is_(True)))
            .where(User.active.is_(True), or_(User.digest_sent_on.is_(None), User.digest_sent_on < latest_day))
            .order_by(User.id)).all()
    sent = 0  # each person is their own transaction: one failing send stops no one else's
    for user_id in people:
        sent += _send_one(user_id, now)
    return sent


def _send_one(user_id: int, now: datetime) -> int:
    with atomic():
        person = db.session.get(User, user_id)
        zone = ZoneInfo(user_timezone(person))
        local = now.replace(tzinfo=timezone.utc).astimezone(zone)
        today = local.date()
        if local.hour < HOUR:
            return 0
        claimed = db.session.execute(
            update(User).where(User.id == user_id, or_(User.digest_sent_on.is_(None), User.digest_sent_on < today))
            .values(digest_sent_on=today).execution_options(synchronize_session=False)).rowcount
        if not claimed:
            return 0
        start = datetime.combine(today, time(0), tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)
        end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)
        tasks = _overdue_tasks(user_id, now)
        appointments = list(db.session.execute(
            select(Appointment, Lead).join(Lead, Lead.id == Appointment.lead_id)
            .where(Lead.owner_id == user_id, Lead.deleted_at.is_(None), Appointment.starts_at >= start, Appointment.starts_at < end,
                   Appointment.status != AppointmentStatus.cancelled.value)
            .order_by(Appointment.starts_at, Appointment.id).limit(SHOWN + 1)))
        overdue = list(db.session.scalars(
            select(Lead).where(Lead.owner_id == user_id, Lead.deleted_at.is_(None), *response_filter("overdue", now))
            .order_by(Lead.sla_due_at, Lead.id).limit(SHOWN + 1)))
        if not tasks and not appointments and not overdue:
            return 0
        _queue(person, zone, today, tasks, appointments, overdue, now)
        return 1


def _overdue_tasks(user_id: int, now: datetime) -> list:
    from app.services.tasks import in_trash
    return list(db.session.scalars(
        select(Task).options(joinedload(Task.lead))
        .where(Task.owner_id == user_id, Task.done_at.is_(None), Task.due_at < now, ~in_trash())
        .order_by(Task.due_at, Task.id).limit(SHOWN + 1)))


def _queue(person: User, zone: ZoneInfo, today, tasks: list, appointments: list, overdue: list,
           now: datetime) -> None:
    from app.services.outbox import queue_email
    base = current_app.config["BASE_URL"].rstrip("/")

    def local(moment: datetime) -> str:
        return moment.replace(tzinfo=timezone.utc).astimezone(zone).strftime("%a %d %b, %H:%M")

    context = {
        "person": person, "day": today.strftime("%A %d %B %Y"), "zone": zone.key,
        "tasks": [(f"{t.kind_label}: {t.title} ({t.lead.full_name})", local(t.due_at),
                   base + app_path("leads.show", lead_id=t.lead_id)) for t in tasks[:SHOWN]],
        "more_tasks": len(tasks) > SHOWN,
        "appointments": [(lead.full_name, local(a.starts_at), a.status_label,
                          base + app_path("leads.show", lead_id=a.lead_id)) for a, lead in appointments[:SHOWN]],
        "more_appointments": len(appointments) > SHOWN,
        "unanswered": [(lead.full_name, local(lead.sla_due_at), base + app_path("leads.show", lead_id=lead.id))
                       for lead in overdue[:SHOWN]],
        "unanswered_url": base + app_path("leads.index", owner="me", response="overdue"),
        "more_unanswered": len(overdue) > SHOWN,
        "today_url": base + app_path("tasks.today"), "account_url": base + app_path("main.account"),
    }
    render = current_app.jinja_env.get_template
    queue_email(kind="owner_notice", to_address=person.email, to_name=person.name,
                subject="Your day: " + ", ".join(part for part in (
                    _count(tasks, "overdue task"), _count(overdue, "late first response"),
                    _count(appointments, "appointment", " today")) if part),
                text_body=render("email/digest.txt").render(**context),
                html_body=render("email/digest.html").render(**context), now=now)


def _count(items: list, noun: str, after: str = "") -> str:
    """"2 overdue tasks", "20+ appointments today"; "" for none."""
    if not items:
        return ""
    return f"{len(items[:SHOWN])}{'+' if len(items) > SHOWN else ''} {noun}{'' if len(items) == 1 else 's'}{after}"


def sweep() -> None:
    """Housekeeping (worker.py): the digests now due."""
    send_digests()
