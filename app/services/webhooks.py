"""Outgoing webhooks: admins register endpoints for events; every event is delivery rows first.

emit() writes one delivery row per enabled endpoint subscribed to the event, in the same
transaction as the event (one INSERT ... SELECT; no statement at all while no endpoint wants the
event, read through settings_cache, which any change to an endpoint renews). The rows are enqueued
once that transaction commits; a worker claims them with a conditional UPDATE, posts them signed
(webhook_requests.post: SSRF checks after DNS and on every redirect, one deadline), and records
the answer. A failed attempt is retried with backoff from the row; a sweeper re-enqueues rows a
Redis outage or a killed worker left behind, as for the email outbox (services/outbox.py).

In order per lead: a delivery is not claimed while an earlier one of the same lead to the same
endpoint is queued or sending; when a delivery ends, the next of its lead is enqueued.

The payload is the API's representation (api/representation.py) of what the event is about, as
it stands when the delivery is first attempted; the body is then kept, so every retry and a
resend carry the same JSON. Signature: `Leadboard-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>." + body under the endpoint's secret>` (README, "Webhooks")."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from redis import RedisError
from rq.job import Job, JobStatus
from rq.timeouts import JobTimeoutException
from sqlalchemy import JSON, DateTime, Integer, String, and_, event, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session, aliased

from app.extensions import db
from app.models import DeliveryState, Role, User, WebhookDelivery, WebhookEndpoint
from app.models.webhook import PENDING_STATES
from app.queue import QUEUES, QueueUnavailable, connection, queue
from app.services import NOT_SETTINGS, NotFound, ServiceError, atomic, outer_commit, settings_cache, utcnow
from app.services.bulk import insert_many
from app.services import audit, webhook_requests
from app.services.webhook_requests import HostNotFound, Refused, Unreachable

log = logging.getLogger(__name__)

EVENTS = {
    "lead.created": "A lead is created (any way in, a CSV import included)",
    "lead.updated": "A lead's fields are edited",
    "lead.stage_changed": "A lead moves to another stage",
    "lead.assigned": "A lead gets an owner, or goes back to the pool",
    "appointment.confirmed": "A prospect confirms an appointment",
    "appointment.cancelled": "An appointment is cancelled",
    "task.completed": "A task is marked done",
}
TEST_EVENT = "webhook.test"  # "send a test event": to one endpoint, about nothing
AUTOMATION_EVENT = "automation.called"  # an automation's "call a webhook": to the one endpoint it names
PENDING = "leadboard_webhooks_pending"
JOB = "app.jobs.webhooks.deliver"
QUEUE = "default"
BATCH = 50  # deliveries per job
MAX_ENDPOINTS = 20
LOG_PAGE = 50
DISABLE_AFTER = timedelta(hours=24)
CLOCK_SKEW = timedelta(seconds=2)
SIGNATURE_HEADER = "Leadboard-Signature"
EVENT_HEADER = "Leadboard-Event"
EVENT_ID_HEADER = "Leadboard-Event-Id"  # the same for every endpoint and a resend: receivers dedupe on it
DELIVERY_HEADER = "Leadboard-Delivery"


class EndpointNotFound(NotFound):
    def __init__(self):
        super().__init__("That webhook endpoint no longer exists.")


class DeliveryNotFound(NotFound):
    def __init__(self):
        super().__init__("That delivery is not in this endpoint's log.")


# --- endpoints ----------------------------------------------------------------------------------


@dataclass
class EndpointInput:
    url: str
    events: list[str]
    description: str = ""
    enabled: bool = True
    allow_private: bool = False


def allow_http() -> bool:
    """Plain http:// endpoints only in development (and tests that say so): lead data goes over HTTPS."""
    return bool(current_app.config["WEBHOOK_ALLOW_HTTP"])


