"""/api/v1 appointments: book one on a lead, list and read them, reschedule and cancel them.

The API acts as no one in particular (actor None), as it does for leads; the service writes the
lead's timeline and the prospect's emails (with their .ics) in the same transaction as the change."""
from __future__ import annotations

from flask import jsonify, url_for

from app.api import bp
from app.api.auth import rate_limited
from app.api.inputs import BOOK_FIELDS, MAX_ID, RESCHEDULE_FIELDS, Query, json_body
from app.api.representation import appointment_json
from app.services import appointments as service
from app.services.leads import LeadNotFound, get_lead


@bp.post("/leads/<int:lead_id>/appointments")
@rate_limited
def book_appointment(lead_id: int):
    values, _ = json_body(BOOK_FIELDS, required=("starts_at", "duration_minutes"))
    lead = _lead(lead_id)
    appointment = service.book_appointment(lead.id, None, starts_at=values["starts_at"],
                                           duration_minutes=values["duration_minutes"],
                                           location=values.get("location") or "", note=values.get("note") or "",
                                           prospect_timezone=values.get("timezone"))
    response = jsonify(appointment_json(appointment))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_appointment", appointment_id=appointment.id)
    return response


@bp.get("/leads/<int:lead_id>/appointments")
@rate_limited
def list_appointments(lead_id: int):
    Query(set()).check()
    lead = _lead(lead_id)
    return jsonify({"data": [appointment_json(appointment) for appointment in service.for_lead(lead.id)]})


@bp.get("/appointments/<int:appointment_id>")
@rate_limited
def get_appointment(appointment_id: int):
    return jsonify(appointment_json(_appointment(appointment_id)))


@bp.patch("/appointments/<int:appointment_id>")
@rate_limited
def reschedule_appointment(appointment_id: int):
    values, _ = json_body(RESCHEDULE_FIELDS, required=("starts_at",))
    appointment = _appointment(appointment_id)
    # An omitted location or note stays as it is (None to the service); null clears it.
    text = {name: values[name] or "" for name in ("location", "note") if name in values}
    appointment = service.reschedule_appointment(
        appointment.id, None, starts_at=values["starts_at"],
        duration_minutes=values.get("duration_minutes", appointment.duration_minutes), **text)
    return jsonify(appointment_json(appointment))


@bp.post("/appointments/<int:appointment_id>/cancel")
@rate_limited
def cancel_appointment(appointment_id: int):
    return jsonify(appointment_json(service.cancel_appointment(_appointment(appointment_id).id, None)))


def _lead(lead_id: int):
    if lead_id > MAX_ID:  # larger than any id the database can hold
        raise LeadNotFound()
    return get_lead(lead_id)


def _appointment(appointment_id: int):
    if appointment_id > MAX_ID:
        raise service.AppointmentNotFound()
    return service.get_appointment(appointment_id)
