"""The email pipeline end to end: outbox rows written with the change behind them, delivered by real
`worker.py` processes over real SMTP, through Redis outages, killed workers, refusals and
duplicate jobs, and the sweeper that recovers what those leave behind."""
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select, update

from app.extensions import db
from app.models import Appointment, OutboxEmail, TimelineEntry
from app.queue import QUEUES
from app.services import appointment_emails, appointments, atomic, outbox, utcnow
from tests.jobs.conftest import MAIL_FROM, alive, kill_worker, wait_until, work_horses

pytestmark = [pytest.mark.redis, pytest.mark.jobs]

BASE_URL = "https://leads.acme.example"


@pytest.fixture
def app(make_app, redis, redis_url):
    """The web app, its job queue on the test Redis and its emails from the address workers use."""
    app = make_app(REDIS_URL=redis_url, MAIL_FROM=MAIL_FROM, BASE_URL=BASE_URL)
    with app.app_context():
        yield app


@pytest.fixture
def lena(make_lead, member):
    return make_lead(first_name="Lena", last_name="Lindqvist", email="lena@example.com", owner=member)


def book(lead, member, starts_at: datetime | None = None, duration_minutes: int = 30, **options) -> Appointment:
    starts_at = starts_at or (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    return appointments.book_appointment(lead.id, member.id, starts_at=starts_at, duration_minutes=duration_minutes,
                                         **options)


def emails(kind: str | None = None) -> list[OutboxEmail]:
    db.session.expire_all()
    query = select(OutboxEmail).order_by(OutboxEmail.id)
    return list(db.session.scalars(query.where(OutboxEmail.kind == kind) if kind else query))


def email(outbox_id: int) -> OutboxEmail:
    db.session.expire_all()
    return db.session.get(OutboxEmail, outbox_id)


def timeline(lead_id: int) -> list[TimelineEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead_id)
                                   .order_by(TimelineEntry.id)))


def kinds(lead_id: int, prefix: str = "email_") -> list[str]:
    return [entry.kind for entry in timeline(lead_id) if entry.kind.startswith(prefix)]


def jobs(redis, name: str = "default") -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def rows_waiting(redis) -> Counter:
    """How many delivery jobs waiting on the queues carry each outbox row."""
    waiting = Counter()
    for name in QUEUES:
        for job in jobs(redis, name).get_jobs():
            waiting.update(outbox.rows_of(job))
    return waiting


def calendar_of(message) -> tuple[Calendar, str]:
    """The parsed .ics attachment of a received message, and its raw text."""
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    text = attachment.get_content()
    return Calendar.from_ical(text), text


def vevent(calendar: Calendar):
    [event] = calendar.walk("VEVENT")
    return event


def links_in(text: str) -> dict[str, str]:
    return dict(re.findall(rf"{re.escape(BASE_URL)}/appointments/(confirm|cancel|reschedule)/([\w.-]+)", text))


def ical_utc(moment: datetime) -> str:
    return f"{moment.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"


# --- delivery --------------------------------------------------------------------------------------


