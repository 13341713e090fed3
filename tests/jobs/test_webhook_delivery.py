"""Webhooks end to end: delivery rows written with the change, sent by real `worker.py` processes to
a real HTTP receiver, signed, in order per lead, retried after a failure with RQ's scheduler, and
recovered by the sweeper when Redis lost the jobs."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import WebhookDelivery
from app.services import leads as lead_service, webhooks
from app.services.webhooks import EndpointInput
from tests.jobs.conftest import wait_until
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def app(make_app, redis, redis_url):
    app = make_app(REDIS_URL=redis_url, WEBHOOK_ALLOW_HTTP=True)
    with app.app_context():
        yield app


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(app, admin, receiver):
    return webhooks.create_endpoint(EndpointInput(receiver.url, list(webhooks.EVENTS), allow_private=True), admin.id)


def states() -> list[tuple[str, str, int]]:
    db.session.rollback()
    return [(row.event, row.state, row.attempts) for row in db.session.scalars(
        select(WebhookDelivery).order_by(WebhookDelivery.id).execution_options(populate_existing=True))]


def test_a_worker_delivers_a_leads_events_signed_and_in_order_retrying_a_failure(app, endpoint, receiver, stages,
                                                                               make_lead, start_worker):
    receiver.statuses = [500]  # the first request fails; its retry comes a second later
    lead = make_lead(first_name="Ordered")
    lead_service.update_lead(lead.id, {"company": "Acme"}, None)
    lead_service.move_lead(lead.id, stages["Contacted"].id, None, None, None)
    start_worker(burst=False, WEBHOOK_RETRY_DELAYS="1,1")
    wait_until(lambda: len(receiver.received) == 4, timeout=60, message="four requests at the receiver")
    wait_until(lambda: all(state == "delivered" for _, state, _ in states()), timeout=30, message="every row delivered")
    sent = [(body["type"], body["data"]["lead"]["id"]) for body in receiver.bodies()]
    assert sent == [("lead.created", lead.id), ("lead.created", lead.id), ("lead.updated", lead.id),
                    ("lead.stage_changed", lead.id)]
    for request in receiver.received:
        assert webhooks.verify(endpoint.secret, request["headers"]["Leadboard-Signature"], request["body"])
    assert states() == [("lead.created", "delivered", 2), ("lead.updated", "delivered", 1),
                        ("lead.stage_changed", "delivered", 1)]
    assert json.loads(receiver.received[3]["body"])["data"]["stage_id"] == stages["Contacted"].id


def test_deliveries_whose_jobs_redis_lost_are_sent_by_the_sweeper(app, endpoint, receiver, make_lead, redis,
                                                                  run_worker):
    make_lead(first_name="Swept")
    make_lead(first_name="Swept too")
    redis.flushdb()  # the jobs are gone; the rows are not
    assert [state for _, state, _ in states()] == ["queued", "queued"]
    run_worker(SWEEP_GRACE_SECONDS="0")
    assert [state for _, state, _ in states()] == ["delivered", "delivered"]
    assert sorted(body["data"]["lead"]["first_name"] for body in receiver.bodies()) == ["Swept", "Swept too"]