def clean(given: EndpointInput) -> EndpointInput:
    """The endpoint as it will be saved; raises ServiceError naming the field (url, events, description).

    The URL is checked as deliveries will be: scheme, and every address its host resolves to now."""
    url = (given.url or "").strip()
    if not url:
        raise ServiceError("Give the address that receives the events.", field="url")
    if len(url) > 2000:
        raise ServiceError("Keep the address under 2,000 characters.", field="url")
    try:
        webhook_requests.check_destination(url, allow_http=allow_http(), allow_private=given.allow_private)
    except Refused as exc:
        raise ServiceError(str(exc), field="url") from None
    events = [name for name in EVENTS if name in set(given.events or [])]
    if not events:
        raise ServiceError("Pick at least one event to send.", field="events")
    description = " ".join((given.description or "").split())
    if len(description) > 200:
        raise ServiceError("Keep the description under 200 characters.", field="description")
    return EndpointInput(url, events, description, bool(given.enabled), bool(given.allow_private))


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def readable(text: str) -> str:
    """A receiver's answer or an error as it can be stored and shown: NULs and other control
    characters (PostgreSQL refuses NUL in text) as U+FFFD, lines and tabs kept."""
    return _CONTROL.sub("\ufffd", text)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def create_endpoint(given: EndpointInput, actor_id: int | None, now: datetime | None = None) -> WebhookEndpoint:
    """Register an endpoint with a new secret; raises ServiceError (a bad URL, no events, too many endpoints)."""
    cleaned = clean(given)
    now = now or utcnow()
    with atomic():
        if db.session.scalar(select(func.count(WebhookEndpoint.id))) >= MAX_ENDPOINTS:
            raise ServiceError(f"A team can have at most {MAX_ENDPOINTS} endpoints; remove one you no longer use.",
                               field="url")
        endpoint = WebhookEndpoint(url=cleaned.url, events=_joined(cleaned.events), description=cleaned.description,
                                   enabled=cleaned.enabled, allow_private=cleaned.allow_private, secret=new_secret(),
                                   created_at=now, updated_at=now, created_by_id=actor_id)
        db.session.add(endpoint)
        db.session.flush()
        audit.record(actor_id, "webhook.added", endpoint.url, {"events": cleaned.events})
    return endpoint


def update_endpoint(endpoint_id: int, given: EndpointInput, now: datetime | None = None,
                    actor_id: int | None = None) -> WebhookEndpoint:
    """Save an endpoint's URL, events and switches; turning it on again sends what waited meanwhile."""
    cleaned = clean(given)
    now = now or utcnow()
    with atomic():
        endpoint = get_endpoint(endpoint_id)
        enabling = cleaned.enabled and not endpoint.enabled
        endpoint.url, endpoint.events, endpoint.description = cleaned.url, _joined(cleaned.events), cleaned.description
        endpoint.enabled, endpoint.allow_private, endpoint.updated_at = cleaned.enabled, cleaned.allow_private, now
        if enabling:
            endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
            _wake(heads_of(endpoint_id=endpoint.id))
        elif not cleaned.enabled and endpoint.disabled_at is None:
            endpoint.disabled_at, endpoint.disabled_reason = now, "Turned off by an admin."
        audit.record(actor_id, "webhook.changed", endpoint.url,
                     {"events": cleaned.events, "on": cleaned.enabled, "allow_private": cleaned.allow_private})
    return endpoint


def rotate_secret(endpoint_id: int, now: datetime | None = None, actor_id: int | None = None) -> WebhookEndpoint:
    """Give the endpoint a new secret; deliveries from now on are signed with it."""
    with atomic():
        endpoint = get_endpoint(endpoint_id)
        endpoint.secret, endpoint.updated_at = new_secret(), now or utcnow()
        audit.record(actor_id, "webhook.secret_rotated", endpoint.url)
    return endpoint


def delete_endpoint(endpoint_id: int, actor_id: int | None = None) -> None:
    """Remove an endpoint and its delivery log."""
    with atomic():
        endpoint = get_endpoint(endpoint_id)
        audit.record(actor_id, "webhook.deleted", endpoint.url)
        db.session.delete(endpoint)


def get_endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound()
    return endpoint


def endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(MAX_ENDPOINTS)))


def _joined(events: list[str]) -> str:
    return "," + ",".join(events) + ","


# --- writing deliveries -------------------------------------------------------------------------


def _subscriptions() -> tuple[tuple[int, frozenset], ...]:
    return tuple((endpoint_id, frozenset(filter(None, events.split(","))))
                 for endpoint_id, events in db.session.execute(
                     select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.enabled.is_(True))))


def subscribed(event_name: str) -> list[int]:
    """The enabled endpoints that want this event (kept while the settings are unchanged)."""
    return [endpoint_id for endpoint_id, events in settings_cache("webhooks.subscriptions", _subscriptions)
            if event_name in events]


