"""Delivery in batches: many outbox rows committed together go out as batch jobs, each over one SMTP
connection, through the same faults as single emails (a killed worker mid-batch, two workers racing,
a refused recipient, a dropped connection), with appointment emails ahead of any backlog, and a
relay's permanent refusal of a prospect's address marked on the lead."""
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from app.extensions import db
from app.models import Lead, OutboxEmail, TimelineEntry
from app.queue import QUEUES
from app.services import appointments, atomic, outbox, utcnow
from tests.conftest import Web
from tests.jobs.conftest import MAIL_FROM, kill_worker, wait_until, work_horses

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def app(make_app, redis, redis_url):
    app = make_app(REDIS_URL=redis_url, MAIL_FROM=MAIL_FROM, EMAIL_BATCH_SIZE=10)
    with app.app_context():
        yield app


def queue_emails(count: int, kind: str = "nurture", lead_ids: dict[int, int] | None = None,
                 addresses: dict[int, str] | None = None) -> list[OutboxEmail]:
    """`count` emails written in one transaction (as a sequence step due for many leads is)."""
    with atomic():
        return [outbox.queue_email(kind=kind, to_address=(addresses or {}).get(n, f"person{n}@example.com"),
                                   subject=f"Hello {n}", text_body=f"Hello {n}", html_body=f"<p>Hello {n}</p>",
                                   lead_id=(lead_ids or {}).get(n)) for n in range(count)]


def rows() -> list[OutboxEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)))


def received(smtp_server) -> Counter:
    return Counter(message["Message-ID"] for message in smtp_server.messages)


def waiting_jobs(redis) -> dict[str, list[list[int]]]:
    """Queue name -> the rows each waiting delivery job carries."""
    return {name: [outbox.rows_of(job) for job in Queue(name, connection=redis, serializer=JSONSerializer).get_jobs()]
            for name in QUEUES}


def kinds(lead_id: int) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == lead_id)
                                   .order_by(TimelineEntry.id)))


def test_rows_committed_together_go_out_as_batch_jobs_each_over_one_connection(app, redis, run_worker,
                                                                                smtp_server):
    written = queue_emails(25)

    assert waiting_jobs(redis) == {"urgent": [], "default": [[r.id for r in written[:10]], [r.id for r in written[10:20]],
                                                             [r.id for r in written[20:]]]}
    run_worker()

    assert received(smtp_server) == Counter({row.message_id: 1 for row in written})
    assert len(smtp_server.peers) == 3  # one connection per batch, not per email
    assert [(row.state, row.attempts, row.transport) for row in rows()] == [("sent", 1, "smtp")] * 25


def test_a_dropped_connection_mid_batch_costs_one_email_an_attempt_and_the_rest_go_out_on_a_new_one(
        app, start_worker, smtp_server):
    written = queue_emails(6)
    smtp_server.close_at_mail = {3}  # the relay closes the connection instead of taking the third email

    start_worker(burst=False)  # with its scheduler, which enqueues the retry a second later

    wait_until(lambda: all(row.state == "sent" for row in rows()), message="every row sent")
    assert received(smtp_server) == Counter({row.message_id: 1 for row in written})
    third = rows()[2]
    assert (third.state, third.attempts) == ("sent", 2)  # its retry went out in a job of its own
    assert [row.attempts for row in rows()] == [1, 1, 2, 1, 1, 1]
    assert len(smtp_server.peers) == 3  # the batch reconnected once; the retry had its own


def test_a_worker_killed_mid_batch_leaves_the_sent_rows_sent_and_the_next_worker_sends_only_the_rest(
        app, member, make_lead, start_worker, run_worker, smtp_server):
    written = queue_emails(8)
    smtp_server.stall_next(after=5)  # the relay takes five, then hangs on the sixth

    worker = start_worker(EMAIL_LEASE_SECONDS="3")
    assert smtp_server.stalled.wait(30), "the worker never got as far as the sixth email"
    # Each email is recorded sent as soon as the relay has taken it, not at the end of the batch.
    wait_until(lambda: [row.state for row in rows()] == ["sent"] * 5 + ["sending"] * 3, timeout=5,
               message="the five the relay took recorded sent, the rest still sending")
    kill_worker(worker)
    lease = max(row.lease_until for row in rows() if row.lease_until)
    wait_until(lambda: utcnow() > lease, timeout=10, message="the lease to run out")

    run_worker()

    assert received(smtp_server) == Counter({row.message_id: 1 for row in written})
    assert [(row.state, row.attempts) for row in rows()] == [("sent", 1)] * 5 + [("sent", 2)] * 3


