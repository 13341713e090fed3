"""The lead page's context, shared by the routes that render it: the lead's own (routes.py) and its
appointments panel's (appointments.py), which re-render the whole page when a form is refused."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user

from app.leads.filters import owner_choices
from app.leads.forms import AppointmentForm, AssignForm, NoteForm, RescheduleForm
from app.services import appointment_emails, appointments as appointment_service, merge as merge_service, timeline as timeline_service
from app.services.stages import pipeline
from app.services.team_settings import timezone_names, user_timezone


def lead_page(lead, status: int = 200, **extra):
    """The whole lead page; `extra` goes to the appointments panel (a refused form, an open step)."""
    context = {"lead": lead, "note_form": NoteForm(), **page_context(lead, **extra)}
    return render_template("leads/show.html", **context), status


def page_context(lead, **extra) -> dict:
    """Everything on the lead page beside the lead and its note form."""
    return {**timeline_context(lead.id), "notes": timeline_service.notes(lead.id), "can_claim": lead.owner_id is None,
            "assign_form": AssignForm(owner=str(lead.owner_id or "")), "owner_choices": owner_choices(),
            "stages": pipeline(), **appointment_context(lead, **extra)}


def timeline_context(lead_id: int, before_id: int | None = None) -> dict:
    """A page of the timeline, with the decision of which merges still offer undo."""
    entries, more = timeline_service.timeline(lead_id, before_id=before_id)
    return {"entries": entries, "more_timeline": more, "undoable": merge_service.undoable(entries)}


def booking_form(submitted: bool = False) -> AppointmentForm:
    """The booking form: from the posted data, or empty with the member's timezone picked."""
    form = AppointmentForm() if submitted else AppointmentForm(formdata=None)
    form.timezone.choices = [(name, name) for name in timezone_names()]
    if not submitted:
        form.timezone.data = user_timezone(current_user)
    return form


def _prefilled(appointment) -> RescheduleForm:
    local = appointment_emails.in_zone(appointment.starts_at, user_timezone(current_user))
    form = RescheduleForm(formdata=None, prefix=f"a{appointment.id}", date=local.date(),
                          time=local.time().replace(second=0, microsecond=0), duration=appointment.duration_minutes,
                          location=appointment.location, note=appointment.note)
    form.keep_duration(appointment.duration_minutes)
    return form


def appointment_context(lead, booking=None, reschedule_forms=None, open_booking=False, cancel_forms=None) -> dict:
    """What the lead page's appointments panel needs: the list, the booking form, a form per open one."""
    appointments = appointment_service.for_lead(lead.id)
    forms = {a.id: _prefilled(a) for a in appointments if a.is_open}
    forms.update(reschedule_forms or {})
    zone = user_timezone(current_user)
    return {"appointments": appointments, "booking_form": booking or booking_form(),
            "reschedule_forms": forms, "open_booking": open_booking, "my_timezone": zone,
            "cancel_forms": cancel_forms or {},
            "describe": lambda a: appointment_emails.describe_time(a, zone)}
