"""Outgoing webhooks (issue 16 §2): deliveries written with the event, signed, sent in order per
lead, retried with backoff, endpoints turned off after a day of failures, and no request to an
address the endpoint may not reach (server-side request forgery). A real HTTP receiver on loopback
takes the deliveries (its endpoint allows private addresses, as an admin would have to)."""
from __future__ import annotations

import html
import json
import re
import socket
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import DeliveryState, Notification, WebhookDelivery, WebhookEndpoint
from app.services import ServiceError, utcnow, webhooks
from app.services.webhook_requests import Refused, Unreachable, forbidden_address, post
from app.services.webhooks import EndpointInput
from tests.webhook_receiver import Receiver


@pytest.fixture
def app(make_app):
    app = make_app(WEBHOOK_ALLOW_HTTP=True, WEBHOOK_TIMEOUT=1.0, WEBHOOK_RETRY_DELAYS=[10, 60, 300])
    with app.app_context():
        yield app


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(app, admin, receiver):
    return webhooks.create_endpoint(EndpointInput(receiver.url, list(webhooks.EVENTS), "CRM sync",
                                                  allow_private=True), admin.id)


def deliveries(**where) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.id).execution_options(populate_existing=True)
    for name, value in where.items():
        query = query.where(getattr(WebhookDelivery, name) == value)
    return list(db.session.scalars(query))


def send_all(now=None) -> dict:
    """What workers do with every queued row, again while any was sent (a lead's next delivery is
    claimable once the one before it ended); the last outcome of each row (jobs: tests/jobs)."""
    results: dict = {}
    while True:
        db.session.rollback()
        ids = [row.id for row in deliveries(state=DeliveryState.queued.value)]
        round_ = webhooks.deliver(ids, now=now) if ids else {}
        for delivery_id, outcome in round_.items():
            if outcome.outcome != "skipped" or delivery_id not in results:
                results[delivery_id] = outcome
        if not any(outcome.outcome in ("delivered", "failed") for outcome in round_.values()):
            return results


# --- writing deliveries with the event ------------------------------------------------------------


def test_no_endpoint_means_no_delivery_and_no_statement_for_it(app, make_lead, count_queries):
    from sqlalchemy import event
    from app.services.leads import update_lead
    lead = make_lead()
    statements = []

    def note(conn, cursor, statement, *args):
        statements.append(statement)
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        update_lead(lead.id, {"company": "Acme"}, None)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert deliveries() == [] and statements
    assert not [q for q in statements if "webhook" in q.lower()]


def test_a_lead_created_is_delivered_signed_with_the_api_representation(app, endpoint, make_lead, receiver):
    lead = make_lead(first_name="Nora", email="nora@example.com")
    [row] = deliveries()
    assert (row.event, row.lead_id, row.state) == ("lead.created", lead.id, "queued")
    assert send_all() == {row.id: webhooks.Outcome("delivered")}
    [got] = receiver.received
    body = json.loads(got["body"])
    assert body["type"] == "lead.created" and body["id"] == row.event_id
    assert body["data"]["lead"]["id"] == lead.id and body["data"]["lead"]["first_name"] == "Nora"
    from app.api.representation import lead_json
    assert body["data"]["lead"] == json.loads(json.dumps(lead_json(db.session.get(type(lead), lead.id))))
    # The receiver checks the signature as README tells it to: the header, the raw body, the secret.
    header = got["headers"]["Leadboard-Signature"]
    assert webhooks.verify(endpoint.secret, header, got["body"])
    assert not webhooks.verify(endpoint.secret, header, got["body"] + b" ")
    assert not webhooks.verify("whsec_other", header, got["body"])
    assert got["headers"]["Leadboard-Event"] == "lead.created"
    row = deliveries()[0]
    assert (row.state, row.response_status, row.attempts) == ("delivered", 200, 1)
    assert row.response_excerpt == '{"ok": true}' and row.response_ms is not None