def test_two_workers_racing_over_overlapping_batches_each_queued_twice_send_each_email_once(
        app, redis, start_worker, smtp_server):
    written = queue_emails(40)  # four batch jobs of ten
    ids = [row.id for row in written]
    for start in range(0, 40, 10):  # each batch again, as a sweeper's re-enqueue would add it
        assert outbox.enqueue_batch(ids[start:start + 10])
    for start in range(5, 40, 10):  # and batches that straddle them
        assert outbox.enqueue_batch(ids[start:start + 10])
    assert sum(len(batch) for batch in waiting_jobs(redis)["default"]) == 115

    workers = [start_worker(), start_worker()]
    for worker in workers:
        output = worker.communicate(timeout=120)[0]
        assert worker.returncode == 0 and "Traceback" not in output, output

    assert received(smtp_server) == Counter({row.message_id: 1 for row in written})
    assert [(row.state, row.attempts) for row in rows()] == [("sent", 1)] * 40


def test_a_refused_recipient_fails_only_its_own_email_and_a_permanent_refusal_marks_the_lead(
        app, redis, member, make_lead, run_worker, smtp_server):
    gone = make_lead(first_name="Gus", email="gone@example.com", owner=member)
    busy = make_lead(first_name="Bea", email="busy@example.com", owner=member)
    smtp_server.refuse_recipients = {"gone@example.com": "550 5.1.1 <gone@example.com>: no such user",
                                     "busy@example.com": "450 4.2.1 Mailbox busy, try later"}
    written = queue_emails(6, lead_ids={1: gone.id, 3: busy.id},
                           addresses={1: "gone@example.com", 3: "busy@example.com"})
    with atomic():  # a notice to a team member whose address bounces marks no lead
        notice = outbox.queue_email(kind="owner_notice", to_address="gone@example.com", subject="New lead",
                                    text_body="New lead", html_body="<p>New lead</p>", lead_id=gone.id)
    run_worker()

    assert received(smtp_server) == Counter({written[n].message_id: 1 for n in (0, 2, 4, 5)})
    states = {row.id: (row.state, row.attempts) for row in rows()}
    assert states[written[1].id] == ("failed", 1)  # permanent: no retry
    assert states[written[3].id] == ("queued", 1)  # temporary: retried with backoff from the row
    assert states[notice.id] == ("failed", 1)
    assert [states[written[n].id] for n in (0, 2, 4, 5)] == [("sent", 1)] * 4
    retry = Queue("default", connection=redis, serializer=JSONSerializer).scheduled_job_registry.get_job_ids()
    assert retry == [outbox.job_id(written[3].id, 1)]

    db.session.expire_all()
    bounced, waiting = db.session.get(Lead, gone.id), db.session.get(Lead, busy.id)
    assert bounced.email_undeliverable_at is not None
    assert bounced.email_undeliverable_reason == "550 5.1.1 <gone@example.com>: no such user"
    assert waiting.email_undeliverable_at is None
    assert kinds(gone.id)[-2:] == ["email_failed", "email_undeliverable"]
    from app.services.suppression import active_entry
    assert active_entry("gone@example.com").reason == "bounced"  # no later email goes to it
    assert active_entry("busy@example.com") is None
    assert kinds(gone.id).count("email_undeliverable") == 1  # the team's notice added none
    assert "email_undeliverable" not in kinds(busy.id)

    web = Web(app.test_client())
    web.login(member)
    page = web.get(f"/leads/{gone.id}").get_data(as_text=True)
    assert "Email undeliverable" in page and "no such user" in page
    assert "marked undeliverable" in page  # the timeline says so too
    assert "Email undeliverable" not in web.get(f"/leads/{busy.id}").get_data(as_text=True)


