"""/api/v1 appointments: book one on a lead, list and read them, reschedule and cancel them.

The API acts as no one in particular (actor None), as it does for leads; the service writes the
lead's timeline and the prospect's emails (with their .ics) in the same transaction as the change.
Booking takes an Idempotency-Key, as creating a lead does, so a retried booking invites once."""
from __future__ import annotations

from flask import jsonify, url_for

from app.api.auth import current_caller
from app.api.contract import MAX_ID, Appointment, AppointmentBook, AppointmentList, AppointmentReschedule, NoQuery
from app.api.idempotency import once
from app.api.openapi import Reply, operation
from app.api.representation import appointment_json
from app.services import appointments as service, permissions
from app.services.leads import LeadNotFound, get_lead

BOOKED_LINKS = {
    "GetBookedAppointment": {"operationId": "getAppointment",
                             "parameters": {"appointment_id": "$response.body#/id"}},
    "RescheduleBookedAppointment": {"operationId": "rescheduleAppointment",
                                    "parameters": {"appointment_id": "$response.body#/id"}},
    "CancelBookedAppointment": {"operationId": "cancelAppointment",
                                "parameters": {"appointment_id": "$response.body#/id"}},
}


@operation("POST", "/leads/<int:lead_id>/appointments", "bookAppointment",
           "Book an appointment with a lead and invite them", (
               Reply(201, Appointment, "The appointment was booked and the prospect invited.", {
                   "Location": {"required": True, "description": "The new appointment's address.",
                                "schema": {"type": "string"}}}, links=BOOKED_LINKS),
           ), body=AppointmentBook, idempotent=True, not_found="NotFound", example={
               "starts_at": "2026-12-08T14:00:00+01:00", "duration_minutes": 30,
               "location": "https://meet.example.com/ada", "note": "A demo of the reports.",
               "timezone": "Europe/Berlin"})
def book_appointment(lead_id: int, body: AppointmentBook):
    lead = _lead(lead_id)

    def book() -> tuple[int, dict]:
        appointment = service.book_appointment(lead.id, None, starts_at=body.starts_at,
                                               duration_minutes=body.duration_minutes,
                                               location=body.location or "", note=body.note or "",
                                               prospect_timezone=body.timezone)
        return 201, appointment_json(appointment)

    status, answer, replayed = once(book)
    response = jsonify(answer)
    response.status_code = status
    response.headers["Location"] = url_for("api.get_appointment", appointment_id=answer["id"])
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@operation("GET", "/leads/<int:lead_id>/appointments", "listAppointments",
           "A lead's appointments, cancelled ones included, latest start first",
           (Reply(200, AppointmentList, "Every appointment of the lead."),), query=NoQuery, not_found="NotFound")
def list_appointments(lead_id: int, query: NoQuery):
    lead = _lead(lead_id)
    return jsonify({"data": [appointment_json(appointment) for appointment in service.for_lead(lead.id)]})


@operation("GET", "/appointments/<int:appointment_id>", "getAppointment", "Read one appointment",
           (Reply(200, Appointment, "The appointment."),), not_found="AppointmentNotFound")
def get_appointment(appointment_id: int):
    return jsonify(appointment_json(_appointment(appointment_id)))


@operation("PATCH", "/appointments/<int:appointment_id>", "rescheduleAppointment",
           "Move an appointment to another time and send the prospect an updated invitation",
           (Reply(200, Appointment, "The appointment as it is now, awaiting the prospect's answer."),),
           body=AppointmentReschedule, not_found="AppointmentNotFound",
           conflict="The appointment was cancelled, so it can no longer be changed.",
           example={"starts_at": "2026-12-09T10:00:00+01:00", "duration_minutes": 45})
def reschedule_appointment(appointment_id: int, body: AppointmentReschedule):
    appointment = _appointment(appointment_id)
    # An omitted location or note stays as it is (None to the service); null clears it.
    text = {name: getattr(body, name) or "" for name in ("location", "note") if name in body.model_fields_set}
    duration = body.duration_minutes if "duration_minutes" in body.model_fields_set else appointment.duration_minutes
    appointment = service.reschedule_appointment(appointment.id, None, starts_at=body.starts_at,
                                                 duration_minutes=duration, **text)
    return jsonify(appointment_json(appointment))


@operation("POST", "/appointments/<int:appointment_id>/cancel", "cancelAppointment",
           "Cancel an appointment and tell the prospect",
           (Reply(200, Appointment, "The cancelled appointment. Cancelling again changes nothing."),),
           not_found="AppointmentNotFound")
def cancel_appointment(appointment_id: int):
    return jsonify(appointment_json(service.cancel_appointment(_appointment(appointment_id).id, None)))


def _lead(lead_id: int):
    if lead_id > MAX_ID:  # larger than any id the database can hold
        raise LeadNotFound()
    return get_lead(lead_id)


def _appointment(appointment_id: int):
    if appointment_id > MAX_ID:
        raise service.AppointmentNotFound()
    appointment = service.get_appointment(appointment_id)
    permissions.require_visible_lead(current_caller().actor, appointment.lead_id)  # a member key, another's lead
    return appointment
