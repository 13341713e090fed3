"""Logged activities and touches: a call, email or meeting from the lead page and the API, the lead's
last touch and first response (the owner's first touch, set once), and refusals of bad input."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import schemathesis
from sqlalchemy import select, update

from app.api.openapi import document
from app.extensions import db
from app.models import Activity, Lead, TimelineEntry
from app.services import activities as activity_service, leads as lead_service, utcnow
from app.services.api_keys import create_key
from tests.integration.test_api import Api, error_fields, problem

DOCUMENT = schemathesis.openapi.from_dict(document())


def activities_of(lead) -> list[tuple]:
    return list(db.session.execute(select(Activity.kind, Activity.outcome, Activity.duration_minutes, Activity.note,
                                          Activity.user_id).where(Activity.lead_id == lead.id).order_by(Activity.id)))


def logged_entries(lead) -> list[tuple]:
    return [(e.kind, e.actor_id, e.data) for e in db.session.scalars(
        select(TimelineEntry).where(TimelineEntry.lead_id == lead.id, TimelineEntry.kind.like("%_logged"))
        .order_by(TimelineEntry.id))]


IDS = {"kind": "activity-kind", "outcome": "activity-outcome", "duration_minutes": "activity-duration",
       "note": "activity-note"}


def age(lead, minutes: int) -> None:
    """Pretend the lead was captured `minutes` ago."""
    db.session.execute(update(Lead).where(Lead.id == lead.id).values(
        created_at=lead.created_at - timedelta(minutes=minutes)))
    db.session.commit()


# --- from the lead page ---------------------------------------------------------------------------


def test_logging_a_call_from_the_lead_page_writes_it_on_the_timeline_and_counts_as_the_first_response(
        as_member, make_lead, member):
    lead = make_lead(owner=member)
    age(lead, 4)
    response = as_member.post(f"/leads/{lead.id}/activities", {
        "kind": "call", "outcome": "reached", "duration_minutes": "12", "note": "Wants a <b>quote</b>"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert 'id="activity-form"' in body and 'id="timeline" class="timeline" hx-swap-oob="true"' in body
    assert "Called: Reached, 12 min." in body and "Wants a &lt;b&gt;quote&lt;/b&gt;" in body
    assert "First response: 4 min by Max Member" in body and "Logged the call." in body
    assert activities_of(lead) == [("call", "reached", 12, "Wants a <b>quote</b>", member.id)]
    assert logged_entries(lead) == [("call_logged", member.id, {"outcome": "reached", "duration_minutes": 12,
                                                                 "note": "Wants a <b>quote</b>"})]
    db.session.refresh(lead)
    assert lead.last_touch_at is not None and lead.first_response_at == lead.last_touch_at
    assert lead.first_response_by_id == member.id and 240 <= lead.first_response_seconds < 300
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "First response: 4 min by Max Member" in page


def test_an_email_and_a_meeting_log_without_javascript_and_the_form_is_there_on_the_page(as_member, make_lead, member):
    lead = make_lead(owner=member, email="lena@example.com", phone="+14155550123")
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert 'href="tel:+14155550123" data-log-prompt="call-prompt"' in page
    assert 'href="mailto:lena@example.com" data-log-prompt="email-prompt"' in page
    assert 'id="call-prompt" role="group"' in page and 'id="activity-form"' in page
    # An outcome left ticked when switching to email is not an email's: the form drops it.
    email = as_member.post(f"/leads/{lead.id}/activities", {"kind": "email", "outcome": "reached", "note": "Sent the deck"})
    assert email.status_code == 302 and email.headers["Location"].endswith(f"/leads/{lead.id}")
    meeting = as_member.post(f"/leads/{lead.id}/activities", {"kind": "meeting", "duration_minutes": "45"})
    assert meeting.status_code == 302
    assert activities_of(lead) == [("email", None, None, "Sent the deck", member.id),
                                   ("meeting", None, 45, "", member.id)]
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Emailed (outside Leadboard)." in page and "Met, 45 min." in page


@pytest.mark.parametrize("data, field, message", [
    ({"kind": "call", "outcome": "hung up"}, "outcome", "Choose how the call went"),
    ({"kind": "call"}, "outcome", "Choose how the call went"),
    ({"kind": "fax"}, "kind", "Choose a call, an email, a meeting or their reply."),
    ({"kind": "call", "outcome": "reached", "duration_minutes": "-5"}, "duration_minutes", "cannot be negative"),
    ({"kind": "meeting", "duration_minutes": "1441"}, "duration_minutes", "at most 1,440 minutes"),
    ({"kind": "meeting", "duration_minutes": "half an hour"}, "duration_minutes", "whole minutes"),
    ({"kind": "email", "duration_minutes": "5"}, "duration_minutes", "An email has no duration"),
    ({"kind": "call", "outcome": "reached", "note": "x" * 10_001}, "note", "under 10,000 characters"),
])
def test_bad_activity_input_is_refused_beside_its_field_and_nothing_is_logged(as_member, make_lead, member,
                                                                               data, field, message):
    lead = make_lead(owner=member)
    response = as_member.post(f"/leads/{lead.id}/activities", data, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    error = re.search(rf'<p class="error" id="{IDS[field]}-error">([^<]*)</p>', body)
    assert error and message in error.group(1)
    assert 'aria-invalid="true"' in body
    plain = as_member.post(f"/leads/{lead.id}/activities", data)
    assert plain.status_code == 422 and message in plain.get_data(as_text=True) and "<html" in plain.get_data(as_text=True)
    db.session.refresh(lead)
    assert activities_of(lead) == [] and logged_entries(lead) == [] and lead.last_touch_at is None


def test_logging_on_a_deleted_lead_says_so_on_the_form_with_a_404(as_member, make_lead, member):
    lead = make_lead(owner=member)
    lead_id = lead.id
    db.session.delete(lead)
    db.session.commit()
    response = as_member.post(f"/leads/{lead_id}/activities", {"kind": "call", "outcome": "reached"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 404 and 'id="activity-form"' in body
    assert "That lead does not exist (it may have been deleted or merged)." in body
    plain = as_member.post(f"/leads/{lead_id}/activities", {"kind": "call", "outcome": "reached"})
    assert plain.status_code == 404 and "does not exist" in plain.get_data(as_text=True)
    assert db.session.scalars(select(Activity)).all() == []


# --- touches and the first response ---------------------------------------------------------------


def test_the_first_response_is_the_owners_first_touch_and_is_set_once(make_lead, member, admin, make_user):
    lead = make_lead(owner=member)
    activity_service.log_activity(lead.id, admin.id, "call", outcome="voicemail")  # not the owner
    db.session.refresh(lead)
    assert lead.last_touch_at is not None and lead.first_response_at is None
    lead_service.add_note(lead.id, "Called back, booked a demo", member.id)
    db.session.refresh(lead)
    first = (lead.first_response_at, lead.first_response_by_id)
    assert first[1] == member.id and lead.last_touch_at == first[0]
    activity_service.log_activity(lead.id, member.id, "meeting", duration_minutes=30)
    db.session.refresh(lead)
    assert (lead.first_response_at, lead.first_response_by_id) == first and lead.last_touch_at > first[0]


def test_a_stage_move_by_the_owner_and_a_pool_leads_note_are_first_responses_but_the_api_naming_nobody_is_no_touch(
        make_lead, member, stages):
    owned, pooled, quiet = make_lead(owner=member), make_lead(), make_lead(owner=member)
    lead_service.move_lead(owned.id, stages["Contacted"].id, None, None, member.id)
    lead_service.add_note(pooled.id, "Anyone may answer a pool lead", member.id)
    activity_service.log_activity(quiet.id, None, "email")
    for lead in (owned, pooled, quiet):
        db.session.refresh(lead)
    assert owned.first_response_by_id == member.id and owned.last_touch_at == owned.first_response_at
    assert pooled.first_response_by_id == member.id
    assert quiet.first_response_at is None and quiet.last_touch_at is None
    assert [kind for kind, *_ in logged_entries(quiet)] == ["email_logged"]


# --- the API --------------------------------------------------------------------------------------


@pytest.fixture
def api(app, stages):
    return Api(app, create_key("Dialer")[1])


def test_the_api_logs_a_call_for_a_teammate_as_the_openapi_document_says(api, make_lead, member):
    lead = make_lead(owner=member)
    response = api.post(f"/leads/{lead.id}/activities", {"kind": "call", "outcome": "no_answer",
                                                          "duration_minutes": 0, "user_id": member.id})
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert {k: body[k] for k in ("lead_id", "kind", "outcome", "duration_minutes", "note", "user_id")} == {
        "lead_id": lead.id, "kind": "call", "outcome": "no_answer", "duration_minutes": 0, "note": "",
        "user_id": member.id}
    operation = DOCUMENT["/leads/{lead_id}/activities"]["post"]
    operation.validate_response(response)
    db.session.refresh(lead)
    assert activities_of(lead) == [("call", "no_answer", 0, "", member.id)]
    assert lead.first_response_by_id == member.id


@pytest.mark.parametrize("payload, field", [
    ({"kind": "call", "outcome": "hung_up"}, "outcome"),
    ({"kind": "call", "outcome": "reached", "duration_minutes": -1}, "duration_minutes"),
    ({"kind": "call", "outcome": "reached", "duration_minutes": 1441}, "duration_minutes"),
    ({"kind": "call", "outcome": "reached", "note": "x" * 10_001}, "note"),
    ({"kind": "call"}, "outcome"),
    ({"kind": "visit"}, "kind"),
    ({"kind": "email", "user_id": 999_999}, "user_id"),
])
def test_the_api_refuses_bad_activities_naming_the_field(api, make_lead, payload, field):
    lead = make_lead()
    body = problem(api.post(f"/leads/{lead.id}/activities", payload), 422)
    assert field in error_fields(body)
    assert activities_of(lead) == []


def test_the_api_answers_404_for_an_activity_on_a_deleted_lead(api, make_lead):
    lead = make_lead()
    lead_id = lead.id
    db.session.delete(lead)
    db.session.commit()
    problem(api.post(f"/leads/{lead_id}/activities", {"kind": "email"}), 404)
    problem(api.post(f"/leads/{2**31}/activities", {"kind": "email"}), 404)
    assert db.session.scalars(select(Activity)).all() == []


def test_the_openapi_document_describes_logging_an_activity(api):
    spec = api.get("/openapi.json").get_json()
    operation = spec["paths"]["/leads/{lead_id}/activities"]["post"]
    assert operation["operationId"] == "logActivity"
    schema = spec["components"]["schemas"]["ActivityLog"]
    assert set(schema["properties"]) == {"kind", "outcome", "duration_minutes", "note", "user_id"}
