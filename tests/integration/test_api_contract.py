"""The API's contract from one definition, a PATCH that is one transaction, an idempotent booking,
and the sweep that forgets expired Idempotency-Key records, on both databases."""
from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy import event, func, select

from app.api.openapi import OPERATIONS, document
from app.extensions import db
from app.models import Appointment, IdempotencyRecord, Lead, OutboxEmail, TimelineEntry
from app.services import utcnow
from app.services.api_keys import claim_idempotency_key, complete_idempotency_key, create_key, purge_expired_idempotency
from app.services.leads import UnknownUser, change_lead
from app.services.users import set_active
from tests.integration.test_api import Api, entries, error_fields, problem


@pytest.fixture
def api(app, stages):
    return Api(app, create_key("Calendar sync")[1])


@pytest.fixture
def lead(make_lead):
    return make_lead(first_name="Ada", last_name="Lovelace", email="ada@example.com", company="Engines")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def iso_in(days: int) -> str:
    return (utcnow() + timedelta(days=days)).replace(microsecond=0).isoformat() + "Z"


# --- the document is generated from what the views run on ---------------------------------------


def test_every_routed_api_view_is_in_the_document_and_nothing_else_is(app):
    routed = {(method, rule.rule.removeprefix("/api/v1")) for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("api.") for method in rule.methods - {"HEAD", "OPTIONS"}}
    paths = document()["paths"]
    described = {(method.upper(), path.replace("{", "<int:").replace("}", ">") if "{" in path else path)
                 for path, item in paths.items() for method in item if method != "parameters"}
    assert routed == described and len(OPERATIONS) == len(described)


def test_the_request_schemas_come_from_the_models_that_check_requests(app):
    schemas = document()["components"]["schemas"]
    assert schemas["LeadCreate"]["additionalProperties"] is False
    first_name = schemas["LeadCreate"]["properties"]["first_name"]["anyOf"][0]
    assert (first_name["maxLength"], first_name["pattern"]) == (100, "^[^\\u0000]*$")
    assert schemas["AppointmentReschedule"]["required"] == ["starts_at"]
    assert "default" not in schemas["LeadUpdate"]["properties"]["stage_id"]  # optional, but never null


def test_a_too_long_field_is_named_with_the_limit_the_document_shows(api):
    limit = document()["components"]["schemas"]["LeadCreate"]["properties"]["company"]["anyOf"][0]["maxLength"]
    result = problem(api.post("/leads", {"first_name": "Ada", "company": "C" * (limit + 1)}), 422)
    assert result["errors"] == [{"field": "company", "message": f"must be at most {limit} characters."}]
    assert api.post("/leads", {"first_name": "Ada", "company": "C" * limit}).status_code == 201


def test_the_json_the_api_answers_is_exactly_its_response_models(api, lead, stages):
    from app.api import contract
    from app.api.representation import appointment_json, lead_json, stage_json
    from app.services.appointments import book_appointment
    appointment = book_appointment(lead.id, None, starts_at=utcnow().replace(tzinfo=timezone.utc) + timedelta(days=2),
                                   duration_minutes=30)
    for model, body in [(contract.Lead, lead_json(db.session.get(Lead, lead.id), ["vip"])),
                        (contract.Stage, stage_json(stages["New"])),
                        (contract.Appointment, appointment_json(appointment))]:
        assert list(body) == list(model.model_fields), model.__name__
        model.model_validate(body)  # types, enums and patterns as the document states them


# --- PATCH /leads/{id}: one transaction ---------------------------------------------------------


def test_a_patch_changes_fields_stage_and_owner_in_one_action(api, lead, stages, make_user):
    owner = make_user("member", name="Olive Owner")
    response = api.patch(f"/leads/{lead.id}", {"job_title": "CTO", "stage_id": stages["Contacted"].id,
                                               "owner_id": owner.id})
    assert response.status_code == 200, response.get_data(as_text=True)
    stored = db.session.get(Lead, lead.id)
    assert (stored.job_title, stored.stage_id, stored.owner_id) == ("CTO", stages["Contacted"].id, owner.id)
    assert [e.kind for e in entries(lead.id)] == ["created", "updated", "stage_changed", "assigned"]


def _unchanged(lead_id: int, stage_id: int) -> None:
    db.session.expire_all()
    stored = db.session.get(Lead, lead_id)
    assert (stored.job_title, stored.company, stored.stage_id, stored.owner_id, stored.version) == (
        None, "Engines", stage_id, None, 1)
    assert [e.kind for e in entries(lead_id)] == ["created"]


def test_a_change_whose_last_step_fails_leaves_nothing_of_it_behind(lead, stages, make_user):
    gone = make_user("member", name="Gone Member")
    set_active(gone.id, False)
    with pytest.raises(UnknownUser):
        change_lead(lead.id, {"job_title": "CTO", "company": "Other", "stage_id": stages["Contacted"].id,
                              "owner_id": gone.id}, None)
    _unchanged(lead.id, stages["New"].id)