def emit(event_name: str, *, lead_id: int | None, subject_id: int | None = None, data: dict | None = None,
         now: datetime | None = None) -> int:
    """Write this event's deliveries into the current transaction (call inside atomic()): one row per
    enabled endpoint subscribed to it, enqueued after commit. Returns how many."""
    wanted = subscribed(event_name)
    if not wanted:
        return 0
    now = now or utcnow()
    rows = (select(WebhookEndpoint.id, literal(event_name, String), literal(str(uuid.uuid4()), String),
                   literal(lead_id, Integer), literal(subject_id, Integer), literal(data, JSON),
                   literal(DeliveryState.queued.value, String), literal(0, Integer), literal(now, DateTime),
                   literal(now, DateTime))
            .where(WebhookEndpoint.id.in_(wanted), WebhookEndpoint.enabled.is_(True),
                   WebhookEndpoint.events.like(f"%,{event_name},%")))
    ids = db.session.scalars(insert(WebhookDelivery).from_select(
        ["endpoint_id", "event", "event_id", "lead_id", "subject_id", "data", "state", "attempts", "next_attempt_at",
         "created_at"], rows).returning(WebhookDelivery.id)).all()
    db.session.info.setdefault(PENDING, []).extend(ids)
    return len(ids)


def send_to(endpoint_id: int, event_name: str, *, lead_id: int | None, data: dict | None = None,
            now: datetime | None = None) -> int | None:
    """One delivery of this event to one endpoint, whatever it subscribes to (an automation calling
    it), inside the current transaction and enqueued after commit, like emit(): the id, or None when
    the endpoint is gone or disabled. Its address was checked when it was saved, and is checked again
    after DNS resolution and on every redirect when it is sent."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not endpoint.enabled:
        return None
    now = now or utcnow()
    row = WebhookDelivery(endpoint_id=endpoint.id, event=event_name, event_id=str(uuid.uuid4()), lead_id=lead_id,
                          data=data, state=DeliveryState.queued.value, attempts=0, next_attempt_at=now, created_at=now)
    db.session.add(row)
    db.session.flush()
    db.session.info.setdefault(PENDING, []).append(row.id)
    return row.id


def emit_many(event_name: str, lead_ids: list[int], now: datetime, data: dict | None = None) -> int:
    """emit() for many leads at once (an import's batch, a deleted stage's leads): one set-based
    insert for them all, each lead its own event."""
    wanted = subscribed(event_name)
    if not wanted or not lead_ids:
        return 0
    rows = [{"endpoint_id": endpoint_id, "event": event_name, "event_id": event_id, "lead_id": lead_id,
             "state": DeliveryState.queued.value, "attempts": 0, "next_attempt_at": now, "created_at": now,
             **({"data": data} if data is not None else {})}
            for lead_id, event_id in ((lead_id, str(uuid.uuid4())) for lead_id in lead_ids)
            for endpoint_id in wanted]
    ids = insert_many(WebhookDelivery.__table__, rows, ids=True)
    db.session.info.setdefault(PENDING, []).extend(ids)
    return len(ids)


def _wake(ids: list[int]) -> None:
    """Enqueue these rows once the current transaction commits."""
    if ids:
        db.session.info.setdefault(PENDING, []).extend(ids)


@event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    if not outer_commit(session):
        return  # a savepoint: the rows wait for the transaction around it
    ids = session.info.pop(PENDING, None)
    if ids:
        enqueue(sorted(ids))


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop(PENDING, None)


def job_id(delivery_ids: list[int], attempts: int = 0) -> str:
    name = f"webhook-{delivery_ids[0]}" + (f"-retry{attempts}" if attempts else "")
    return name if len(delivery_ids) == 1 else f"{name}-batch{len(delivery_ids)}"


def enqueue(delivery_ids: list[int], at: datetime | None = None, attempts: int = 0) -> bool:
    """Put delivery jobs for these rows on the queue (at a time, for retries), BATCH rows a job;
    False when Redis is away (the rows wait for the sweeper)."""
    timeout = current_app.config["WEBHOOK_TIMEOUT"]
    try:
        target = queue(QUEUE)
        for start in range(0, len(delivery_ids), BATCH):
            chunk = list(delivery_ids[start:start + BATCH])
            options = {"job_id": job_id(chunk, attempts), "job_timeout": int(len(chunk) * (timeout + 1) + 30)}
            if at is None:
                target.enqueue(JOB, chunk, **options)
            else:
                moment = at.replace(tzinfo=timezone.utc)
                if moment.microsecond:  # RQ's scheduler keeps whole seconds: never start before the row is due
                    moment = moment.replace(microsecond=0) + timedelta(seconds=1)
                target.enqueue_at(moment, JOB, chunk, **options)
    except (QueueUnavailable, RedisError) as exc:
        level = logging.WARNING if current_app.config["REDIS_URL"] else logging.INFO
        log.log(level, "%s webhook deliveries from %s wait in the database for the sweeper: %s",
                len(delivery_ids), delivery_ids[0], exc)
        return False
    return True


# --- delivering ---------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Leadboard-Signature header's value for this body at this time."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """Whether a Leadboard-Signature header is ours for this body, signed within `tolerance` seconds
    (what a receiver does; the Webhooks settings page and README show receivers the same few lines)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _blocked(row) -> object:
    """An earlier delivery of the same lead to the same endpoint is still queued or sending."""
    earlier = aliased(WebhookDelivery)
    return exists().where(earlier.endpoint_id == row.endpoint_id, earlier.lead_id == row.lead_id,
                          earlier.id < row.id, earlier.state.in_(PENDING_STATES))


