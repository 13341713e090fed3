"""Booking, moving and cancelling appointments from a lead's page."""
from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.leads import bp
from app.leads.forms import CancelAppointmentForm, RescheduleForm
from app.leads.page import booking_form, lead_page, past_appointments_context, reschedule_form
from app.leads.routes import older
from app.services import ServiceError, appointment_emails, appointments as service, leads as lead_service, whole_number
from app.services.team_settings import current_zones, user_timezone
from app.web import add_form_error, notice, wants_fragment


def _starts(form) -> datetime:
    """The form's date and time, read in the member's timezone, as naive UTC."""
    return service.local_to_utc(datetime.combine(form.date.data, form.time.data), user_timezone(current_user))


def _back(lead_id: int):
    return redirect(url_for("leads.show", lead_id=lead_id, _anchor="appointments"))


@bp.post("/<int:lead_id>/appointments")
def book(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    form = booking_form(lead, submitted=True)
    if form.validate_on_submit():
        try:
            appointment = service.book_appointment(
                lead.id, current_user.id, starts_at=_starts(form), duration_minutes=form.duration.data,
                location=form.location.data, note=form.note.data,
                prospect_timezone=form.timezone.data or user_timezone(current_user))
        except ServiceError as exc:
            add_form_error(form, _field(exc))
        else:
            told = "The invitation is on its way." if lead.email else \
                "No invitation was sent: the lead has no email address."
            flash(f"Booked for {appointment_emails.describe_time(appointment, user_timezone(current_user))}. {told}", "success")
            return _back(lead.id)
    return lead_page(lead, 422, booking=form, open_booking=True)


@bp.get("/<int:lead_id>/appointments")
def appointments(lead_id: int):
    """Older past appointments, after the one named by `before`."""
    lead = lead_service.get_lead(lead_id)
    return older(lead, "Older appointments", "leads/_appointment_items.html", "div", "appointment-list",
                 **past_appointments_context(lead.id, whole_number(request.args.get("before"))))


@bp.get("/timezones")
def timezone_options():
    """The current zones as <option>s with their readable names, for the booking form's
    suggestions. The page asks for it by a versioned address (`v`, the list's digest), so it is
    cached for a year."""
    body = render_template("leads/_timezone_options.html", timezone_options=current_zones())
    return body, 200, {"Cache-Control": "private, max-age=31536000, immutable"}


def _field(exc: ServiceError) -> ServiceError:
    """The service names starts_at and duration_minutes; the form asks for date/time and duration."""
    names = {"starts_at": "date", "duration_minutes": "duration"}
    if exc.field in names:
        exc.field = names[exc.field]
    return exc


@bp.get("/<int:lead_id>/appointments/<int:appointment_id>/reschedule")
def reschedule_step(lead_id: int, appointment_id: int):
    """The form to move an appointment, fetched when its "Move to another time" opens (without
    JavaScript: the lead's page with that form open). Rendering every open one's form up front was
    most of a lead page's cost."""
    lead = lead_service.get_lead(lead_id)
    appointment = _appointment_of(lead.id, appointment_id)
    if not appointment.is_open:
        message = "That appointment is no longer open, so it cannot be moved. The page is refreshed."
        if wants_fragment():
            return notice(message, 409, category="error", **{"HX-Refresh": "true"})
        flash(message, "error")
        return _back(lead.id)
    form = reschedule_form(appointment)
    if not wants_fragment():
        return lead_page(lead, reschedule_forms={appointment.id: form})
    return render_template("leads/_reschedule_form.html", lead=lead, a=appointment, rf=form,
                           my_timezone=user_timezone(current_user)), 200, {"Vary": "HX-Request"}


@bp.post("/<int:lead_id>/appointments/<int:appointment_id>/reschedule")
def reschedule(lead_id: int, appointment_id: int):
    lead = lead_service.get_lead(lead_id)
    appointment = _appointment_of(lead.id, appointment_id)
    form = RescheduleForm(prefix=f"a{appointment.id}")
    form.keep_duration(appointment.duration_minutes)
    if form.validate_on_submit():
        try:
            appointment = service.reschedule_appointment(
                appointment.id, current_user.id, starts_at=_starts(form), duration_minutes=form.duration.data,
                location=form.location.data, note=form.note.data)
        except ServiceError as exc:
            add_form_error(form, _field(exc))
        else:
            flash(f"Moved to {appointment_emails.describe_time(appointment, user_timezone(current_user))}. "
                  "An updated invitation is on its way.", "success")
            return _back(lead.id)
    return lead_page(lead, 422, reschedule_forms={appointment.id: form})


@bp.get("/<int:lead_id>/appointments/<int:appointment_id>/cancel")
def confirm_cancel(lead_id: int, appointment_id: int):
    """The step before cancelling: are you sure, and a word for the prospect. `keep` puts the button back."""
    lead = lead_service.get_lead(lead_id)
    appointment = _appointment_of(lead.id, appointment_id)
    form = None if request.args.get("keep") else CancelAppointmentForm(formdata=None, prefix=f"c{appointment.id}")
    if not wants_fragment():
        return lead_page(lead, cancel_forms={appointment.id: form}) if form else _back(lead.id)
    return render_template("leads/_cancel_appointment.html", lead=lead, a=appointment, describe=_describe,
                           cancel_form=form), 200, {"Vary": "HX-Request"}


@bp.post("/<int:lead_id>/appointments/<int:appointment_id>/cancel")
def cancel(lead_id: int, appointment_id: int):
    lead = lead_service.get_lead(lead_id)
    appointment = _appointment_of(lead.id, appointment_id)
    form = CancelAppointmentForm(prefix=f"c{appointment.id}")
    if form.validate_on_submit():
        try:
            appointment = service.cancel_appointment(appointment.id, current_user.id, message=form.message.data)
        except service.AppointmentEnded as exc:  # it ended while the confirm step was open
            flash(exc.message, "error")
            return _back(lead.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            told = (" The prospect is told" + (", with your message." if (form.message.data or "").strip() else ".")
                    if lead.email else "")
            flash(f"Cancelled the appointment on {_describe(appointment)}.{told}", "success")
            return _back(lead.id)
    return lead_page(lead, 422, cancel_forms={appointment.id: form})


def _describe(appointment) -> str:
    return appointment_emails.describe_time(appointment, user_timezone(current_user))


def _appointment_of(lead_id: int, appointment_id: int):
    appointment = service.get_appointment(appointment_id)
    if appointment.lead_id != lead_id:
        raise service.AppointmentNotFound()
    return appointment
