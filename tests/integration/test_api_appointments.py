"""Appointments through the JSON API, on a real database: the rows, the lead's stage, the outbox
emails and their calendar files, and the answers the OpenAPI document promises."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
import schemathesis
from icalendar import Calendar
from sqlalchemy import func, select

from app.api.openapi import document
from app.extensions import db
from app.models import Appointment, Lead, OutboxEmail
from app.services import appointments as service, utcnow
from app.services.appointment_emails import link_token
from app.services.api_keys import create_key
from tests.integration.test_api import Api, entries, error_fields, problem

DOCUMENT = schemathesis.openapi.from_dict(document())


@pytest.fixture
def api(app, stages):
    return Api(app, create_key("Calendar sync")[1])


@pytest.fixture
def lead(make_lead):
    return make_lead(first_name="Ada", last_name="Lovelace", email="ada@example.com")


def day_in(days: int) -> date:
    return (utcnow() + timedelta(days=days)).date()


def at(day: date, hour: int, minute: int = 0, offset: str = "+02:00") -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{offset}"


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.utc)


def book(api, lead_id: int, **fields):
    body = {"starts_at": at(day_in(7), 14, 30), "duration_minutes": 45, **fields}
    response = api.post(f"/leads/{lead_id}/appointments", body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def emails(appointment_id: int) -> list[OutboxEmail]:
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.appointment_id == appointment_id)
                                   .order_by(OutboxEmail.id)))


def event_of(email: OutboxEmail):
    """The calendar file attached to an email, parsed: (the calendar, its one event)."""
    [attachment] = email.attachments
    calendar = Calendar.from_ical(attachment["content"])
    [event] = calendar.walk("VEVENT")
    return calendar, event


def appointment_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Appointment))


def conforms(path: str, method: str, response) -> None:
    """The answer is one the OpenAPI document describes for this operation (status, body)."""
    operation = DOCUMENT[path][method]
    assert str(response.status_code) in operation.definition.raw["responses"]
    operation.validate_response(response)


# --- booking --------------------------------------------------------------------------------------


def test_booking_stores_the_appointment_invites_the_prospect_and_moves_the_lead_on(api, lead):
    day = day_in(7)
    response = api.post(f"/leads/{lead.id}/appointments",
                        {"starts_at": at(day, 14, 30, "+02:00"), "duration_minutes": 45,
                         "location": " Engine room, London ", "note": "Bring the punched cards.",
                         "timezone": "Europe/London"})
    assert response.status_code == 201, response.get_data(as_text=True)
    conforms("/leads/{lead_id}/appointments", "POST", response)
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/appointments/{body['id']}"
    assert body["starts_at"] == f"{day.isoformat()}T12:30:00.000000Z"
    assert body["ends_at"] == f"{day.isoformat()}T13:15:00.000000Z"
    assert (body["lead_id"], body["status"], body["sequence"]) == (lead.id, "awaiting", 0)
    assert (body["location"], body["note"], body["timezone"]) == ("Engine room, London", "Bring the punched cards.",
                                                                  "Europe/London")
    assert body["prospect_message"] is None and body["responded_at"] is None

    appointment = db.session.get(Appointment, body["id"])
    assert (appointment.starts_at, appointment.duration_minutes) == (utc(day, 12, 30).replace(tzinfo=None), 45)
    assert appointment.booked_by_id is None  # the API acts as no one in particular
    refreshed = db.session.get(Lead, lead.id)
    assert refreshed.stage.name == "Appointment set"
    assert refreshed.appointment_status == "awaiting"
    [booked] = entries(lead.id, "appointment_booked")
    assert booked.actor_id is None and booked.data["appointment_id"] == appointment.id and booked.data["invited"]

    [invite] = emails(appointment.id)
    assert (invite.kind, invite.to_address, invite.lead_id) == ("appointment_invite", "ada@example.com", lead.id)
    assert invite.attachments[0]["filename"] == "invite.ics"
    calendar, event = event_of(invite)
    assert str(calendar["METHOD"]) == "REQUEST"
    assert event["DTSTART"].dt == utc(day, 12, 30)
    assert event["DTEND"].dt == utc(day, 13, 15)
    assert (int(event["SEQUENCE"]), str(event["UID"])) == (0, appointment.uid)
    assert str(event["LOCATION"]) == "Engine room, London"


@pytest.mark.parametrize("starts_at", ["{day}T12:30:00Z", "{day}t12:30:00z", "{day}T14:30:00+02:00",
                                       "{day}T14:30+0200", "{day} 07:30:00.000-05:00", " {day}T12:30:00-00:00 "])
def test_every_offset_notation_names_the_same_moment(api, lead, starts_at):
    day = day_in(7)
    body = book(api, lead.id, starts_at=starts_at.format(day=day.isoformat()))
    assert body["starts_at"] == f"{day.isoformat()}T12:30:00.000000Z"


def test_without_a_timezone_the_prospect_gets_the_teams_and_empty_texts_are_empty(api, lead):
    body = book(api, lead.id, starts_at=at(day_in(7), 9, 0, "Z"), duration_minutes=30, location=None)
    assert (body["timezone"], body["location"], body["note"]) == ("UTC", "", "")
    assert body["starts_at"].endswith("T09:00:00.000000Z")


def test_booking_for_a_lead_without_an_email_address_sends_nothing(api, make_lead):
    quiet = make_lead(first_name="Quiet", email=None, phone="+14155550123")
    body = book(api, quiet.id)
    assert emails(body["id"]) == []
    assert entries(quiet.id, "appointment_booked")[0].data["invited"] is False


def test_a_lead_already_past_the_booking_stage_stays_where_it_is(api, make_lead):
    won = make_lead(stage="Won", email="grace@example.com")
    book(api, won.id)
    assert db.session.get(Lead, won.id).stage.name == "Won"


# --- reading --------------------------------------------------------------------------------------


def test_listing_and_reading_show_each_appointment_with_its_status(api, lead, make_lead):
    later = book(api, lead.id, starts_at=at(day_in(7), 16, 0))
    sooner = book(api, lead.id, starts_at=at(day_in(7), 10, 0))
    book(api, make_lead(first_name="Other", email="other@example.com").id)  # another lead's: not listed
    # The prospect confirms the sooner one with the link in their email.
    service.answer(link_token(db.session.get(Appointment, sooner["id"]), "confirm"), "confirm")

    response = api.get(f"/leads/{lead.id}/appointments")
    assert response.status_code == 200
    conforms("/leads/{lead_id}/appointments", "GET", response)
    listed = response.get_json()["data"]
    assert [(item["id"], item["status"]) for item in listed] == [(later["id"], "awaiting"),
                                                                 (sooner["id"], "confirmed")]
    one = api.get(f"/appointments/{sooner['id']}")
    conforms("/appointments/{appointment_id}", "GET", one)
    assert one.get_json() == listed[1]
    assert one.get_json()["responded_at"].endswith("Z")


def test_a_prospect_asking_for_another_time_shows_their_message(api, lead):
    booked = book(api, lead.id)
    token = link_token(db.session.get(Appointment, booked["id"]), "reschedule")
    service.answer(token, "reschedule", "Could we make it Thursday?")
    body = api.get(f"/appointments/{booked['id']}").get_json()
    assert (body["status"], body["prospect_message"]) == ("new_time_requested", "Could we make it Thursday?")


def test_a_lead_without_appointments_lists_none(api, lead):
    assert api.get(f"/leads/{lead.id}/appointments").get_json() == {"data": []}


# --- rescheduling ---------------------------------------------------------------------------------


def test_rescheduling_sends_an_updated_invitation_with_a_higher_sequence(api, lead):
    booked = book(api, lead.id, location="Engine room", note="Bring cards.")
    service.answer(link_token(db.session.get(Appointment, booked["id"]), "confirm"), "confirm")
    day = day_in(9)

    response = api.patch(f"/appointments/{booked['id']}", {"starts_at": at(day, 11, 0, "+02:00"), "note": None})
    assert response.status_code == 200, response.get_data(as_text=True)
    conforms("/appointments/{appointment_id}", "PATCH", response)
    body = response.get_json()
    assert (body["status"], body["sequence"]) == ("awaiting", 1)  # to be confirmed again
    assert body["starts_at"] == f"{day.isoformat()}T09:00:00.000000Z"
    # Omitted fields stay as they were; a null note clears it.
    assert (body["duration_minutes"], body["location"], body["note"]) == (45, "Engine room", "")

    appointment = db.session.get(Appointment, booked["id"])
    assert (appointment.starts_at, appointment.sequence) == (utc(day, 9).replace(tzinfo=None), 1)
    assert [email.kind for email in emails(appointment.id)] == ["appointment_invite", "appointment_update"]
    calendar, event = event_of(emails(appointment.id)[-1])
    assert str(calendar["METHOD"]) == "REQUEST" and int(event["SEQUENCE"]) == 1
    assert event["DTSTART"].dt == utc(day, 9) and event["DTEND"].dt == utc(day, 9, 45)
    assert str(event["UID"]) == appointment.uid  # the same event, moved
    assert len(entries(lead.id, "appointment_rescheduled")) == 1


def test_rescheduling_can_change_the_duration_and_location(api, lead):
    booked = book(api, lead.id, location="Engine room")
    body = api.patch(f"/appointments/{booked['id']}", {"starts_at": booked["starts_at"], "duration_minutes": 90,
                                                        "location": "Video call"}).get_json()
    assert (body["duration_minutes"], body["location"], body["sequence"]) == (90, "Video call", 1)


def test_a_cancelled_appointment_cannot_be_rescheduled(api, lead):
    booked = book(api, lead.id)
    api.post(f"/appointments/{booked['id']}/cancel")
    response = api.patch(f"/appointments/{booked['id']}", {"starts_at": at(day_in(10), 10, 0)})
    assert "cancelled" in problem(response, 409)["detail"]
    conforms("/appointments/{appointment_id}", "PATCH", response)
    now = api.get(f"/appointments/{booked['id']}").get_json()
    assert (now["status"], now["sequence"], now["starts_at"]) == ("cancelled", 1, booked["starts_at"])
    assert [email.kind for email in emails(booked["id"])] == ["appointment_invite", "appointment_cancel"]


# --- cancelling -----------------------------------------------------------------------------------


def test_cancelling_tells_the_prospect_and_cancelling_again_changes_nothing(api, lead):
    booked = book(api, lead.id)
    response = api.post(f"/appointments/{booked['id']}/cancel")
    assert response.status_code == 200
    conforms("/appointments/{appointment_id}/cancel", "POST", response)
    body = response.get_json()
    assert (body["status"], body["sequence"]) == ("cancelled", 1)
    assert db.session.get(Lead, lead.id).appointment_status == "cancelled"

    invite, cancellation = emails(booked["id"])
    assert cancellation.kind == "appointment_cancel" and cancellation.attachments[0]["filename"] == "cancel.ics"
    calendar, event = event_of(cancellation)
    assert str(calendar["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 1 and str(event["UID"]) == db.session.get(Appointment, booked["id"]).uid

    again = api.post(f"/appointments/{booked['id']}/cancel")
    assert again.status_code == 200 and again.get_json() == body
    assert len(emails(booked["id"])) == 2 and len(entries(lead.id, "appointment_cancelled")) == 1


# --- bad input ------------------------------------------------------------------------------------


def iso_in(days: int) -> str:
    """A moment `days` from now, as an API client would send it."""
    return (utcnow() + timedelta(days=days)).replace(microsecond=0).isoformat() + "Z"


@pytest.mark.parametrize("fields, field", [
    ({"starts_at": "2026-12-08T14:00:00"}, "starts_at"),  # no offset: which 14:00?
    ({"starts_at": "next Tuesday"}, "starts_at"),
    ({"starts_at": 1765198800}, "starts_at"),
    ({"starts_at": None}, "starts_at"),
    ({"starts_at": "2020-01-01T10:00:00Z"}, "starts_at"),  # past
    ({"starts_at": "9999-12-31T23:00:00-05:00"}, "starts_at"),  # beyond the last representable instant
    ({"starts_at": "0001-01-01T00:30:00+01:00"}, "starts_at"),  # before the first
    ({"starts_at": "9999-12-31T10:00:00Z"}, "starts_at"),  # more than two years ahead
    ({"starts_at": "2026-12-08T14:00:00+25:00"}, "starts_at"),
    ({"starts_at": "2026-12-08T14:00:00\u0000Z"}, "starts_at"),
    ({"duration_minutes": 4}, "duration_minutes"),
    ({"duration_minutes": 721}, "duration_minutes"),
    ({"duration_minutes": 2**70}, "duration_minutes"),
    ({"duration_minutes": "30"}, "duration_minutes"),
    ({"duration_minutes": True}, "duration_minutes"),
    ({"duration_minutes": 30.5}, "duration_minutes"),
    ({"location": "x" * 501}, "location"),
    ({"location": "Room\u00001"}, "location"),
    ({"note": "n" * 2001}, "note"),
    ({"note": "\ud800"}, "note"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"timezone": 1}, "timezone"),
    ({"status": "confirmed"}, "status"),
    ({"id": 7}, "id"),
])
def test_each_bad_booking_field_gets_a_422_naming_it_and_nothing_is_booked(api, lead, fields, field):
    body = {"starts_at": iso_in(3), "duration_minutes": 30, **fields}
    response = api.post(f"/leads/{lead.id}/appointments", body)
    result = problem(response, 422)
    conforms("/leads/{lead_id}/appointments", "POST", response)
    assert result["type"] == "urn:leadboard:problem:validation"
    assert field in error_fields(result) and all(error["message"] for error in result["errors"])
    assert appointment_count() == 0 and db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0
    assert db.session.get(Lead, lead.id).stage.name == "New"


def test_a_time_without_an_offset_is_refused_with_a_message_saying_so(api, lead):
    result = problem(api.post(f"/leads/{lead.id}/appointments",
                              {"starts_at": "2026-12-08T14:00:00", "duration_minutes": 30}), 422)
    assert result["errors"] == [{"field": "starts_at",
                                 "message": "needs a UTC offset or Z, e.g. 2026-12-08T14:00:00+01:00 or "
                                            "2026-12-08T13:00:00Z."}]


def test_the_required_fields_are_named_when_missing(api, lead):
    result = problem(api.post(f"/leads/{lead.id}/appointments", {"location": "Somewhere"}), 422)
    assert error_fields(result) == {"starts_at", "duration_minutes"}
    assert appointment_count() == 0


@pytest.mark.parametrize("body, field", [
    ({"duration_minutes": 30}, "starts_at"),
    ({"starts_at": "2026-12-08T14:00:00"}, "starts_at"),
    ({"starts_at": "2020-01-01T10:00:00Z"}, "starts_at"),
    ({"starts_at": "soon", "duration_minutes": 0}, "duration_minutes"),
    ({"starts_at": "soon", "duration_minutes": None}, "duration_minutes"),
    ({"starts_at": "soon", "location": "x" * 501}, "location"),
    ({"starts_at": "soon", "timezone": "Europe/Berlin"}, "timezone"),  # the prospect's zone is set when booking
    ({"starts_at": "soon", "sequence": 5}, "sequence"),
])
def test_a_bad_reschedule_changes_nothing(api, lead, body, field):
    booked = book(api, lead.id)
    if body.get("starts_at") == "soon":
        body = {**body, "starts_at": iso_in(4)}
    assert field in error_fields(problem(api.patch(f"/appointments/{booked['id']}", body), 422))
    assert api.get(f"/appointments/{booked['id']}").get_json() == booked
    assert len(emails(booked["id"])) == 1


@pytest.mark.parametrize("data, content_type, status", [
    ('{"starts_at": ', "application/json", 400),
    ("", "application/json", 400),
    ('["2026-12-08T14:00:00Z", 30]', "application/json", 422),
    ("starts_at=2026-12-08T14:00:00Z", "application/x-www-form-urlencoded", 415),
    ('{"duration_minutes": 1' + "0" * 5000 + "}", "application/json", 400),
])
def test_a_body_that_is_not_a_json_object_gets_a_clear_problem(api, lead, data, content_type, status):
    response = api.request("POST", f"/leads/{lead.id}/appointments", data=data,
                           headers={"Content-Type": content_type})
    assert problem(response, status)["detail"]
    assert appointment_count() == 0


def test_listing_refuses_query_parameters_it_does_not_know(api, lead):
    result = problem(api.get(f"/leads/{lead.id}/appointments", query_string={"status": "confirmed"}), 422)
    assert error_fields(result) == {"status"}


# --- unknown ids and keys -------------------------------------------------------------------------


@pytest.mark.parametrize("method, url", [
    ("POST", "/leads/424242/appointments"), ("GET", "/leads/424242/appointments"),
    ("POST", "/leads/99999999999999999999/appointments"),
])
def test_an_unknown_lead_is_a_404_problem(api, method, url):
    body = {"starts_at": iso_in(2), "duration_minutes": 30} if method == "POST" else None
    assert "lead does not exist" in problem(api.request(method, url, json_body=body), 404)["detail"]
    assert appointment_count() == 0


@pytest.mark.parametrize("method, url", [
    ("GET", "/appointments/424242"), ("PATCH", "/appointments/424242"), ("POST", "/appointments/424242/cancel"),
    ("GET", "/appointments/99999999999999999999"), ("POST", "/appointments/99999999999999999999/cancel"),
])
def test_an_unknown_appointment_is_a_404_problem(api, method, url):
    body = {"starts_at": iso_in(2)} if method == "PATCH" else None
    response = api.request(method, url, json_body=body)
    assert "appointment does not exist" in problem(response, 404)["detail"]


@pytest.mark.parametrize("method, url", [
    ("POST", "/leads/{lead}/appointments"), ("GET", "/leads/{lead}/appointments"),
    ("GET", "/appointments/{appointment}"), ("PATCH", "/appointments/{appointment}"),
    ("POST", "/appointments/{appointment}/cancel"),
])
def test_a_missing_key_gets_401_and_changes_nothing(app, stages, lead, method, url):
    booked = service.book_appointment(lead.id, None, starts_at=utc(day_in(7), 10), duration_minutes=30)
    body = {"starts_at": iso_in(2), "duration_minutes": 30} if method in ("POST", "PATCH") else None
    response = Api(app, None).request(method, url.format(lead=lead.id, appointment=booked.id), json_body=body)
    assert "Authorization: Bearer" in problem(response, 401)["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert appointment_count() == 1 and db.session.get(Appointment, booked.id).status == "awaiting"
    assert len(emails(booked.id)) == 1


# --- the document -----------------------------------------------------------------------------------


def test_the_openapi_document_describes_every_appointment_operation(app):
    served = Api(app, None).get("/openapi.json").get_json()
    operations = {(method.upper(), path): item[method]["operationId"] for path, item in served["paths"].items()
                  for method in item if method != "parameters"}
    expected = {("POST", "/leads/{lead_id}/appointments"): "bookAppointment",
                ("GET", "/leads/{lead_id}/appointments"): "listAppointments",
                ("GET", "/appointments/{appointment_id}"): "getAppointment",
                ("PATCH", "/appointments/{appointment_id}"): "rescheduleAppointment",
                ("POST", "/appointments/{appointment_id}/cancel"): "cancelAppointment"}
    assert {key: operations.get(key) for key in expected} == expected
    schemas = served["components"]["schemas"]
    assert schemas["Appointment"]["properties"]["status"]["enum"] == ["awaiting", "confirmed", "cancelled",
                                                                      "new_time_requested"]
    assert schemas["AppointmentBook"]["required"] == ["starts_at", "duration_minutes"]
