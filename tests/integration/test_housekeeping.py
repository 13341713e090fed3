"""The worker's sweep runs every housekeeping task side by side, each in its own transaction."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import event, select

import worker
from app.extensions import db
from app.models import ApiKey, IdempotencyRecord, OutboxEmail
from app.services import appointment_emails, appointments, utcnow
from app.services.api_keys import claim_idempotency_key, complete_idempotency_key, create_key


def confirmed_tomorrow(make_lead, member):
    lead = make_lead(first_name="Lena", email="lena@example.com", owner=member)
    booked_at = utcnow() - timedelta(hours=7)
    starts = (booked_at + timedelta(hours=30)).replace(tzinfo=timezone.utc)
    appointment = appointments.book_appointment(lead.id, member.id, starts_at=starts, duration_minutes=30,
                                                now=booked_at)
    appointments.answer(appointment_emails.link_token(appointment, "confirm"), "confirm", now=booked_at)
    return appointment


def expired_idempotency_record(admin) -> None:
    key, _ = create_key("Website", admin.id)
    record = claim_idempotency_key(key.id, "old", "a" * 64, now=utcnow() - timedelta(hours=25))
    complete_idempotency_key(record, 201, {"id": 1})


def reminders() -> list[OutboxEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.kind == "appointment_reminder")))


def test_one_sweep_queues_due_reminders_and_purges_expired_idempotency_keys(app, make_lead, member, admin):
    appointment = confirmed_tomorrow(make_lead, member)
    expired_idempotency_record(admin)

    worker.sweep_once(app)

    assert [(r.appointment_id, r.to_address) for r in reminders()] == [(appointment.id, "lena@example.com")]
    assert db.session.scalars(select(IdempotencyRecord)).all() == []


def test_a_failing_task_does_not_stop_the_others(app, make_lead, member, admin):
    """The reminder task's transaction fails; the purge beside it still happens."""
    confirmed_tomorrow(make_lead, member)
    expired_idempotency_record(admin)

    def refuse(session, flush_context, instances):
        if any(isinstance(row, OutboxEmail) for row in session.new):
            raise RuntimeError("the database refused the reminder")

    event.listen(db.session, "before_flush", refuse)
    try:
        worker.sweep_once(app)
    finally:
        event.remove(db.session, "before_flush", refuse)

    assert reminders() == []
    assert db.session.scalars(select(IdempotencyRecord)).all() == []
    assert db.session.scalar(select(ApiKey.name)) == "Website"