def test_a_booked_appointment_reaches_the_prospect_as_an_email_with_links_and_a_calendar_invitation(
        app, member, lena, run_worker, smtp_server):
    day = (datetime.now(timezone.utc) + timedelta(days=3)).date()
    starts = datetime(day.year, day.month, day.day, 15, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    appointment = book(lena, member, starts, duration_minutes=45, location="Acme HQ, Berlin")
    [row] = emails()
    assert row.state == "queued"

    run_worker()

    [message] = smtp_server.wait_for(1)
    assert message.get_content_type() == "multipart/mixed"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert message["Message-ID"] == row.message_id and re.fullmatch(r"<.+@acme\.example>", row.message_id)
    assert abs(parsedate_to_datetime(message["Date"]) - datetime.now(timezone.utc)) < timedelta(minutes=5)
    # From the person who booked, at the team (MAIL_FROM's name and address); answers reach them.
    assert str(message["From"]) == "Max Member at Acme Sales <sales@acme.example>"
    assert message["Reply-To"] == member.email
    assert (message["To"].addresses[0].display_name, message["To"].addresses[0].addr_spec) == (
        "Lena Lindqvist", "lena@example.com")

    calendar, ics = calendar_of(message)
    event = vevent(calendar)
    assert calendar["METHOD"] == "REQUEST"
    assert (event["UID"], event["SEQUENCE"]) == (appointment.uid, 0)
    assert f"DTSTART:{ical_utc(starts)}" in ics and f"DTEND:{ical_utc(starts + timedelta(minutes=45))}" in ics
    assert event.decoded("DTSTART") == starts and event.decoded("DTSTART").utcoffset() == timedelta(0)

    text_links, html_links = links_in(text.get_content()), links_in(html.get_content())
    assert text_links == html_links and sorted(text_links) == ["cancel", "confirm", "reschedule"]
    for action, token in text_links.items():  # each link names this appointment and its action
        assert appointments.read_link(token, action).id == appointment.id

    row = email(row.id)
    assert (row.state, row.transport, row.attempts, row.last_error) == ("sent", "smtp", 1, None)
    [sent] = [entry for entry in timeline(lena.id) if entry.kind == "email_sent"]
    assert sent.data == {"subject": row.subject, "to": "lena@example.com"}


def test_rescheduling_and_cancelling_send_updates_of_the_same_calendar_event(app, member, lena, start_worker,
                                                                             smtp_server):
    start_worker(burst=False)  # one worker sends each email as it is queued
    appointment = book(lena, member)
    smtp_server.wait_for(1)
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=5)
    appointments.reschedule_appointment(appointment.id, member.id, starts_at=later, duration_minutes=60)
    smtp_server.wait_for(2)
    appointments.cancel_appointment(appointment.id, member.id)

    invite, moved, cancelled = smtp_server.wait_for(3)
    calendars = [calendar_of(message)[0] for message in (invite, moved, cancelled)]
    assert [c["METHOD"] for c in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    assert [(vevent(c)["UID"], vevent(c)["SEQUENCE"]) for c in calendars] == [
        (appointment.uid, 0), (appointment.uid, 1), (appointment.uid, 2)]
    assert f"DTSTART:{ical_utc(later)}" in calendar_of(moved)[1]
    assert vevent(calendars[2])["STATUS"] == "CANCELLED"
    assert sorted(links_in(moved.get_body(("plain",)).get_content())) == ["cancel", "confirm", "reschedule"]
    assert links_in(cancelled.get_body(("plain",)).get_content()) == {}
    assert len({m["Message-ID"] for m in (invite, moved, cancelled)}) == 3
    rows = wait_until(lambda: all(row.state == "sent" for row in emails()) and emails(), message="all rows sent")
    assert [row.kind for row in rows] == ["appointment_invite", "appointment_update", "appointment_cancel"]
    assert kinds(lena.id) == ["email_sent"] * 3


def test_a_second_delivery_of_a_sent_email_sends_nothing(app, member, lena, redis, start_worker, smtp_server):
    start_worker(burst=False)
    book(lena, member)
    [row] = emails()
    sent = wait_until(lambda: email(row.id).state == "sent" and email(row.id), message="the email sent")
    sent_at = sent.sent_at
    # The worker records the first job's result just after the row says "sent": wait for it, or the
    # second job (same id) could be overwritten by the first one's "finished".
    first = Job.fetch(outbox.job_id(row.id), connection=redis, serializer=JSONSerializer)
    wait_until(lambda: first.get_status(refresh=True) == "finished", message="the first delivery's job finished")

    again = jobs(redis).enqueue(outbox.JOB, row.id, job_id=outbox.job_id(row.id))
    wait_until(lambda: again.get_status(refresh=True) == "finished", message="the second delivery")

    assert again.return_value(refresh=True) == "skipped"
    assert len(smtp_server.messages) == 1
    row = email(row.id)
    assert (row.state, row.attempts, row.sent_at) == ("sent", 1, sent_at)
    assert kinds(lena.id) == ["email_sent"]


def test_a_worker_whose_clock_is_a_little_behind_the_web_servers_sends_a_new_email_at_once(app):
    written_at = utcnow()
    with atomic():
        row = outbox.queue_email(kind="test", to_address="ann@example.com", subject="Hi", text_body="Hi",
                                 html_body="<p>Hi</p>", now=written_at)

    assert outbox.deliver(row.id, now=written_at - timedelta(minutes=1)).outcome == "skipped"  # not due yet
    assert email(row.id).state == "queued"
    assert outbox.deliver(row.id, now=written_at - timedelta(milliseconds=300)).outcome == "sent"
    assert email(row.id).state == "sent"


def test_an_email_that_cannot_be_built_fails_at_once_rather_than_crashing_the_job(app):
    with atomic():  # an attachment without a filename
        row = outbox.queue_email(kind="test", to_address="ann@example.com", subject="Hi", text_body="Hi",
                                 html_body="<p>Hi</p>", attachments=[{"content_type": "text/plain", "content": "x"}])

    result = outbox.deliver(row.id)

    assert result.outcome == "failed"  # another attempt could not build it either
    row = email(row.id)
    assert (row.state, row.attempts, row.lease_until) == ("failed", 1, None)
    assert row.last_error.startswith("KeyError")


# --- outages and crashes ---------------------------------------------------------------------------


def test_an_appointment_booked_while_redis_is_down_is_emailed_once_redis_is_back(
        make_app, member, lena, throwaway_redis, run_worker, smtp_server):
    outage_app = make_app(REDIS_URL=throwaway_redis.url, MAIL_FROM=MAIL_FROM, BASE_URL=BASE_URL)
    throwaway_redis.stop()
    with outage_app.app_context():
        appointment_id = book(lena, member).id  # the booking must not fail with the queue

    [row] = emails()
    assert (row.state, row.attempts, row.appointment_id) == ("queued", 0, appointment_id)
    throwaway_redis.start()
    assert Redis.from_url(throwaway_redis.url).dbsize() == 0  # Redis came back empty: no job anywhere

    run_worker(REDIS_URL=throwaway_redis.url, SWEEP_GRACE_SECONDS="0")

    [message] = smtp_server.wait_for(1)
    assert message["Message-ID"] == row.message_id and len(smtp_server.messages) == 1
    row = email(row.id)
    assert (row.state, row.attempts) == ("sent", 1)


def test_an_email_whose_worker_was_killed_mid_send_goes_out_once_from_the_next_worker(
        app, member, lena, start_worker, run_worker, smtp_server):
    book(lena, member)
    [row] = emails()
    smtp_server.stall_next()

    worker = start_worker(EMAIL_LEASE_SECONDS="1")
    assert smtp_server.stalled.wait(30), "the worker never got as far as sending the message"
    stuck = email(row.id)
    assert (stuck.state, stuck.attempts) == ("sending", 1)
    assert work_horses(worker.pid) == []  # an email job runs in the worker's own process, no horse forked
    kill_worker(worker)  # the worker and its scheduler, mid-conversation
    assert not alive(worker.pid)
    wait_until(lambda: utcnow() > stuck.lease_until, timeout=5, message="the lease to run out")

    # The default grace period (60s) is still running: a reclaimed row is enqueued at once anyway.
    run_worker()

    [message] = smtp_server.wait_for(1)
    assert message["Message-ID"] == row.message_id and len(smtp_server.messages) == 1
    row = email(row.id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)
    assert kinds(lena.id) == ["email_sent"]


def test_a_refused_email_is_retried_then_failed_and_an_admin_retry_delivers_it(
        app, admin, member, lena, start_worker, smtp_server):
    smtp_server.refuse_with = "451 4.3.0 Try again later"
    book(lena, member)
    [row] = emails()
    worker = start_worker(burst=False)  # with its scheduler, which enqueues the retries when due

    failed = wait_until(lambda: email(row.id).state == "failed" and email(row.id), timeout=30,
                        message="three refused attempts")
    assert smtp_server.attempts == 3 and smtp_server.messages == []  # the first try and two retries
    assert failed.attempts == 3 and failed.failed_at - failed.created_at >= timedelta(seconds=2)  # 1s, then 1s
    assert "451" in failed.last_error and "Try again later" in failed.last_error
    [entry] = [entry for entry in timeline(lena.id) if entry.kind == "email_failed"]
    assert entry.data["attempts"] == 3 and "Try again later" in entry.data["error"]

    smtp_server.refuse_with = None
    outbox.retry(row.id, admin.id)

    [message] = smtp_server.wait_for(1)
    assert message["Message-ID"] == row.message_id
    sent = wait_until(lambda: email(row.id).state == "sent" and email(row.id), message="the row marked sent")
    assert (sent.attempts, sent.transport, sent.failed_at) == (1, "smtp", None)
    assert kinds(lena.id) == ["email_failed", "email_retried", "email_sent"]
    assert smtp_server.attempts == 4 and worker.poll() is None


def test_two_workers_on_a_queue_with_every_job_in_it_twice_send_each_email_once(
        app, redis, start_worker, smtp_server):
    with atomic():
        rows = [outbox.queue_email(kind="test", to_address=f"person{n}@example.com", subject=f"Hello {n}",
                                   text_body=f"Hello {n}", html_body=f"<p>Hello {n}</p>") for n in range(20)]
    queue = jobs(redis)
    queue.empty()
    for row in rows:  # each job twice in a row, as a sweeper's re-enqueue would add it: the two
        for _ in range(2):  # workers take both copies at the same moment and race to claim the row
            queue.enqueue(outbox.JOB, row.id, job_id=outbox.job_id(row.id))
    assert queue.count == 40

    workers = [start_worker(), start_worker()]
    for worker in workers:
        output = worker.communicate(timeout=120)[0]
        assert worker.returncode == 0 and "Job OK" in output and "Traceback" not in output, output

    received = Counter(message["Message-ID"] for message in smtp_server.messages)
    assert received == Counter({row.message_id: 1 for row in emails()})
    assert [(row.state, row.attempts) for row in emails()] == [("sent", 1)] * 20


def test_a_running_workers_sweeper_sends_an_email_whose_job_never_reached_redis(
        make_app, member, lena, redis, start_worker, smtp_server):
    start_worker(burst=False, SWEEP_INTERVAL="0.2", SWEEP_GRACE_SECONDS="0")
    wait_until(lambda: Worker.all(connection=redis), message="the worker to start, past its first sweep")
    with make_app(REDIS_URL="", MAIL_FROM=MAIL_FROM, BASE_URL=BASE_URL).app_context():
        book(lena, member)  # no queue configured: the row is written, no job is
    [row] = emails()

    [message] = smtp_server.wait_for(1)

    assert message["Message-ID"] == row.message_id
    sent = wait_until(lambda: email(row.id).state == "sent" and email(row.id), message="the row marked sent")
    assert sent.attempts == 1 and len(smtp_server.messages) == 1


# --- the sweeper ---------------------------------------------------------------------------------


def test_the_sweeper_hands_abandoned_and_lost_emails_to_new_jobs_and_leaves_waiting_ones_alone(app, redis):
    now = utcnow()
    with atomic():
        abandoned, lost, waiting, fresh = [
            outbox.queue_email(kind="test", to_address=f"{name}@example.com", subject=name, text_body=name,
                               html_body=name, now=now - timedelta(minutes=5)) for name in
            ("abandoned", "lost", "waiting", "fresh")]
    with atomic():
        db.session.execute(update(OutboxEmail).where(OutboxEmail.id == abandoned.id).values(
            state="sending", attempts=1, lease_until=now - timedelta(seconds=1)))
        db.session.execute(update(OutboxEmail).where(OutboxEmail.id == fresh.id).values(
            next_attempt_at=now - timedelta(seconds=5)))  # due, but within the grace period
    queue = jobs(redis)
    # The dead worker had taken the abandoned row's job; Redis lost the others' (restarted without
    # persistence, say), all but the waiting row's.
    queue.empty()
    assert outbox.enqueue_delivery(waiting.id)
    assert queue.job_ids == [outbox.job_id(waiting.id)]

    result = outbox.sweep(now, grace_seconds=60)

    assert (result.reclaimed, result.enqueued) == (1, 2)
    row = email(abandoned.id)
    assert (row.state, row.attempts, row.lease_until) == ("queued", 1, None)
    assert "stopped before it finished" in row.last_error
    assert rows_waiting(redis) == Counter({abandoned.id: 1, lost.id: 1, waiting.id: 1})
    assert outbox.job_id(abandoned.id, 1) in queue.job_ids  # a row whose worker died goes alone
    assert outbox.sweep(now, grace_seconds=60).enqueued == 0  # nothing twice while its job waits
    # ...but not forever: ten minutes on, Redis's word that the jobs wait is no longer taken (and the
    # fresh row, out of its grace period by then, has no job at all).
    assert outbox.sweep(now + timedelta(minutes=10), grace_seconds=60).enqueued == 4


def test_the_sweeper_queues_a_reminder_for_a_confirmed_appointment_within_a_day_and_none_for_a_cancelled_one(
        app, member, lena, make_lead, run_worker, smtp_server):
    booked_at = utcnow() - timedelta(hours=7)  # booked and confirmed this morning, for tomorrow
    starts = (booked_at + timedelta(hours=30)).replace(tzinfo=timezone.utc)
    confirmed = book(lena, member, starts, now=booked_at)
    called_off = book(make_lead(first_name="Otto", email="otto@example.com"), member, starts, now=booked_at)
    for appointment in (confirmed, called_off):
        appointments.answer(appointment_emails.link_token(appointment, "confirm"), "confirm", now=booked_at)
    appointments.cancel_appointment(called_off.id, member.id, now=booked_at)
    assert appointments.queue_due_reminders(booked_at + timedelta(hours=5)) == 0  # 25 hours ahead: too early

    assert appointments.queue_due_reminders() == 1
    assert appointments.queue_due_reminders() == 0  # one reminder per appointment time

    [reminder] = emails("appointment_reminder")
    assert (reminder.appointment_id, reminder.to_address, reminder.state) == (confirmed.id, "lena@example.com",
                                                                             "queued")
    assert kinds(lena.id, "appointment_reminder") == ["appointment_reminder_queued"]
    run_worker()
    [message] = [m for m in smtp_server.messages if m["Message-ID"] == reminder.message_id]
    assert message["Subject"].startswith("Reminder: ") and list(message.iter_attachments()) == []
    assert sorted(links_in(message.get_body(("plain",)).get_content())) == ["cancel", "confirm", "reschedule"]
    assert email(reminder.id).state == "sent"


def test_a_queued_reminder_is_withdrawn_when_its_appointment_is_cancelled(app, member, lena, redis, run_worker,
                                                                          smtp_server):
    booked_at = utcnow() - timedelta(hours=7)
    appointment = book(lena, member, (booked_at + timedelta(hours=30)).replace(tzinfo=timezone.utc), now=booked_at)
    appointments.answer(appointment_emails.link_token(appointment, "confirm"), "confirm", now=booked_at)
    assert appointments.queue_due_reminders() == 1
    [reminder] = emails("appointment_reminder")

    appointments.cancel_appointment(appointment.id, member.id)
    run_worker()  # the reminder's job is still in the queue

    assert email(reminder.id).state == "cancelled"
    job = Job.fetch(outbox.job_id(reminder.id), connection=redis, serializer=JSONSerializer)
    assert job.return_value() == "skipped"
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert not any(s.startswith("Reminder: ") for s in subjects)
    assert any(s.startswith("Cancelled: ") for s in subjects)