def _endpoint_on(row) -> object:
    return exists().where(WebhookEndpoint.id == row.endpoint_id, WebhookEndpoint.enabled.is_(True))


@dataclass
class Outcome:
    outcome: str  # "delivered", "retry", "failed", "skipped"
    retry_at: datetime | None = None
    attempts: int = 0


def deliver(delivery_ids: list[int], now: datetime | None = None) -> dict[int, Outcome]:
    """Claim and send these rows in order (those another job has, that are not due, whose endpoint is
    off, or whose lead has an earlier delivery pending are skipped); record each answer. A row held
    back behind one of this batch is claimed once that one ends; the retries are enqueued, and each
    lead's next delivery outside the batch once one ends."""
    ids = sorted({int(i) for i in delivery_ids})
    clock = (lambda: now) if now is not None else utcnow
    results: dict[int, Outcome] = {i: Outcome("skipped") for i in ids}
    ended: set[tuple[int, int]] = set()  # (endpoint, lead) of the deliveries that ended
    remaining = ids
    while remaining:
        claimed = _claim(remaining, clock(), len(ids))
        for delivery_id in sorted(claimed):
            results[delivery_id], lead = _send_one(delivery_id, claimed[delivery_id], clock)
            if lead is not None:
                ended.add(lead)
        remaining = [i for i in remaining if i not in claimed]
        if not any(results[i].outcome in ("delivered", "failed") for i in claimed):
            break  # nothing ended, so nothing left in the batch can have been freed
    retries: dict[tuple, list[int]] = {}
    for delivery_id, result in results.items():
        if result.outcome == "retry":
            retries.setdefault((result.retry_at, result.attempts), []).append(delivery_id)
    for (at, attempts), chunk in retries.items():
        enqueue(chunk, at, attempts)
    if ended:  # each lead's next delivery, now free to go, unless this batch sent it already
        outside = sorted(set(next_of(ended)) - {i for i, result in results.items() if result.outcome != "skipped"})
        if outside:
            enqueue(outside)
    return results


def _claim(ids: list[int], start: datetime, batch: int) -> dict[int, int]:
    """Take these rows that are due, queued, not held back, with their endpoint on: {id: attempt}."""
    timeout = current_app.config["WEBHOOK_TIMEOUT"]
    with atomic():
        return dict(db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), WebhookDelivery.state == DeliveryState.queued.value,
                   WebhookDelivery.next_attempt_at <= start + CLOCK_SKEW, _endpoint_on(WebhookDelivery),
                   ~_blocked(WebhookDelivery))
            .values(state=DeliveryState.sending.value, attempts=WebhookDelivery.attempts + 1,
                    lease_until=start + timedelta(seconds=batch * (timeout + 1) + 60))
            .returning(WebhookDelivery.id, WebhookDelivery.attempts)
            .execution_options(synchronize_session=False)).all())