def test_a_verification_snippet_like_the_readmes_accepts_our_signature(app, endpoint, make_lead, receiver):
    import hashlib
    import hmac
    make_lead()
    send_all()
    got = receiver.received[0]
    # README "Webhooks", verbatim in spirit: split the header, recompute, compare in constant time.
    fields = dict(part.split("=", 1) for part in got["headers"]["Leadboard-Signature"].split(","))
    expected = hmac.new(endpoint.secret.encode(), fields["t"].encode() + b"." + got["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 60


def test_each_event_writes_one_delivery_per_subscribed_endpoint_in_the_same_transaction(app, admin, member, stages,
                                                                                      receiver, make_lead):
    only_tasks = webhooks.create_endpoint(EndpointInput(receiver.url, ["task.completed"], allow_private=True), admin.id)
    leads_ep = webhooks.create_endpoint(EndpointInput(receiver.url, ["lead.created", "lead.stage_changed",
                                                                     "lead.assigned", "lead.updated"],
                                                      allow_private=True), admin.id)
    from app.services import leads, tasks
    lead = make_lead()
    leads.update_lead(lead.id, {"company": "Acme"}, admin.id)
    leads.move_lead(lead.id, stages["Contacted"].id, None, None, admin.id)
    leads.assign_lead(lead.id, member.id, admin.id)
    task = tasks.create_task(lead.id, admin.id, title="Call back", due_at=utcnow() + timedelta(days=1),
                             owner_id=admin.id)
    tasks.complete_task(task.id, admin.id)
    got = [(row.endpoint_id, row.event) for row in deliveries()]
    assert got == [(leads_ep.id, "lead.created"), (leads_ep.id, "lead.updated"), (leads_ep.id, "lead.stage_changed"),
                   (leads_ep.id, "lead.assigned"), (only_tasks.id, "task.completed")]
    moved = deliveries(event="lead.stage_changed")[0]
    assert moved.data == {"previous_stage_id": stages["New"].id, "stage_id": stages["Contacted"].id}
    # A change that fails leaves no delivery behind.
    with pytest.raises(Exception):
        leads.update_lead(lead.id, {"company": "Other"}, admin.id, expected_version=-5)
    assert len(deliveries()) == 5
    send_all()
    types = [body["type"] for body in receiver.bodies()]
    assert sorted(types) == sorted(event for _, event in got)
    [completed] = [body for body in receiver.bodies() if body["type"] == "task.completed"]
    assert completed["data"]["task"]["id"] == task.id and completed["data"]["task"]["done_at"] is not None


def test_a_disabled_endpoint_gets_nothing_written(app, admin, endpoint, make_lead, receiver):
    webhooks.update_endpoint(endpoint.id, EndpointInput(receiver.url, ["lead.created"], enabled=False,
                                                        allow_private=True))
    make_lead()
    assert deliveries() == []


def test_a_csv_import_batch_writes_its_lead_created_deliveries_set_based(app, endpoint, admin, stages):
    from app.services.capture import NewLeads, prepare
    from app.services import atomic
    batch = NewLeads(via="import", actor_id=admin.id, stage_id=None, owner_id=None, now=utcnow())
    with atomic():
        for n in range(3):
            batch.add(prepare({"first_name": f"Row{n}", "email": f"row{n}@example.com"}))
        written = batch.write()
    rows = deliveries()
    assert sorted(row.lead_id for row in rows) == sorted(lead.id for lead in written)
    assert {row.event for row in rows} == {"lead.created"} and len({row.event_id for row in rows}) == 3


# --- retries, order, health ----------------------------------------------------------------------


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(app, endpoint, make_lead, receiver):
    receiver.statuses = [500, 503]
    make_lead()
    now = utcnow()
    [first] = send_all(now).values()
    assert first.outcome == "retry" and first.retry_at == now + timedelta(seconds=10)
    row = deliveries()[0]
    assert (row.state, row.attempts, row.response_status, row.last_error) == (
        "queued", 1, 500, "The endpoint answered 500.")
    assert webhooks.deliver([row.id], now=now + timedelta(seconds=5))[row.id].outcome == "skipped"  # not due yet
    later = now + timedelta(seconds=11)
    assert webhooks.deliver([row.id], now=later)[row.id] == webhooks.Outcome(
        "retry", later + timedelta(seconds=60), 2)
    assert webhooks.deliver([row.id], now=later + timedelta(seconds=61))[row.id].outcome == "delivered"
    assert len(receiver.received) == 3
    assert len({json.loads(r["body"])["id"] for r in receiver.received}) == 1  # the same event each time
    assert receiver.received[0]["body"] == receiver.received[2]["body"]
    assert db.session.get(WebhookEndpoint, endpoint.id, populate_existing=True).failing_since is None


def test_a_delivery_out_of_attempts_fails_and_can_be_resent(app, endpoint, make_lead, receiver):
    receiver.statuses = [500] * 4
    make_lead()
    now = utcnow()
    for offset in (0, 11, 72, 373):
        db.session.rollback()
        [row] = deliveries()
        webhooks.deliver([row.id], now=now + timedelta(seconds=offset))
    row = deliveries()[0]
    assert (row.state, row.attempts) == ("failed", 4)
    copy = webhooks.resend(endpoint.id, row.id)
    assert (copy.resent_from_id, copy.event_id, copy.body) == (row.id, row.event_id, row.body)
    send_all()
    assert deliveries()[-1].state == "delivered" and receiver.received[-1]["body"] == row.body.encode()


def test_deliveries_of_one_lead_go_in_order_and_wait_behind_a_retry(app, endpoint, make_lead, receiver, stages):
    from app.services import leads
    lead = make_lead()
    other = make_lead(first_name="Other")
    leads.update_lead(lead.id, {"company": "Acme"}, None)
    receiver.statuses = [500]  # the first delivery (lead created) fails once
    now = utcnow()
    results = send_all(now)
    first, other_created, updated = deliveries()
    assert results[first.id].outcome == "retry"
    assert results[updated.id].outcome == "skipped" and updated.state == "queued"  # held back behind it
    assert other_created.state == "delivered"  # another lead does not wait
    assert webhooks.deliver([updated.id], now=now)[updated.id].outcome == "skipped"
    webhooks.deliver([first.id], now=now + timedelta(seconds=11))
    webhooks.deliver([updated.id], now=now + timedelta(seconds=11))
    sent = [(b["type"], b["data"]["lead"]["id"]) for b in receiver.bodies() if b["data"]["lead"]["id"] == lead.id]
    assert sent == [("lead.created", lead.id), ("lead.created", lead.id), ("lead.updated", lead.id)]


def test_an_endpoint_failing_for_a_day_is_turned_off_and_admins_are_told(app, endpoint, admin, member, make_lead,
                                                                       receiver):
    receiver.statuses = [500] * 10
    make_lead()
    start = utcnow()
    send_all(start)
    assert db.session.get(WebhookEndpoint, endpoint.id, populate_existing=True).failing_since == start
    [row] = deliveries()
    webhooks.deliver([row.id], now=start + timedelta(hours=23))
    assert db.session.get(WebhookEndpoint, endpoint.id, populate_existing=True).enabled
    webhooks.deliver([row.id], now=start + timedelta(hours=24, seconds=1))
    ep = db.session.get(WebhookEndpoint, endpoint.id, populate_existing=True)
    assert not ep.enabled and "24 hours" in ep.disabled_reason
    told = list(db.session.scalars(select(Notification.user_id).where(Notification.kind == "webhook_disabled")))
    assert told == [admin.id]
    make_lead(first_name="After")
    assert len(deliveries()) == 1  # nothing more is written for it
    # Turned on again, what waited goes out.
    receiver.statuses = []
    webhooks.update_endpoint(endpoint.id, EndpointInput(receiver.url, list(webhooks.EVENTS), enabled=True,
                                                        allow_private=True))
    webhooks.deliver([row.id], now=start + timedelta(days=2))
    assert deliveries()[0].state == "delivered"


def test_the_sweeper_reclaims_a_delivery_whose_worker_died(app, endpoint, make_lead, receiver):
    make_lead()
    [row] = deliveries()
    now = utcnow()
    db.session.execute(WebhookDelivery.__table__.update().values(state="sending", attempts=1,
                                                                 lease_until=now - timedelta(seconds=1)))
    db.session.commit()
    webhooks.sweep(now)
    row = deliveries()[0]
    assert (row.state, row.attempts) == ("queued", 1) and "stopped" in row.last_error
    send_all(now)
    assert deliveries()[0].state == "delivered" and len(receiver.received) == 1


# --- server-side request forgery, timeouts, bad addresses -----------------------------------------


@pytest.mark.parametrize("url, why", [
    ("https://127.0.0.1/hooks", "loopback"),
    ("https://10.1.2.3/hooks", "private"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[::1]/hooks", "loopback"),
    ("https://localhost/hooks", "resolves to"),
    ("https://0.0.0.0/hooks", "unspecified"),
    ("https://[::ffff:127.0.0.1]/hooks", "loopback"),
])
def test_private_addresses_are_refused_unless_an_admin_allows_them(app, admin, url, why):
    with pytest.raises(ServiceError) as refused:
        webhooks.create_endpoint(EndpointInput(url, ["lead.created"]), admin.id)
    assert refused.value.field == "url" and why in refused.value.message and "public addresses only" in refused.value.message
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_the_address_is_checked_again_at_every_delivery_and_redirect(app, admin, receiver):
    # Saved while allowed, then the admin's allowance withdrawn: the next attempt is refused before connecting.
    with pytest.raises(Refused, match="loopback"):
        post(receiver.url, b"{}", {}, timeout=1, allow_http=True, allow_private=False)
    assert receiver.received == []
    # An allowed internal receiver redirecting to another private host: the redirect is refused
    # (the allowance covers the endpoint's own host only).
    receiver.redirect_to = "http://10.0.0.7/internal"
    with pytest.raises(Refused, match="10.0.0.7 is a private address"):
        post(receiver.url, b"{}", {}, timeout=1, allow_http=True, allow_private=True)
    assert len(receiver.received) == 1
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data"
    with pytest.raises(Refused, match="link-local"):
        post(receiver.url, b"{}", {}, timeout=1, allow_http=True, allow_private=True)
    # Nor another port of the allowed host (the app itself, a database's HTTP port).
    receiver.redirect_to = "http://127.0.0.1:1/admin"
    with pytest.raises(Refused, match="loopback"):
        post(receiver.url, b"{}", {}, timeout=1, allow_http=True, allow_private=True)


def test_endless_redirects_are_refused_and_the_delivery_fails_with_the_reason(app, admin, receiver, make_lead):
    receiver.redirect_to = receiver.url  # to itself, forever
    webhooks.create_endpoint(EndpointInput(receiver.url, ["lead.created"], allow_private=True), admin.id)
    make_lead()
    [result] = send_all().values()
    row = deliveries()[0]
    assert result.outcome == "failed" and row.state == "failed"
    assert "redirected more than 3 times" in row.last_error and len(receiver.received) == 4


def test_a_slow_receiver_times_out_without_holding_the_worker(app, endpoint, make_lead, receiver):
    receiver.delay = 3  # the app allows 1 second
    make_lead()
    started = time.monotonic()
    [result] = send_all().values()
    assert time.monotonic() - started < 2.5
    row = deliveries()[0]
    assert result.outcome == "retry" and "did not answer in time" in row.last_error


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_deadline(app):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
            if stop.is_set():
                break
            try:
                conn.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
        conn.close()
    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(Unreachable, match="in time"):
        post(f"http://127.0.0.1:{listener.getsockname()[1]}/", b"{}", {}, timeout=1, allow_http=True,
             allow_private=True)
    assert time.monotonic() - started < 2
    stop.set()
    listener.close()


def test_plain_http_is_refused_outside_development(make_app, admin_in_production):
    app = admin_in_production
    with pytest.raises(ServiceError, match="https://") as refused:
        webhooks.create_endpoint(EndpointInput("http://hooks.example.com/in", ["lead.created"]), None)
    assert refused.value.field == "url"


@pytest.fixture
def admin_in_production(make_app):
    app = make_app(LEADBOARD_ENV="testing")
    with app.app_context():
        assert app.config["WEBHOOK_ALLOW_HTTP"] is False
        yield app


def test_forbidden_addresses_are_named(app):
    assert forbidden_address("127.0.0.1") == "a loopback address"
    assert forbidden_address("192.168.1.5") == "a private address"
    assert forbidden_address("fe80::1") == "a link-local address"
    assert forbidden_address("224.0.0.1") == "a multicast address"
    assert forbidden_address("100.64.0.1") == "a reserved address"  # carrier-grade NAT
    assert forbidden_address("93.184.215.14") is None
    # an IPv4 address carried inside an IPv6 one (6to4, NAT64, mapped) is judged as that address
    assert forbidden_address("2002:7f00:1::1") == "a loopback address"
    assert forbidden_address("2002:a9fe:a9fe::1") == "a link-local address"
    assert forbidden_address("64:ff9b::a00:1") == "a private address"
    assert forbidden_address("::ffff:10.0.0.1") == "a private address"
    assert forbidden_address("2002:5db8:d70e::1") is None  # 93.184.215.14 inside 6to4


def test_bad_endpoint_input_is_refused_with_a_message_for_the_field(app, admin):
    cases = [(EndpointInput("", ["lead.created"]), "url", "Give the address"),
             (EndpointInput("ftp://example.com/x", ["lead.created"]), "url", "https://"),
             (EndpointInput("https://user:pw@example.com/x", ["lead.created"]), "url", "password"),
             (EndpointInput("https://93.184.215.14/x", []), "events", "at least one event"),
             (EndpointInput("https://93.184.215.14/x", ["lead.exploded"]), "events", "at least one event"),
             (EndpointInput("https://no-such-host.invalid/x", ["lead.created"]), "url", "could not look up the host"),
             (EndpointInput("https://93.184.215.14/a b", ["lead.created"]), "url", "space"),
             (EndpointInput("https://93.184.215.14/a\r\nX-Evil: 1", ["lead.created"]), "url", "line break"),
             (EndpointInput("https://93.184.215.14/a\x00", ["lead.created"]), "url", "control character")]
    for given, field, words in cases:
        with pytest.raises(ServiceError) as refused:
            webhooks.create_endpoint(given, admin.id)
        assert (refused.value.field, words in refused.value.message) == (field, True), refused.value.message
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


# --- the settings pages ---------------------------------------------------------------------------


def test_the_webhooks_pages_show_the_signature_scheme_and_a_snippet_that_accepts_our_deliveries(
        as_admin, app, endpoint, make_lead, receiver):
    """The page, not the README, tells an admin how to check a signature; the snippet it shows, run as
    copied, accepts a real delivery and refuses a changed body, another secret and an old timestamp."""
    import html
    page = as_admin.get("/settings/webhooks").get_data(as_text=True)
    details = re.search(r'<details class="webhook-verify" id="webhook-verify">(.*?)</details>', page, re.S).group(1)
    assert "README" not in page
    assert "<code>Leadboard-Signature</code>" in details and "<code>t=&lt;unix seconds&gt;,v1=&lt;hex&gt;</code>" in details
    assert "HMAC-SHA256" in details and "raw request body" in details
    code = re.compile(r'<pre class="code-snippet"[^>]*><code>(.*?)</code></pre>', re.S)
    snippet = html.unescape(code.search(details).group(1))
    endpoint_page = as_admin.get(f"/settings/webhooks/{endpoint.id}").get_data(as_text=True)
    assert code.findall(endpoint_page) == code.findall(page)  # the endpoint's page, beside its secret, too
    copied: dict = {}
    exec(compile(snippet, "snippet", "exec"), copied)
    verify = copied["verify"]
    make_lead()
    send_all()
    got = receiver.received[0]
    header = got["headers"]["Leadboard-Signature"]
    assert verify(endpoint.secret, header, got["body"]) is True
    assert verify(endpoint.secret, header, got["body"] + b" ") is False
    assert verify("whsec_other", header, got["body"]) is False
    assert verify(endpoint.secret, webhooks.sign(endpoint.secret, int(time.time()) - 600, got["body"]), got["body"]) is False
    assert verify(endpoint.secret, "garbage", got["body"]) is False


def test_an_admin_adds_an_endpoint_sends_a_test_event_and_reads_the_log(as_admin, app, admin, receiver):
    page = as_admin.get("/settings/webhooks").get_data(as_text=True)
    assert "No endpoints yet" in page and 'href="/settings/webhooks"' in page  # in the settings menu
    response = as_admin.post("/settings/webhooks", {"url": receiver.url, "description": "CRM sync",
                                                    "events": ["lead.created", "task.completed"], "enabled": "y",
                                                    "allow_private": "y"})
    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/settings/webhooks/{endpoint.id}")
    assert (endpoint.url, endpoint.event_list, endpoint.enabled, endpoint.allow_private, endpoint.created_by_id) == (
        receiver.url, ["lead.created", "task.completed"], True, True, admin.id)
    page = as_admin.get(f"/settings/webhooks/{endpoint.id}")
    text = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store" and endpoint.secret in text and "Nothing sent yet" in text
    as_admin.post(f"/settings/webhooks/{endpoint.id}/test")
    [row] = deliveries()
    assert row.event == webhooks.TEST_EVENT and row.lead_id is None
    send_all()
    assert receiver.bodies()[0]["type"] == "webhook.test"
    assert webhooks.verify(endpoint.secret, receiver.received[0]["headers"]["Leadboard-Signature"],
                           receiver.received[0]["body"])
    text = as_admin.get(f"/settings/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "Delivered" in text and "HTTP 200 in" in text
    as_admin.post(f"/settings/webhooks/{endpoint.id}/deliveries/{row.id}/resend")
    resent = deliveries()[-1]
    assert (resent.resent_from_id, resent.state, resent.body) == (row.id, "queued", row.body)
    old_secret = endpoint.secret
    as_admin.post(f"/settings/webhooks/{endpoint.id}/secret")
    assert db.session.get(WebhookEndpoint, endpoint.id, populate_existing=True).secret not in (old_secret, None)


def test_a_bad_address_is_refused_beside_the_field_and_nothing_is_saved(as_admin, app):
    for url, words in (("https://10.0.0.1/hooks", "10.0.0.1 is a private address"),
                       ("https://localhost/hooks", "resolves to"),
                       ("https://169.254.169.254/", "link-local")):
        response = as_admin.post("/settings/webhooks", {"url": url, "events": ["lead.created"], "enabled": "y"})
        text = response.get_data(as_text=True)
        assert response.status_code == 422 and words in text and 'id="url-error"' in text, url
    response = as_admin.post("/settings/webhooks", {"url": "https://93.184.215.14/x", "enabled": "y"})
    assert response.status_code == 422 and "Pick at least one event" in response.get_data(as_text=True)
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_a_member_cannot_see_or_change_webhooks(as_member, app, admin):
    ep = webhooks.create_endpoint(EndpointInput("https://93.184.215.14/hooks", ["lead.created"]), admin.id)
    for method, url in (("get", "/settings/webhooks"), ("get", f"/settings/webhooks/{ep.id}"),
                        ("post", f"/settings/webhooks/{ep.id}/delete")):
        response = getattr(as_member, method)(url)
        assert response.status_code == 403 and "Webhooks are for admins" in response.get_data(as_text=True)
        assert ep.secret not in response.get_data(as_text=True)
    assert db.session.get(WebhookEndpoint, ep.id) is not None


def test_the_delivery_log_is_bounded_and_pages_back(as_admin, app, admin):
    ep = webhooks.create_endpoint(EndpointInput("https://93.184.215.14/hooks", ["lead.created"]), admin.id)
    for _ in range(webhooks.LOG_PAGE + 3):
        webhooks.send_test(ep.id)
    text = as_admin.get(f"/settings/webhooks/{ep.id}").get_data(as_text=True)
    assert len(re.findall(r'id="delivery-\d+"', text)) == webhooks.LOG_PAGE and "Older deliveries" in text
    ids = [row.id for row in deliveries()]
    older = as_admin.get(f"/settings/webhooks/{ep.id}?before={ids[3]}").get_data(as_text=True)
    assert len(re.findall(r'id="delivery-\d+"', older)) == 3 and "Older deliveries" not in older


def test_sending_keeps_every_processs_settings_cache_and_saving_an_endpoint_renews_it(app, endpoint, make_lead,
                                                                                      receiver):
    from app.models import SettingsVersion
    def token():
        db.session.rollback()
        return db.session.get(SettingsVersion, 1, populate_existing=True).token
    make_lead()
    before = token()
    receiver.statuses = [500]
    send_all(utcnow())  # a failure notes the endpoint failing: health, not a setting
    send_all(utcnow() + timedelta(seconds=11))  # and a success clears it
    assert deliveries()[0].state == "delivered" and token() == before
    webhooks.update_endpoint(endpoint.id, EndpointInput(receiver.url, ["task.completed"], allow_private=True))
    assert token() != before
    make_lead(first_name="Unwanted")  # the endpoint no longer wants lead.created: seen at once
    assert len(deliveries()) == 1


def test_appointment_answers_and_a_rule_assignment_are_delivered_with_what_they_are_about(
        app, admin, member, endpoint, make_lead, receiver):
    from datetime import datetime, timezone
    from app.services import appointments, assignment, capture
    from app.services.appointment_emails import link_token
    lead = make_lead(email="lena@example.com")
    booked = appointments.book_appointment(lead.id, member.id, duration_minutes=30,
                                           starts_at=datetime.now(timezone.utc) + timedelta(days=2))
    appointments.answer(link_token(booked, "confirm"), "confirm")
    appointments.cancel_appointment(booked.id, member.id)
    assignment.save_rule(None, name="All to Max", condition={}, target="person", user_id=member.id)
    routed = capture.capture_lead({"first_name": "Rita", "email": "rita@example.com"}, via="api").lead
    got = [(row.event, row.lead_id, row.subject_id, row.data) for row in deliveries()[1:]]
    assert got[0][:2] == ("lead.stage_changed", lead.id)  # booking moved it to the booked stage
    assert got[1:] == [("appointment.confirmed", lead.id, booked.id, {"by": "prospect"}),
                   ("appointment.cancelled", lead.id, booked.id, {"by": "team"}),
                   ("lead.created", routed.id, None, {"way": "hand"}),
                   ("lead.assigned", routed.id, None, {"previous_owner_id": None, "owner_id": member.id})]
    send_all()
    confirmed = next(b for b in receiver.bodies() if b["type"] == "appointment.confirmed")
    assert confirmed["data"]["appointment"]["id"] == booked.id and confirmed["data"]["lead"]["id"] == lead.id


def test_removing_an_endpoint_removes_its_log(as_admin, app, endpoint, make_lead):
    make_lead()
    assert len(deliveries()) == 1
    response = as_admin.post(f"/settings/webhooks/{endpoint.id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/webhooks")
    assert db.session.scalars(select(WebhookEndpoint)).all() == [] and deliveries() == []


def test_deleting_a_stage_tells_of_each_lead_it_moves(app, admin, endpoint, stages, make_lead):
    from app.services.stages import delete_stage
    moved = [make_lead(stage="Qualified", first_name=f"Q{n}") for n in range(3)]
    delete_stage(stages["Qualified"].id, stages["Contacted"].id, admin.id)
    rows = deliveries(event="lead.stage_changed")
    assert sorted(row.lead_id for row in rows) == sorted(lead.id for lead in moved)
    assert rows[0].data == {"previous_stage_id": stages["Qualified"].id, "stage_id": stages["Contacted"].id,
                            "reason": "stage deleted"}


def test_a_capture_that_fills_a_known_lead_is_an_update(app, endpoint, make_lead):
    from app.services import capture
    lead = make_lead(email="known@example.com")
    capture.capture_lead({"email": "known@example.com", "company": "Acme"}, via="api")
    capture.capture_lead({"email": "known@example.com", "company": "Acme"}, via="api")  # nothing new: no event
    assert [(row.event, row.lead_id, row.data) for row in deliveries()[1:]] == [
        ("lead.updated", lead.id, {"changed": ["company"], "custom_fields_changed": False})]


def test_a_host_dns_cannot_find_at_send_time_is_tried_again_but_a_private_one_fails_at_once(app, endpoint, make_lead):
    make_lead()
    [row] = deliveries()
    db.session.execute(WebhookEndpoint.__table__.update().values(url="https://no-such-host.invalid/hooks"))
    db.session.commit()
    [result] = send_all().values()
    assert result.outcome == "retry" and "could not look up the host" in deliveries()[0].last_error
    db.session.execute(WebhookEndpoint.__table__.update().values(url="https://10.9.8.7/hooks", allow_private=False))
    db.session.commit()
    [result] = webhooks.deliver([row.id], now=utcnow() + timedelta(seconds=11)).values()
    assert result.outcome == "failed" and "10.9.8.7 is a private address" in deliveries()[0].last_error


def test_a_receiver_answering_with_nul_and_control_bytes_is_recorded_readably(app, endpoint, make_lead, receiver):
    receiver.payload = b"ok\x00\x01 done\nnext line"
    make_lead()
    [result] = send_all().values()
    [row] = deliveries()
    assert result.outcome == "delivered" and row.state == "delivered"
    assert row.response_excerpt == "ok\ufffd\ufffd done\nnext line"


def test_the_edit_form_shows_the_saved_events_and_saving_it_unchanged_keeps_them(as_admin, app, admin):
    ep = webhooks.create_endpoint(EndpointInput("https://93.184.215.14/hooks", ["lead.created", "task.completed"]),
                                  admin.id)
    text = as_admin.get(f"/settings/webhooks/{ep.id}").get_data(as_text=True)
    ticked = set(re.findall(r'<input type="checkbox" name="events" id="[^"]+" value="([^"]+)" checked', text))
    assert ticked == {"lead.created", "task.completed"}
    response = as_admin.post(f"/settings/webhooks/{ep.id}", {"url": ep.url, "description": "",
                                                            "events": sorted(ticked), "enabled": "y"})
    assert response.status_code == 302
    assert db.session.get(WebhookEndpoint, ep.id, populate_existing=True).event_list == ["lead.created",
                                                                                          "task.completed"]


def test_every_change_to_an_endpoint_is_in_the_audit_log(as_admin, app, admin):
    from app.models import AuditEntry
    as_admin.post("/settings/webhooks", {"url": "https://93.184.215.14/hooks", "events": ["lead.created"],
                                         "enabled": "y"})
    [ep] = db.session.scalars(select(WebhookEndpoint)).all()
    ep_id, url, first_secret = ep.id, ep.url, ep.secret
    as_admin.post(f"/settings/webhooks/{ep_id}", {"url": url, "events": ["task.completed"]})
    as_admin.post(f"/settings/webhooks/{ep_id}/secret")
    as_admin.post(f"/settings/webhooks/{ep_id}/delete")
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor_id, e.target) for e in entries] == [
        ("webhook.added", admin.id, url), ("webhook.changed", admin.id, url),
        ("webhook.secret_rotated", admin.id, url), ("webhook.deleted", admin.id, url)]
    assert entries[1].details == {"events": ["task.completed"], "on": False, "allow_private": False}
    assert first_secret not in str([e.details for e in entries])


def test_a_refused_connection_is_explained_in_words(app):
    with socket.socket() as probe:  # a free port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(Unreachable) as failed:
        post(f"http://127.0.0.1:{port}/hooks", b"{}", {}, timeout=1, allow_http=True, allow_private=True)
    assert str(failed.value) == "The endpoint refused the connection: nothing is listening at that address and port."


def test_the_webhooks_page_explains_deliveries_from_the_workers_own_settings(app, as_admin):
    """The retry schedule, the deadline, the dedupe advice and the body's shape (issue 16), read from
    what the worker uses: this app retries after 10 s, 1 min and 5 min and waits 1 s for an answer."""
    body = as_admin.get("/settings/webhooks").get_data(as_text=True)
    section = re.search(r'<section[^>]*id="webhook-deliveries".*?</section>', body, re.S).group(0)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", section))
    assert "How deliveries work" in text
    assert "Answer with a 2xx status within 1 second." in text
    assert "tried again after 10 seconds, 1 minute and 5 minutes: 4 attempts over about 6 minutes." in text
    assert "Deduplicate on the event id." in text and "Leadboard-Event-Id header and the body's id" in text
    assert "failed for 24 hours, it is turned off" in text
    example = json.loads(html.unescape(re.search(r'aria-label="An example delivery body"><code>(.*?)</code>',
                                                 section, re.S).group(1)))
    assert list(example) == ["id", "type", "created_at", "data"] and example["type"] == "lead.stage_changed"
    rules = webhooks.delivery_rules()
    assert (rules.retry_delays, rules.attempts, rules.timeout_seconds) == ([10, 60, 300], 4, 1.0)


def test_a_retry_schedule_reads_in_words():
    from app.settings.webhooks import span
    assert [span(s) for s in (1, 30, 60, 120, 3600, 57600, 78150, 90)] == [
        "1 second", "30 seconds", "1 minute", "2 minutes", "1 hour", "16 hours", "about 22 hours", "about 2 minutes"]


def test_a_redirect_past_the_allowance_says_the_allowance_covers_the_endpoint_only(app, admin, receiver):
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data"
    with pytest.raises(Refused) as refused:
        post(receiver.url, b"{}", {}, timeout=1, allow_http=True, allow_private=True)
    assert "covers its own host and port only" in str(refused.value)
    assert "unless an admin allows" not in str(refused.value)


def test_a_receiver_trickling_a_closing_answer_is_cut_off_at_the_deadline(app):
    """HTTP/1.0 (the connection closes after the answer): http.client hands the socket to the
    response and forgets it, so the watchdog keeps its own hold on it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def serve():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b"x")
            except OSError:
                break
            time.sleep(0.2)
        conn.close()
    threading.Thread(target=serve, daemon=True).start()
    started = time.monotonic()
    try:  # its status came in time; the body, read for the log, is cut off where the deadline fell
        answer = post(f"http://127.0.0.1:{listener.getsockname()[1]}/trickle", b"{}", {}, timeout=1,
                      allow_http=True, allow_private=True)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 3
    assert answer.status == 200 and 0 < len(answer.excerpt) < 100