def test_a_policy_refusal_or_a_changed_address_does_not_mark_the_lead(app, member, make_lead, run_worker,
                                                                     smtp_server):
    relay = make_lead(first_name="Rex", email="rex@example.com", owner=member)
    moved = make_lead(first_name="Mo", email="mo@example.com", owner=member)
    smtp_server.refuse_recipients = {"rex@example.com": "554 5.7.1 Relay access denied",
                                     "mo-old@example.com": "550 5.1.1 no such user"}
    queue_emails(2, lead_ids={0: relay.id, 1: moved.id}, addresses={0: "rex@example.com", 1: "mo-old@example.com"})

    run_worker()

    assert [row.state for row in rows()] == ["failed", "failed"]
    db.session.expire_all()
    assert [db.session.get(Lead, lead.id).email_undeliverable_at for lead in (relay, moved)] == [None, None]


def test_a_new_address_clears_the_undeliverable_mark(app, member, make_lead):
    from app.services import bounces, leads
    lead = make_lead(first_name="Gus", email="gone@example.com", owner=member)
    with atomic():
        assert bounces.record_hard_bounce(lead.id, "Gone@Example.com", "550 5.1.1 no such user", utcnow())
    assert db.session.get(Lead, lead.id).email_undeliverable_reason == "550 5.1.1 no such user"

    leads.update_lead(lead.id, {"email": "gus@example.com"}, member.id)

    db.session.expire_all()
    assert db.session.get(Lead, lead.id).email_undeliverable_at is None


def test_an_appointment_email_goes_out_before_a_backlog_queued_ahead_of_it(app, redis, member, make_lead,
                                                                          run_worker, smtp_server):
    backlog = queue_emails(30)
    lena = make_lead(first_name="Lena", email="lena@example.com", owner=member)
    starts = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    appointments.book_appointment(lena.id, member.id, starts_at=starts, duration_minutes=30)
    [invite] = [row for row in rows() if row.kind == "appointment_invite"]
    assert waiting_jobs(redis)["urgent"] == [[invite.id]]

    run_worker()

    assert smtp_server.messages[0]["Message-ID"] == invite.message_id
    assert received(smtp_server) == Counter({row.message_id: 1 for row in [*backlog, invite]})


def test_one_urgent_job_takes_the_appointment_emails_waiting_behind_it_and_a_kill_mid_send_resends_none_sent(
        app, redis, member, make_lead, start_worker, run_worker, smtp_server):
    starts = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    for n in range(4):
        lead = make_lead(first_name=f"Lena{n}", email=f"lena{n}@example.com", owner=member)
        appointments.book_appointment(lead.id, member.id, starts_at=starts + timedelta(hours=n), duration_minutes=30)
    invites = [row.id for row in rows() if row.kind == "appointment_invite"]
    assert waiting_jobs(redis)["urgent"] == [[outbox_id] for outbox_id in invites]  # a job of its own each
    smtp_server.stall_next(after=2)  # the relay takes two invitations, then hangs on the third

    worker = start_worker(EMAIL_LEASE_SECONDS="3")
    assert smtp_server.stalled.wait(30), "the worker never got as far as the third invitation"
    invited = lambda: [row.state for row in rows() if row.id in invites]  # noqa: E731
    # The first job claimed the three waiting behind it too, and sends them over its connection.
    wait_until(lambda: invited() == ["sent", "sent", "sending", "sending"], timeout=5,
               message="two sent, the other two claimed by the same job")
    assert len(smtp_server.peers) == 1
    assert work_horses(worker.pid) == []  # no work horse: the job runs in the worker's own process
    kill_worker(worker)
    lease = max(row.lease_until for row in rows() if row.lease_until)
    wait_until(lambda: utcnow() > lease, timeout=10, message="the lease to run out")

    run_worker()

    assert received(smtp_server) == Counter({row.message_id: 1 for row in rows()})
    assert [(row.state, row.attempts) for row in rows() if row.id in invites] == [
        ("sent", 1), ("sent", 1), ("sent", 2), ("sent", 2)]
