"""A whole nurture sequence through the real pipeline: the tick (in process, under an injected clock)
queues each step in the outbox, Redis is flushed, the worker comes back, and a real SMTP server
receives every step exactly once, with the RFC 8058 headers, from the lead's owner."""
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import OutboxEmail, SequenceEnrolment
from app.services import email_templates, sequences, utcnow
from app.services.sequences import StepSettings
from tests.jobs.conftest import MAIL_FROM

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def app(make_app, redis, redis_url):
    app = make_app(REDIS_URL=redis_url, MAIL_FROM=MAIL_FROM)
    with app.app_context():
        yield app


def test_a_sequence_survives_a_redis_flush_and_a_worker_restart_and_sends_each_step_once(
        app, redis, run_worker, smtp_server, make_lead, member):
    first = email_templates.create_template(email_templates.TemplateSettings(
        name="Hello", subject="Hello {{ lead.first_name }}", body_html="<p>Hi {{ lead.first_name }}</p>"))
    second = email_templates.create_template(email_templates.TemplateSettings(
        name="Again", subject="Still there, {{ lead.first_name }}?", body_html="<p>{{ owner.name }}</p>"))
    sequence = sequences.create_sequence("Warm up")
    sequences.add_step(sequence.id, StepSettings(template_id=first.id))
    sequences.add_step(sequence.id, StepSettings(template_id=second.id, delay_days=2))
    sequences.start(sequence.id)
    leads = [make_lead(first_name=name, email=f"{name.lower()}@example.com", owner=member)
             for name in ("Ann", "Bo", "Cy")]
    enrolled_at = utcnow() - timedelta(days=3)  # the injected clock: three days ago
    assert sequences.enrol_many([lead.id for lead in leads], sequence.id, member.id, now=enrolled_at) == 3

    assert sequences.run_due(enrolled_at).sent == 3  # step 1 for everyone, queued in the outbox
    redis.flushdb()  # Redis lost the delivery jobs; step 2 fell due a day ago while nothing ran

    run_worker()  # its sweep re-enqueues step 1 and runs the overdue step 2 (no window: it goes now)
    run_worker()  # a second start finds nothing left to do

    by_subject = Counter(message["Subject"] for message in smtp_server.messages)
    assert by_subject == Counter({"Hello Ann": 1, "Hello Bo": 1, "Hello Cy": 1, "Still there, Ann?": 1,
                                  "Still there, Bo?": 1, "Still there, Cy?": 1})
    message = next(m for m in smtp_server.messages if m["Subject"] == "Still there, Bo?")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<http") and "/unsubscribe/" in message["List-Unsubscribe"]
    assert message["Reply-To"] == member.email and "Max Member at" in message["From"]
    db.session.expire_all()
    assert [row.state for row in db.session.scalars(select(OutboxEmail))] == ["sent"] * 6
    assert {(e.status, e.sent) for e in db.session.scalars(select(SequenceEnrolment))} == {("finished", 2)}
