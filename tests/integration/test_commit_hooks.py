"""Jobs are enqueued when the outermost transaction commits, not when a savepoint inside it is
released (SQLAlchemy calls after_commit for both): a job enqueued at a savepoint would run before
its rows were visible to the worker, find nothing to do, and leave them to the sweep minutes later."""
import pytest
from redis import Redis
from rq import Queue

from app.services import atomic, outbox, webhooks
from app.services.webhooks import EndpointInput
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.redis]


@pytest.fixture
def queued(app, make_app):  # after `app`, so that this app's context is the current one
    app = make_app(REDIS_URL=REDIS_URL, WEBHOOK_ALLOW_HTTP=True)
    connection = Redis.from_url(REDIS_URL)
    for name in ("urgent", "default"):
        Queue(name, connection=connection).empty()
    with app.app_context():
        yield lambda: sum(Queue(name, connection=connection).count for name in ("urgent", "default"))
    for name in ("urgent", "default"):
        Queue(name, connection=connection).empty()


def test_emails_written_in_savepoints_are_enqueued_once_at_the_outer_commit(queued):
    with atomic():
        for n in range(3):
            with atomic():  # a savepoint each, as an import row or an automation's step is
                outbox.queue_email(kind="lead_email", to_address=f"p{n}@example.com", subject="Hi",
                                   text_body="Hi", html_body="<p>Hi</p>")
            assert queued() == 0  # released, but nobody else can read the row yet
    assert queued() == 1  # one batch job for the three rows, after the commit


def test_webhook_deliveries_written_in_savepoints_wait_for_the_outer_commit(queued, admin, make_lead):
    webhooks.create_endpoint(EndpointInput("http://127.0.0.1:9/in", ["lead.updated"], allow_private=True), admin.id)
    lead = make_lead()
    from app.services import events
    with atomic():
        for _ in range(2):
            with atomic():
                events.emit("lead.updated", lead_id=lead.id, data={"changed": ["company"]})
            assert queued() == 0
    from sqlalchemy import func, select
    from app.extensions import db
    from app.models import WebhookDelivery
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
    assert queued() == 1