def _send_one(delivery_id: int, attempt: int, clock) -> tuple[Outcome, tuple[int, int] | None]:
    try:
        with atomic():
            row = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
            endpoint = db.session.get(WebhookEndpoint, row.endpoint_id) if row is not None else None
            if endpoint is None:
                return Outcome("skipped"), None  # removed with its endpoint meanwhile
            if row.body is None:
                row.body = build_body(row)  # kept: every retry and a resend carry the same JSON
            body, secret, url, allow_private = row.body.encode(), endpoint.secret, endpoint.url, endpoint.allow_private
            headers = {"Content-Type": "application/json", "User-Agent": "Leadboard-Webhooks/1",
                       EVENT_HEADER: row.event, EVENT_ID_HEADER: row.event_id, DELIVERY_HEADER: str(row.id)}
    except Exception as exc:  # a body that cannot be built fails now, rather than crash every attempt
        log.exception("Webhook delivery %s could not be built", delivery_id)
        return _record(delivery_id, attempt, clock(), None, f"{type(exc).__name__}: {exc}", True)
    headers[SIGNATURE_HEADER] = sign(secret, int(time.time()), body)
    answer = error = None
    refused = False
    try:
        answer = webhook_requests.post(url, body, headers, timeout=current_app.config["WEBHOOK_TIMEOUT"],
                                       allow_http=allow_http(), allow_private=allow_private)
    except HostNotFound as exc:  # DNS may answer next time
        error = str(exc)
    except Refused as exc:
        error, refused = str(exc), True
    except Unreachable as exc:
        error = str(exc)
    except JobTimeoutException:
        raise  # the job's own time is up: it ends, and the sweep sends what it had not
    except Exception as exc:  # any error is this attempt failing, never a row stuck sending
        log.exception("Webhook delivery %s failed unexpectedly", delivery_id)
        error = f"{type(exc).__name__}: {exc}"
    return _record(delivery_id, attempt, clock(), answer, error, refused)


def _record(delivery_id: int, attempt: int, now: datetime, answer, error: str | None, refused: bool
            ) -> tuple[Outcome, tuple[int, int] | None]:
    """Write down how the attempt went; the outcome, and (endpoint, lead) if a delivery of a lead ended."""
    delays = current_app.config["WEBHOOK_RETRY_DELAYS"]
    with atomic():
        row = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
        if row is None or row.state != DeliveryState.sending.value or row.attempts != attempt:
            return Outcome("skipped"), None  # the sweeper gave it to another worker meanwhile
        row.lease_until = None
        if answer is not None:
            row.response_status, row.response_ms = answer.status, answer.elapsed_ms
            row.response_excerpt = readable(answer.excerpt)[:500]
            if not 200 <= answer.status < 300:
                error = f"The endpoint answered {answer.status}."
        else:
            row.response_status = row.response_ms = row.response_excerpt = None
        row.last_error = readable(error)[:500] if error else None
        if error is None:
            row.state, row.finished_at = DeliveryState.delivered.value, now
            _healthy(row.endpoint_id, now)
            result = Outcome("delivered")
        elif refused or attempt > len(delays):
            row.state, row.finished_at = DeliveryState.failed.value, now
            _failing(row.endpoint_id, now)
            result = Outcome("failed")
        else:
            row.state = DeliveryState.queued.value
            row.next_attempt_at = now + timedelta(seconds=delays[attempt - 1])
            _failing(row.endpoint_id, now)
            return Outcome("retry", row.next_attempt_at, attempt), None
        lead = (row.endpoint_id, row.lead_id) if row.lead_id is not None else None
    return result, lead


def _healthy(endpoint_id: int, now: datetime) -> None:
    # Health is not a setting: NOT_SETTINGS keeps every process's settings cache.
    db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                       .values(last_success_at=now, failing_since=None)
                       .execution_options(synchronize_session=False, **NOT_SETTINGS))


def _failing(endpoint_id: int, now: datetime) -> None:
    """Note the endpoint failing since now (unless it already was); failing a whole day turns it off,
    and every admin hears of it."""
    db.session.execute(update(WebhookEndpoint)
                       .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
                       .values(failing_since=now).execution_options(synchronize_session=False, **NOT_SETTINGS))
    endpoint = db.session.get(WebhookEndpoint, endpoint_id, populate_existing=True)
    if endpoint is None or not endpoint.enabled or endpoint.failing_since is None:
        return
    if now - endpoint.failing_since < DISABLE_AFTER:
        return
    endpoint.enabled, endpoint.disabled_at, endpoint.updated_at = False, now, now
    endpoint.disabled_reason = "Every delivery failed for 24 hours, so it was turned off."
    from app.services.notifications import app_path, notify
    admins = db.session.scalars(select(User.id).where(User.role == Role.admin.value, User.active.is_(True)))
    notify(list(admins), "webhook_disabled",
           f"Webhook endpoint {endpoint.url} was turned off: every delivery failed for 24 hours.",
           url=app_path("settings.webhook", endpoint_id=endpoint.id), now=now)