def test_a_patch_whose_last_timeline_entry_fails_to_save_leaves_nothing_behind(api, lead, stages, make_user):
    owner = make_user("member", name="Olive Owner")

    def refuse_the_assignment(session, flush_context, instances):
        if any(isinstance(row, TimelineEntry) and row.kind == "assigned" for row in session.new):
            raise RuntimeError("the disk filled up while saving the last timeline entry")

    event.listen(db.session, "before_flush", refuse_the_assignment)
    try:
        response = api.patch(f"/leads/{lead.id}", {"job_title": "CTO", "company": "Other",
                                                   "stage_id": stages["Contacted"].id, "owner_id": owner.id})
    finally:
        event.remove(db.session, "before_flush", refuse_the_assignment)
    assert problem(response, 500)["detail"]
    _unchanged(lead.id, stages["New"].id)


# --- booking with an Idempotency-Key ------------------------------------------------------------


def test_a_retried_booking_with_the_same_key_books_and_invites_once(api, lead, stages):
    body = {"starts_at": iso_in(3), "duration_minutes": 30, "location": "Room 1"}
    first = api.post(f"/leads/{lead.id}/appointments", body, headers={"Idempotency-Key": "book-1"})
    retry = api.post(f"/leads/{lead.id}/appointments", body, headers={"Idempotency-Key": "book-1"})
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.get_json() == first.get_json() and retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert count(Appointment) == 1 and count(OutboxEmail) == 1
    assert len(entries(lead.id, "appointment_booked")) == 1
    assert db.session.get(Lead, lead.id).stage.name == "Appointment set"


def test_a_booking_key_with_another_body_is_refused_and_books_nothing_more(api, lead):
    assert api.post(f"/leads/{lead.id}/appointments", {"starts_at": iso_in(3), "duration_minutes": 30},
                    headers={"Idempotency-Key": "book-2"}).status_code == 201
    other = api.post(f"/leads/{lead.id}/appointments", {"starts_at": iso_in(4), "duration_minutes": 30},
                     headers={"Idempotency-Key": "book-2"})
    assert problem(other, 422)["type"] == "urn:leadboard:problem:idempotency-key-reused"
    assert count(Appointment) == 1


def test_a_key_used_to_create_a_lead_is_not_replayed_by_a_booking(api, lead):
    created = api.post("/leads", {"first_name": "Grace"}, headers={"Idempotency-Key": "shared"})
    assert created.status_code == 201
    # The same body on another endpoint with the same key: refused, not answered with the lead.
    booking = api.post(f"/leads/{lead.id}/appointments", {"first_name": "Grace"},
                       headers={"Idempotency-Key": "shared"})
    assert error_fields(problem(booking, 422)) == {"duration_minutes", "first_name", "starts_at"}
    booking = api.post(f"/leads/{lead.id}/appointments", {"starts_at": iso_in(3), "duration_minutes": 30},
                       headers={"Idempotency-Key": "shared"})
    body = problem(booking, 422)
    assert body["type"] == "urn:leadboard:problem:idempotency-key-reused" and "id" not in body
    assert count(Appointment) == 0 and count(Lead) == 2


def test_a_refused_booking_is_not_remembered_so_the_key_works_once_corrected(api, lead):
    bad = api.post(f"/leads/{lead.id}/appointments", {"starts_at": iso_in(3), "duration_minutes": 30,
                                                      "timezone": "Mars/Olympus_Mons"},
                   headers={"Idempotency-Key": "book-3"})
    assert error_fields(problem(bad, 422)) == {"timezone"}
    good = api.post(f"/leads/{lead.id}/appointments", {"starts_at": iso_in(3), "duration_minutes": 30},
                    headers={"Idempotency-Key": "book-3"})
    assert good.status_code == 201 and count(Appointment) == 1


def test_the_document_offers_an_idempotency_key_for_booking(app):
    booking = document()["paths"]["/leads/{lead_id}/appointments"]["post"]
    assert [p["name"] for p in booking["parameters"]] == ["Idempotency-Key"]
    assert "409" in booking["responses"] and "Idempotent-Replayed" in booking["responses"]["201"]["headers"]


# --- expired records are purged by the sweep ----------------------------------------------------


def test_the_sweep_purges_expired_idempotency_records_and_keeps_fresh_ones(api):
    from app.models import ApiKey
    key_id = db.session.scalar(select(ApiKey.id))
    now = utcnow()
    old = claim_idempotency_key(key_id, "old", "a" * 64, now=now - timedelta(hours=25))
    complete_idempotency_key(old, 201, {"id": 1})
    fresh = claim_idempotency_key(key_id, "fresh", "b" * 64, now=now - timedelta(hours=23))
    complete_idempotency_key(fresh, 201, {"id": 2})
    assert purge_expired_idempotency(now) == 1
    assert db.session.scalars(select(IdempotencyRecord.key)).all() == ["fresh"]
