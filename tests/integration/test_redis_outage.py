"""A Redis outage costs no request: the rate limiter counts in memory while Redis is away (the same
limits), every page and the API keep answering, and /healthz says what is down.

Redis here is a redis-server of the test's own, killed as an outage would kill it."""
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db, limiter
from app.models import Lead, OutboxEmail
from app.services import appointment_emails, appointments, capture_forms as form_service
from app.services.api_keys import create_key
from tests.conftest import Web
from tests.jobs.conftest import throwaway_redis, wait_until  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.redis]


@pytest.fixture
def outage_app(app, make_app, throwaway_redis):
    """An app whose job queue and rate-limit counters live on the throwaway Redis, limits on.

    Built after the default app: the limiter is one per process, and the last app built sets it up."""
    app = make_app(REDIS_URL=throwaway_redis.url, RATELIMIT_STORAGE_URI=throwaway_redis.url,
                   RATELIMIT_ENABLED=True)
    with app.app_context():
        yield app
    limiter._storage_dead = False  # the limiter is one per process: the next test starts trusting its storage


def human(form) -> dict:
    """What a person's browser posts: the page was drawn 20 seconds before they pressed Send."""
    return {"rendered": form_service.rendered_token(form.id, now=time.time() - 20), "website": ""}


def leads() -> list[Lead]:
    db.session.expire_all()
    return list(db.session.scalars(select(Lead).order_by(Lead.id)))


def test_with_redis_down_people_sign_in_forms_capture_the_api_creates_and_links_open(
        outage_app, throwaway_redis, stages, member, make_lead):
    form = form_service.create_form(form_service.FormSettings(name="Contact", fields={"email": "required"}))
    _, secret = create_key("Website")
    rita = make_lead(first_name="Rita", email="rita@example.com")
    starts = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    appointment = appointments.book_appointment(rita.id, member.id, starts_at=starts, duration_minutes=30)
    confirm = f"/appointments/confirm/{appointment_emails.link_token(appointment, 'confirm')}"
    web = Web(outage_app.test_client())
    assert web.get("/login").status_code == 200  # the limiter has counted on Redis so far

    throwaway_redis.stop()

    web.login(member)  # asserts the redirect into the app
    board = web.get("/board")
    assert board.status_code == 200 and "Max Member" in board.get_data(as_text=True)

    public = outage_app.test_client()
    sent = public.post("/f/contact", data={**human(form), "email": "ada@example.com"})
    assert sent.status_code == 303
    assert [lead.email for lead in leads()] == ["rita@example.com", "ada@example.com"]

    created = public.post("/api/v1/leads", json={"email": "grace@example.com", "first_name": "Grace"},
                          headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "outage-1"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.json["email"] == "grace@example.com"
    assert "grace@example.com" in [lead.email for lead in leads()]

    page = public.get(confirm)
    assert page.status_code == 200 and "Rita" in page.get_data(as_text=True)

    health = public.get("/healthz")
    assert health.status_code == 503 and health.is_json
    assert health.json["status"] == "error" and health.json["down"] == ["redis"]
    assert health.json["redis"]["status"] == "error" and health.json["database"]["status"] == "ok"

    # The booking's invitation waits in the outbox for the worker, whatever Redis did.
    assert [row.state for row in db.session.scalars(select(OutboxEmail))] == ["queued"]


def test_with_redis_down_the_same_limits_still_hold_in_memory_and_redis_takes_over_again(
        outage_app, throwaway_redis, stages):
    form = form_service.create_form(form_service.FormSettings(name="Limited", fields={"email": "required"}))
    throwaway_redis.stop()
    client = outage_app.test_client()

    answers = [client.post("/f/limited", data={**human(form), "email": f"p{n}@example.com"}) for n in range(6)]

    assert [r.status_code for r in answers] == [303] * 5 + [429]
    assert "Too many forms were sent from your network" in answers[5].get_data(as_text=True)
    assert len(leads()) == 5
    other = client.post("/f/limited", data={**human(form), "email": "else@example.com"},
                        environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.status_code == 303  # per address, as with Redis

    throwaway_redis.start()
    from redis import Redis
    redis = Redis.from_url(throwaway_redis.url)

    def counted_on_redis() -> bool:  # the limiter re-checks its storage with backoff, then uses it again
        client.get("/healthz")
        return bool(redis.keys("LIMITS*"))
    wait_until(counted_on_redis, timeout=20, interval=0.5, message="the limiter to count on Redis again")
    assert client.get("/healthz").status_code == 200