def next_of(leads: set[tuple[int, int]]) -> list[int]:
    """The queued deliveries of these (endpoint, lead) pairs that nothing earlier holds back (one query
    per endpoint)."""
    found: list[int] = []
    by_endpoint: dict[int, list[int]] = {}
    for endpoint_id, lead_id in leads:
        by_endpoint.setdefault(endpoint_id, []).append(lead_id)
    for endpoint_id, lead_ids in by_endpoint.items():
        found += db.session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.lead_id.in_(lead_ids),
                   WebhookDelivery.state == DeliveryState.queued.value, ~_blocked(WebhookDelivery)))
    db.session.rollback()
    return found


def heads_of(*, endpoint_id: int, lead_id: int | None = None, limit: int = 1000) -> list[int]:
    """Queued deliveries (of one endpoint, or one lead there) that nothing earlier holds back."""
    query = (select(WebhookDelivery.id)
             .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.state == DeliveryState.queued.value,
                    ~_blocked(WebhookDelivery))
             .order_by(WebhookDelivery.id).limit(limit))
    if lead_id is not None:
        query = query.where(WebhookDelivery.lead_id == lead_id).limit(1)
    return list(db.session.scalars(query))


def build_body(row: WebhookDelivery) -> str:
    """The JSON sent: the event, and the API's representation of what it is about."""
    from app.api.representation import appointment_json, lead_json, task_json, timestamp
    from app.models import Appointment, Lead, Task
    data: dict = {}
    if row.event == TEST_EVENT:
        data["message"] = "A test event from Leadboard: your endpoint is reachable and can check signatures."
    else:
        lead = db.session.get(Lead, row.lead_id) if row.lead_id is not None else None
        data["lead"] = lead_json(lead) if lead is not None else None
        if row.event.startswith("appointment."):
            appointment = db.session.get(Appointment, row.subject_id) if row.subject_id else None
            data["appointment"] = appointment_json(appointment) if appointment else None
        if row.event.startswith("task."):
            task = db.session.get(Task, row.subject_id) if row.subject_id else None
            data["task"] = task_json(task) if task else None
        data.update(row.data or {})
    return json.dumps(envelope(row.event_id, row.event, timestamp(row.created_at), data),
                      separators=(",", ":"), ensure_ascii=False)


def envelope(event_id: str, event: str, created_at: str, data: dict) -> dict:
    """A delivery's JSON body: the event's id, its type, when it happened and what it is about."""
    return {"id": event_id, "type": event, "created_at": created_at, "data": data}


@dataclass(frozen=True)
class DeliveryRules:
    """How deliveries are made, for the admins' page: read from what the worker itself uses."""
    retry_delays: list[int]  # seconds to wait after each failed attempt
    attempts: int
    timeout_seconds: float
    disable_after: timedelta
    signature_header: str
    event_header: str
    event_id_header: str
    delivery_header: str
    example_body: str


def delivery_rules() -> DeliveryRules:
    """The retry schedule (WEBHOOK_RETRY_DELAYS), the deadline (WEBHOOK_TIMEOUT), when a failing
    endpoint is turned off, the headers and the body's shape, as _send_one and _record apply them."""
    delays = list(current_app.config["WEBHOOK_RETRY_DELAYS"])
    example = envelope("<event id>", "lead.stage_changed",
                       "2026-12-05T16:00:00.000000Z",
                       {"lead": {"...": "the lead as GET /api/v1/leads/<id> shows it"},
                        "previous_stage_id": 1, "stage_id": 2})
    return DeliveryRules(retry_delays=delays, attempts=len(delays) + 1,  # _record fails it after the last delay
                         timeout_seconds=float(current_app.config["WEBHOOK_TIMEOUT"]), disable_after=DISABLE_AFTER,
                         signature_header=SIGNATURE_HEADER, event_header=EVENT_HEADER,
                         event_id_header=EVENT_ID_HEADER, delivery_header=DELIVERY_HEADER,
                         example_body=json.dumps(example, indent=2, ensure_ascii=False))


# --- admins -------------------------------------------------------------------------------------


