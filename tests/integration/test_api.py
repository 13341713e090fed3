"""The JSON API at /api/v1, on a real database: what it stores, what it answers, what it refuses."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from flask import has_app_context
from sqlalchemy import func, select

from app.extensions import db
from app.models import IdempotencyRecord, Lead, TimelineEntry
from app.services import utcnow
from app.services.api_keys import create_key, request_fingerprint, revoke_key

PROBLEM = "application/problem+json"


class Api:
    """A test client that sends a bearer key; each request gets its own app context, as in a server."""

    def __init__(self, app, secret: str | None):
        self.app, self.client, self.secret = app, app.test_client(), secret

    def request(self, method: str, url: str, *, json_body=None, headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        if self.secret is not None:
            headers.setdefault("Authorization", f"Bearer {self.secret}")
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        with self.app.app_context():
            response = self.client.open(f"/api/v1{url}", method=method, headers=headers, **kwargs)
        if has_app_context():
            db.session.expire_all()
        return response

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, body=None, **kwargs):
        return self.request("POST", url, json_body=body, **kwargs)

    def patch(self, url: str, body=None, **kwargs):
        return self.request("PATCH", url, json_body=body, **kwargs)


@pytest.fixture
def secret(app):
    return create_key("Website")[1]


@pytest.fixture
def api(app, stages, secret):
    return Api(app, secret)


def lead_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Lead))


def entries(lead_id: int, kind: str | None = None) -> list[TimelineEntry]:
    query = select(TimelineEntry).where(TimelineEntry.lead_id == lead_id).order_by(TimelineEntry.id)
    if kind:
        query = query.where(TimelineEntry.kind == kind)
    return list(db.session.scalars(query))


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def error_fields(body: dict) -> set[str]:
    return {error["field"] for error in body["errors"]}


# --- creating -------------------------------------------------------------------------------------


def test_creating_a_lead_stores_it_normalised_with_a_created_entry_naming_the_api(api, stages):
    response = api.post("/leads", {"first_name": " Ada ", "last_name": "Lovelace", "email": " Ada@Example.COM ",
                                   "phone": "(415) 555-0123", "company": "Engines", "value": 2500.5,
                                   "stage_id": stages["Contacted"].id, "utm_source": "newsletter",
                                   "utm_campaign": "spring"})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    lead = db.session.get(Lead, body["id"])
    assert response.headers["Location"] == f"/api/v1/leads/{lead.id}"
    assert (lead.first_name, lead.email, lead.phone) == ("Ada", "ada@example.com", "+14155550123")
    assert (lead.stage_id, str(lead.value), lead.source) == (stages["Contacted"].id, "2500.50", "API")
    assert (lead.utm_source, lead.utm_campaign, lead.owner_id) == ("newsletter", "spring", None)
    assert body["email"] == "ada@example.com" and body["value"] == 2500.5 and body["source"] == "API"
    assert body["created_at"].endswith("Z") and body["stage_id"] == stages["Contacted"].id
    assert "matched_on" not in body
    [created] = entries(lead.id)
    assert created.kind == "created" and created.data["via"] == "API key Website"
    assert created.data["stage"] == "Contacted"


def test_a_lead_created_without_a_stage_lands_in_the_first_stage_with_an_owner_if_given(api, stages, member):
    response = api.post("/leads", {"email": "grace@example.com", "owner_id": member.id, "source": "webinar"})
    assert response.status_code == 201
    lead = db.session.get(Lead, response.get_json()["id"])
    assert (lead.stage_id, lead.owner_id, lead.source) == (stages["New"].id, member.id, "webinar")


def test_creating_someone_who_is_already_a_lead_answers_200_with_that_lead(api, make_lead):
    existing = make_lead(first_name="Ada", email="ada@example.com", company=None)
    response = api.post("/leads", {"email": "ADA@example.com", "company": "Engines", "first_name": "Augusta"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == existing.id and body["matched_on"] == "email"
    assert response.headers["Leadboard-Duplicate"] == "email" and "Location" not in response.headers
    assert lead_count() == 1
    db.session.refresh(existing)
    assert (existing.company, existing.first_name) == ("Engines", "Ada")  # empty field filled, name kept
    [again] = entries(existing.id, "resubmitted")
    assert again.data["via"] == "API key Website" and again.data["matched_on"] == "email"
    assert again.data["changes"] == {"company": [None, "Engines"], "source": [None, "API"]}


def test_a_matching_phone_number_is_a_duplicate_too(api, make_lead):
    existing = make_lead(phone="+14155550123")  # Lena Lead; with another name it is another person (test_identity)
    response = api.post("/leads", {"first_name": "Lena", "phone": "415-555-0123"})
    assert response.status_code == 200 and response.get_json()["id"] == existing.id
    assert response.get_json()["matched_on"] == "phone" and lead_count() == 1



def test_the_lead_page_shows_the_api_key_the_lead_came_in_through(api, web, admin):
    lead_id = api.post("/leads", {"first_name": "Ada", "email": "ada@example.com"}).get_json()["id"]
    api.patch(f"/leads/{lead_id}", {"job_title": "CTO"})
    web.login(admin)
    page = web.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert "Added via API key Website in New." in page and "CTO" in page

# --- idempotency ----------------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer_without_a_second_lead(api):
    body = {"first_name": "Ada", "email": "ada@example.com"}
    first = api.post("/leads", body, headers={"Idempotency-Key": "order-1"})
    # The same JSON object spaced and ordered differently is the same request.
    retry = api.request("POST", "/leads", data='{ "email": "ada@example.com",  "first_name": "Ada" }',
                        headers={"Idempotency-Key": "order-1", "Content-Type": "application/json"})
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.get_json() == first.get_json() and retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert lead_count() == 1
    lead_id = first.get_json()["id"]
    assert [e.kind for e in entries(lead_id)] == ["created"]  # the retry did not even count as a resubmission
    record = db.session.scalar(select(IdempotencyRecord))
    assert (record.key, record.status_code, record.response["id"]) == ("order-1", 201, lead_id)


def test_the_same_idempotency_key_with_a_different_body_is_refused(api):
    assert api.post("/leads", {"email": "ada@example.com"}, headers={"Idempotency-Key": "k1"}).status_code == 201
    response = api.post("/leads", {"email": "grace@example.com"}, headers={"Idempotency-Key": "k1"})
    body = problem(response, 422)
    assert body["type"] == "urn:leadboard:problem:idempotency-key-reused"
    assert error_fields(body) == {"Idempotency-Key"}
    assert lead_count() == 1


def test_idempotency_keys_belong_to_one_api_key(api, app):
    other = Api(app, create_key("Zapier")[1])
    first = api.post("/leads", {"email": "ada@example.com"}, headers={"Idempotency-Key": "same"})
    second = other.post("/leads", {"email": "grace@example.com"}, headers={"Idempotency-Key": "same"})
    assert (first.status_code, second.status_code) == (201, 201) and lead_count() == 2


def test_an_invalid_request_is_not_remembered_so_the_key_can_be_reused_once_corrected(api):
    bad = api.post("/leads", {"email": "not an email"}, headers={"Idempotency-Key": "k2"})
    assert problem(bad, 422)["errors"][0]["field"] == "email"
    good = api.post("/leads", {"email": "ada@example.com"}, headers={"Idempotency-Key": "k2"})
    assert good.status_code == 201 and lead_count() == 1


def test_a_retry_while_the_first_request_still_holds_the_key_is_told_to_wait(api):
    from app.models import ApiKey
    from app.services.api_keys import claim_idempotency_key
    body = {"email": "ada@example.com"}
    key_id = db.session.scalar(select(ApiKey.id))
    claim = claim_idempotency_key(key_id, "k3", _fingerprint(body))  # as the first request does before capturing
    response = api.post("/leads", body, headers={"Idempotency-Key": "k3"})
    assert problem(response, 409)["type"] == "urn:leadboard:problem:idempotency-key-in-progress"
    assert response.headers["Retry-After"] == "1" and lead_count() == 0
    # A claim abandoned by a crashed request is taken over once it is a minute old.
    assert claim_idempotency_key(key_id, "k3", _fingerprint(body), now=utcnow() + timedelta(minutes=2)) == claim


def _fingerprint(body: dict) -> str:
    return request_fingerprint("POST", "/api/v1/leads", body)


def test_concurrent_requests_with_one_idempotency_key_create_exactly_one_lead(api, app):
    results, barrier = [], threading.Barrier(6)

    def send():
        client = Api(app, api.secret)
        barrier.wait()
        response = client.post("/leads", {"first_name": "Only", "last_name": "Once"},
                               headers={"Idempotency-Key": "burst"})
        results.append((response.status_code, response.get_json(force=True)))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert lead_count() == 1  # no email or phone to match on: only the key prevents twins
    statuses = sorted(status for status, _ in results)
    assert set(statuses) <= {201, 409} and 201 in statuses, results
    created = [body for status, body in results if status == 201]
    assert all(body == created[0] for body in created)
    assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


@pytest.mark.parametrize("sent, stored", [("2500", "2500.00"), ("2,500.50", "2500.50"), ("1,234,567.891", "1234567.89")])
def test_a_deal_value_may_come_as_a_numeric_string_as_the_form_takes_it(api, sent, stored):
    created = api.post("/leads", {"first_name": "Ada", "value": sent})
    assert created.status_code == 201, created.get_data(as_text=True)
    lead = db.session.get(Lead, created.get_json()["id"])
    assert str(lead.value) == stored and created.get_json()["value"] == float(stored)
    changed = api.patch(f"/leads/{lead.id}", {"value": "4,000"})
    assert changed.status_code == 200 and changed.get_json()["value"] == 4000


def test_a_deal_value_string_that_is_not_a_number_is_a_422_naming_the_field(api):
    result = problem(api.post("/leads", {"first_name": "Ada", "value": "about 2500"}), 422)
    [error] = [e for e in result["errors"] if e["field"] == "value"]
    assert "must be a number" in error["message"] and lead_count() == 0


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body, field", [
    ({"email": "not-an-email"}, "email"),
    ({"first_name": "Ada", "phone": "12"}, "phone"),
    ({"first_name": "Ada", "value": -5}, "value"),
    ({"first_name": "Ada", "value": "2.500,50"}, "value"),
    ({"first_name": "Ada", "value": "-5"}, "value"),
    ({"first_name": "Ada", "value": "1e3"}, "value"),
    ({"first_name": "Ada", "value": "10000000000000"}, "value"),
    ({"first_name": "Ada", "value": True}, "value"),
    ({"first_name": "Ada", "value": 10**13}, "value"),
    ({"first_name": "A" * 101}, "first_name"),
    ({"first_name": 42}, "first_name"),
    ({"first_name": "Ada\u0000"}, "first_name"),
    ({"first_name": "Ada", "company": "C" * 201}, "company"),
    ({"first_name": "Ada", "utm_source": "u" * 101}, "utm_source"),
    ({"first_name": "Ada", "stage_id": 999999}, "stage_id"),
    ({"first_name": "Ada", "stage_id": "2"}, "stage_id"),
    ({"first_name": "Ada", "stage_id": True}, "stage_id"),
    ({"first_name": "Ada", "owner_id": 999999}, "owner_id"),
    ({"first_name": "Ada", "owner_id": 2**40}, "owner_id"),
    ({"first_name": "Ada", "favourite_colour": "blue"}, "favourite_colour"),
    ({"first_name": "Ada", "id": 7}, "id"),
    ({"job_title": "Only a job title", "city": "Berlin"}, "email"),
    ({"first_name": " ", "last_name": ""}, "email"),
])
def test_each_bad_field_gets_a_422_naming_it_and_nothing_is_saved(api, body, field):
    result = problem(api.post("/leads", body), 422)
    assert result["type"] == "urn:leadboard:problem:validation"
    assert field in error_fields(result)
    assert all(error["message"] for error in result["errors"])
    assert lead_count() == 0


def test_every_bad_field_is_listed_at_once(api):
    result = problem(api.post("/leads", {"first_name": 1, "value": "x", "nickname": "A", "owner_id": 0}), 422)
    assert error_fields(result) == {"first_name", "value", "nickname", "owner_id"}
    assert "nickname" in result["detail"]


def test_an_inactive_teammate_cannot_be_given_a_lead(api, make_user):
    from app.services.users import set_active
    gone = make_user("member")
    set_active(gone.id, False)
    assert error_fields(problem(api.post("/leads", {"first_name": "Ada", "owner_id": gone.id}), 422)) == {"owner_id"}


@pytest.mark.parametrize("data, content_type, status", [
    ('{"first_name": "Ada"', "application/json", 400),
    ("", "application/json", 400),
    ("[1, 2]", "application/json", 422),
    ('"just a string"', "application/json", 422),
    ('{"value": NaN, "first_name": "Ada"}', "application/json", 400),
    ("[" * 100_000 + "]" * 100_000, "application/json", 413),
    ("[" * 30_000 + "]" * 30_000, "application/json", 400),
    ("first_name=Ada", "application/x-www-form-urlencoded", 415),
    ('{"first_name": "Ada"}', "text/plain", 415),
    ('{"first_name": "Ada"}', None, 415),
    ('{"first_name": "' + "A" * 70_000 + '"}', "application/json", 413),
])
def test_a_body_that_is_not_a_small_json_object_gets_a_clear_problem(api, data, content_type, status):
    headers = {"Content-Type": content_type} if content_type else {}
    body = problem(api.request("POST", "/leads", data=data, headers=headers), status)
    assert body["detail"]
    assert lead_count() == 0


def test_an_idempotency_key_that_is_not_printable_ascii_is_refused(api):
    for key in ("", " ", "x" * 256, "caf\u00e9".encode().decode("latin-1")):
        response = api.post("/leads", {"email": "ada@example.com"}, headers={"Idempotency-Key": key})
        assert error_fields(problem(response, 422)) == {"Idempotency-Key"}, key
    assert lead_count() == 0


# --- authentication and rate limits -----------------------------------------------------------------


@pytest.mark.parametrize("method, url", [("get", "/leads"), ("get", "/leads/1"), ("post", "/leads"),
                                         ("patch", "/leads/1"), ("get", "/stages")])
def test_a_missing_key_gets_401_with_a_bearer_challenge(app, stages, method, url):
    response = getattr(Api(app, None), method)(url)
    body = problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in body["detail"]


@pytest.mark.parametrize("header", ["Bearer lb_not-a-real-key", "Bearer ", "Basic dXNlcjpwYXNz", "lb_x",
                                    "Bearer " + "x" * 5000])
def test_a_wrong_key_gets_401(app, stages, secret, header):
    response = Api(app, None).get("/stages", headers={"Authorization": header})
    problem(response, 401)


def test_a_revoked_key_stops_working_at_once(api, app):
    from app.models import ApiKey
    assert api.get("/stages").status_code == 200
    revoke_key(db.session.scalar(select(ApiKey)).id)
    response = api.post("/leads", {"email": "ada@example.com"})
    assert "revoked" in problem(response, 401)["detail"]
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert lead_count() == 0


def test_using_a_key_records_when_it_was_last_used(api, app):
    from app.models import ApiKey
    key = db.session.scalar(select(ApiKey))
    assert key.last_used_at is None
    api.get("/stages")
    db.session.refresh(key)
    assert key.last_used_at is not None and utcnow() - key.last_used_at < timedelta(minutes=1)


def test_each_key_has_its_own_rate_limit(make_app):
    app = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute")
    with app.app_context():
        from app.services.stages import ensure_default_pipeline
        ensure_default_pipeline()
        busy, calm = Api(app, create_key("Busy")[1]), Api(app, create_key("Calm")[1])
        answers = [busy.get("/stages").status_code for _ in range(3)]
        assert answers == [200, 200, 200]
        refused = busy.post("/leads", {"email": "ada@example.com"})
        body = problem(refused, 429)
        assert "Too many requests" in body["detail"] and int(refused.headers["Retry-After"]) > 0
        assert refused.headers["X-RateLimit-Limit"] == "3"
        assert lead_count() == 0
        assert calm.get("/stages").status_code == 200  # another key is not held back


# --- reading --------------------------------------------------------------------------------------


def test_reading_one_lead_returns_every_documented_field(api, make_lead, stages):
    lead = make_lead(first_name="Ada", email="ada@example.com", value="10.5", expected_close_on="2031-02-28")
    body = api.get(f"/leads/{lead.id}").get_json()
    assert body["expected_close_on"] == "2031-02-28"
    assert set(body) == {"id", "first_name", "last_name", "email", "phone", "company", "job_title", "source", "value",
                         "country", "region", "street", "city", "postal_code", "website", "description", "expected_close_on", "stage_id", "owner_id", "utm_source",
                         "utm_medium", "utm_campaign", "tags", "created_at", "updated_at", "score", "score_band", "score_reasons", "custom_fields",
                         "closed_on", "lost_reason", "lost_note"}
    assert (body["id"], body["first_name"], body["value"], body["stage_id"]) == (lead.id, "Ada", 10.5, stages["New"].id)
    assert (body["score"], body["score_band"], body["score_reasons"]) == (0, "Cold", [])


@pytest.mark.parametrize("url", ["/leads/999", "/leads/0", "/leads/99999999999999999999999"])
def test_an_unknown_lead_is_a_404_problem(api, url):
    assert "does not exist" in problem(api.get(url), 404)["detail"]


def test_cursor_pagination_walks_every_lead_exactly_once_in_id_order(api, make_lead):
    ids = [make_lead(first_name=f"Lead{n}").id for n in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        response = api.get("/leads", query_string={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        page = response.get_json()
        seen += [lead["id"] for lead in page["data"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        make_lead(first_name="Added while walking")  # arrives after the walk started; ends up on the last page
        cursor = page["next_cursor"]
    assert pages == 3 and seen[:7] == ids and len(seen) == len(set(seen)) == lead_count()


def test_listing_filters_by_search_stage_owner_source_email_and_update_time(api, make_lead, stages, member):
    ada = make_lead(first_name="Ada", email="ada@example.com", source="webinar", owner=member)
    grace = make_lead(stage="Won", first_name="Grace", company="Navy")
    later = utcnow() + timedelta(seconds=1)

    def ids(**query):
        response = api.get("/leads", query_string=query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [lead["id"] for lead in response.get_json()["data"]]

    assert ids(q="navy") == [grace.id]
    assert ids(stage_id=stages["Won"].id) == [grace.id]
    assert ids(owner_id="none") == [grace.id]
    assert ids(owner_id=member.id) == [ada.id]
    assert ids(source="webinar") == [ada.id]
    assert ids(email="ADA@example.com") == [ada.id]
    assert ids(updated_since="2000-01-01T00:00:00Z") == [ada.id, grace.id]
    assert ids(updated_since=later.isoformat() + "Z") == []
    assert ids(updated_since=(later - timedelta(days=1)).isoformat() + "+02:00") == [ada.id, grace.id]


@pytest.mark.parametrize("query, field", [
    ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"limit": "ten"}, "limit"),
    ({"stage_id": "abc"}, "stage_id"), ({"stage_id": -1}, "stage_id"), ({"owner_id": "me"}, "owner_id"),
    ({"updated_since": "yesterday"}, "updated_since"), ({"cursor": "forged"}, "cursor"),
    ({"stage": 1}, "stage"), ({"q": "x" * 201}, "q"), ({"q": "a\x00b"}, "q"),
])
def test_a_bad_list_parameter_gets_a_422_naming_it(api, query, field):
    assert field in error_fields(problem(api.get("/leads", query_string=query), 422))


def test_listing_stages_returns_the_pipeline_in_order(api, stages):
    body = api.get("/stages").get_json()
    assert [stage["name"] for stage in body["data"]] == ["New", "Contacted", "Qualified", "Appointment set", "Won",
                                                         "Lost"]
    assert body["data"][4] == {"id": stages["Won"].id, "name": "Won", "colour": "#16a34a", "kind": "won",
                               "position": stages["Won"].position}


# --- updating -------------------------------------------------------------------------------------


def test_updating_a_lead_records_each_change_on_its_timeline(api, make_lead, stages, member):
    lead = make_lead(first_name="Ada", email="ada@example.com")
    response = api.patch(f"/leads/{lead.id}", {"job_title": "CTO", "value": 4000, "email": "ADA@engines.example",
                                               "stage_id": stages["Qualified"].id, "owner_id": member.id})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["job_title"], body["value"], body["email"]) == ("CTO", 4000, "ada@engines.example")
    assert (body["stage_id"], body["owner_id"]) == (stages["Qualified"].id, member.id)
    db.session.refresh(lead)
    assert (lead.job_title, lead.stage_id, lead.owner_id) == ("CTO", stages["Qualified"].id, member.id)
    kinds = {entry.kind: entry.data for entry in entries(lead.id)}
    assert kinds["updated"]["changes"] == {"job_title": [None, "CTO"], "value": [None, "4000.00"],
                                           "email": ["ada@example.com", "ada@engines.example"]}
    assert kinds["stage_changed"] == {"from": "New", "to": "Qualified"}
    assert kinds["assigned"] == {"from": None, "to": member.name}


def test_an_update_that_changes_nothing_records_nothing(api, make_lead):
    lead = make_lead(first_name="Ada")
    assert api.patch(f"/leads/{lead.id}", {"first_name": "Ada"}).status_code == 200
    assert api.patch(f"/leads/{lead.id}", {}).status_code == 200
    assert [entry.kind for entry in entries(lead.id)] == ["created"]


def test_clearing_a_first_name_is_fine_while_the_lead_keeps_a_last_name(api, make_lead):
    lead = make_lead(first_name="Ada", last_name="Lovelace")
    assert api.patch(f"/leads/{lead.id}", {"first_name": None}).get_json()["first_name"] == ""
    refused = api.patch(f"/leads/{lead.id}", {"last_name": ""})
    assert error_fields(problem(refused, 422)) == {"first_name"}


def test_an_update_returning_a_lead_to_the_pool_says_so_on_the_timeline(api, make_lead, member):
    lead = make_lead(owner=member)
    assert api.patch(f"/leads/{lead.id}", {"owner_id": None}).get_json()["owner_id"] is None
    assert entries(lead.id, "assigned")[0].data == {"from": member.name, "to": None}


@pytest.mark.parametrize("body, field", [
    ({"stage_id": 999999}, "stage_id"), ({"stage_id": None}, "stage_id"), ({"owner_id": 999999}, "owner_id"),
    ({"email": "nope"}, "email"), ({"utm_source": "x"}, "utm_source"), ({"created_at": "2020-01-01"}, "created_at"),
])
def test_a_bad_update_changes_nothing(api, make_lead, body, field):
    lead = make_lead(first_name="Ada", job_title="CEO")
    result = problem(api.patch(f"/leads/{lead.id}", {"job_title": "CTO", **body}), 422)
    assert field in error_fields(result)
    db.session.refresh(lead)
    assert lead.job_title == "CEO" and [entry.kind for entry in entries(lead.id)] == ["created"]


def test_updating_an_unknown_lead_is_a_404(api):
    problem(api.patch("/leads/424242", {"first_name": "Ada"}), 404)


# --- the edges --------------------------------------------------------------------------------------


def test_unknown_addresses_and_methods_under_the_api_answer_in_json(api, web):
    problem(api.get("/nothing-here"), 404)
    wrong_method = api.request("DELETE", "/leads/1")
    problem(wrong_method, 405)
    assert set(wrong_method.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "PATCH"}
    page = web.get("/no-such-page")  # the rest of the app keeps its HTML error pages
    assert page.status_code == 404 and "<html" in page.get_data(as_text=True)


def test_the_openapi_document_is_public_and_describes_every_operation(app):
    response = Api(app, None).get("/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    schemas = set(document["components"]["schemas"])
    assert {"Lead", "LeadCreate", "LeadUpdate", "LeadList", "Stage", "Problem"} <= schemas
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item
                  if method != "parameters"}
    assert {("POST", "/leads"), ("GET", "/leads"), ("GET", "/leads/{lead_id}"), ("PATCH", "/leads/{lead_id}"),
            ("GET", "/stages")} <= operations