def delivery_log(endpoint_id: int, *, before_id: int | None = None, limit: int = LOG_PAGE
                 ) -> tuple[list[WebhookDelivery], bool]:
    """An endpoint's deliveries newest first, `limit` at a time below `before_id`; whether more remain."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    rows = list(db.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def resend(endpoint_id: int, delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Send a delivery again as a new one (same event and body, after the lead's pending ones)."""
    now = now or utcnow()
    with atomic():
        endpoint = get_endpoint(endpoint_id)
        original = db.session.get(WebhookDelivery, delivery_id)
        if original is None or original.endpoint_id != endpoint.id:
            raise DeliveryNotFound()
        if original.state in PENDING_STATES:
            raise ServiceError("That delivery is still on its way; resend it once it has been delivered or failed.")
        if not endpoint.enabled:
            raise ServiceError("Turn the endpoint on before resending to it.")
        copy = WebhookDelivery(endpoint_id=endpoint.id, event=original.event, event_id=original.event_id,
                               lead_id=original.lead_id, subject_id=original.subject_id, data=original.data,
                               body=original.body, state=DeliveryState.queued.value, attempts=0, next_attempt_at=now,
                               created_at=now, resent_from_id=original.id)
        db.session.add(copy)
        db.session.flush()
        _wake([copy.id])
    return copy


def send_test(endpoint_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Queue a test event to this endpoint (it shows in the log like any delivery)."""
    now = now or utcnow()
    with atomic():
        endpoint = get_endpoint(endpoint_id)
        if not endpoint.enabled:
            raise ServiceError("Turn the endpoint on before sending it a test event.")
        row = WebhookDelivery(endpoint_id=endpoint.id, event=TEST_EVENT, event_id=str(uuid.uuid4()), lead_id=None,
                              state=DeliveryState.queued.value, attempts=0, next_attempt_at=now, created_at=now)
        db.session.add(row)
        db.session.flush()
        _wake([row.id])
    return row


# --- the sweeper --------------------------------------------------------------------------------


def sweep(now: datetime | None = None, *, grace_seconds: int | None = None) -> int:
    """Recover what a dead worker or a Redis outage left behind: rows sending past their lease are
    queued again (or fail, out of attempts), and due rows nothing holds back, without a job waiting
    in Redis, are enqueued. Returns how many were enqueued."""
    now = now or utcnow()
    grace = timedelta(seconds=current_app.config["SWEEP_GRACE_SECONDS"] if grace_seconds is None else grace_seconds)
    limit = len(current_app.config["WEBHOOK_RETRY_DELAYS"]) + 1
    abandoned = and_(WebhookDelivery.state == DeliveryState.sending.value, WebhookDelivery.lease_until < now)
    with atomic():
        db.session.execute(
            update(WebhookDelivery).where(abandoned, WebhookDelivery.attempts >= limit)
            .values(state=DeliveryState.failed.value, finished_at=now, lease_until=None,
                    last_error="Every attempt ended with the worker stopping before it finished.")
            .execution_options(synchronize_session=False))
        db.session.execute(
            update(WebhookDelivery).where(abandoned)
            .values(state=DeliveryState.queued.value, next_attempt_at=now, lease_until=None,
                    last_error="The worker sending this stopped before it finished; trying again.")
            .execution_options(synchronize_session=False))
    due = list(db.session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.state == DeliveryState.queued.value, WebhookDelivery.next_attempt_at <= now - grace,
               _endpoint_on(WebhookDelivery), ~_blocked(WebhookDelivery))
        .order_by(WebhookDelivery.id).limit(1000)))
    db.session.rollback()
    waiting = _waiting_in_redis()
    lost = [i for i in due if i not in waiting]
    if lost and enqueue(lost):
        log.info("Webhook sweep: %s deliveries enqueued", len(lost))
        return len(lost)
    return 0


def _waiting_in_redis() -> set[int]:
    """The deliveries that a job waiting in Redis (queued or scheduled) carries."""
    found: set[int] = set()
    try:
        redis = connection()
        for name in QUEUES:
            waiting = queue(name)
            ids = [i for i in waiting.get_job_ids() + waiting.scheduled_job_registry.get_job_ids()
                   if i.startswith("webhook-")]
            for job in Job.fetch_many(ids, connection=redis, serializer=waiting.serializer):
                if job is not None and job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.SCHEDULED):
                    found.update(int(i) for i in job.args[0])
    except (QueueUnavailable, RedisError):
        return set()
    return found
