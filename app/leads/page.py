"""The lead page's context, shared by the routes that render it: the lead's own (routes.py) and its
appointments panel's (appointments.py), which re-render the whole page when a form is refused.

Every list on it is a bounded first page with a "Show older" link (keyset on time and id), so the
page costs the same for a lead with five notes as for one with five thousand."""
from __future__ import annotations

from flask import render_template, request, url_for
from flask_login import current_user

from app.forms import task_form, task_rows_context
from app.leads.filters import owner_choices
from app.leads.forms import ActivityForm, AppointmentForm, AssignForm, EnrolForm, NoteForm, RescheduleForm, TagForm
from app.services import custom_fields as field_service
from app.services import tags as tag_service
from app.services import appointment_emails, appointments as appointment_service, merge as merge_service, timeline as timeline_service, utcnow
from app.services import permissions, tasks as task_service, trash, whole_number
from app.services import sequences as sequence_service, sla, touches
from app.services.stages import pipeline
from app.services.sequences import country_zones
from app.services.team_settings import team_timezone, user_timezone, zone_name, zone_options_version

# Suggested in the booking form before (or without) the full list of zones: the member's own and the
# team's come first.
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York", "America/Chicago",
                "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Singapore",
                "Asia/Tokyo", "Australia/Sydney")


def stage_version_kept(before: int) -> bool:
    """Whether a change saved from the lead page (a note, an activity, tags, a sequence) may hand
    the page's "Move to stage" form the lead's new version: only when the page held the version
    from just before this change (its forms send it along). Had a teammate changed the lead since
    the page loaded, the form keeps its old version, so the next move is refused, not a silent
    overwrite of their change."""
    return whole_number(request.form.get("version")) == before


def lead_page(lead, status: int = 200, **extra):
    """The whole lead page; `extra` goes to the appointments panel (a refused form, an open step)."""
    context = {"lead": lead, "note_form": NoteForm(), **page_context(lead, **extra)}
    return render_template("leads/show.html", **context), status


def page_context(lead, **extra) -> dict:
    """Everything on the lead page beside the lead and its note form."""
    return {**timeline_context(lead.id), **notes_context(lead.id), **tags_context(lead.id),
            "can_claim": lead.owner_id is None, "custom_details": custom_details(lead.id),
            "assign_form": AssignForm(owner=str(lead.owner_id or "")), "owner_choices": owner_choices(),
            "stages": pipeline(), "activity_form": ActivityForm(formdata=None), **touch_context(lead),
            **appointment_context(lead, **extra), **lead_tasks_context(lead), **sequences_context(lead),
            **privacy_context()}


def privacy_context() -> dict:
    """Who may delete the lead (services/trash.may_delete), export and erase the person's data (admins)."""
    return {"can_delete": trash.may_delete(current_user), "can_erase": bool(current_user.is_admin),
            "trash_days": trash.KEEP_DAYS}


def sequences_context(lead, form: EnrolForm | None = None) -> dict:
    """The sequences panel: the lead's current enrolments, its latest ended ones, and the enrol form
    (or a refused one). Two reads (three when it is in a running sequence), whatever the lead's history."""
    shown = sequence_service.for_lead(lead.id)
    choices = sequence_service.enrol_choices()
    form = form or EnrolForm(formdata=None)
    form.sequence_id.choices = [("", "Choose a sequence…")] + [(str(i), name) for i, name in choices]
    current = [e for e in shown if e.enrolment.ended_at is None]
    return {"zones": (zone_name(user_timezone(current_user)), zone_name(sequence_service.lead_zone(lead))) if current else None,
            "enrolments": current,
            "ended_enrolments": [e for e in shown if e.enrolment.ended_at is not None],
            "enrol_form": form, "can_enrol": bool(choices), "sequences_settings_url": url_for("settings.sequences")}


def lead_tasks_context(lead, form=None) -> dict:
    """The tasks panel: the lead's open tasks soonest first, and the add form (or a refused one)."""
    tasks, more = task_service.open_for_lead(lead.id)
    return {"tasks": tasks, "more_tasks": more, "task_form": form or task_form(lead, where="lead"),
            **task_rows_context("lead", url_for("leads.show", lead_id=lead.id))}


def touch_context(lead) -> dict:
    """The lead's touch facts: its first response ("4 min by Ana"), last touch, and stale flag."""
    now = utcnow()
    return {"first_response": touches.describe_first_response(lead),
            "stale": touches.is_stale(lead, lead.stage, now), "sla": sla.badge(lead, now)}


def custom_details(lead_id: int) -> list[tuple]:
    """(field, value or None) for every custom field, in the admins' order."""
    fields = field_service.active_fields()
    values = field_service.values_for([lead_id], fields)[lead_id]
    return [(custom, values.get(custom.key)) for custom in fields]


def timeline_context(lead_id: int, before_id: int | None = None) -> dict:
    """A page of the timeline, with the decision of which merges still offer undo."""
    entries, more = timeline_service.timeline(lead_id, before_id=before_id)
    return {"entries": entries, "more_timeline": more, "undoable": merge_service.undoable(entries)}


def tags_context(lead_id: int, form: TagForm | None = None, typed: str = "") -> dict:
    """The tags panel: the lead's tags, the add form, and the first suggestions for its box."""
    return {"tags": tag_service.tags_for([lead_id])[lead_id], "tag_form": form or TagForm(formdata=None),
            "tag_options": tag_service.suggestions(typed, visible_to=permissions.visible_to(current_user))}


def notes_context(lead_id: int, before_id: int | None = None) -> dict:
    """A page of the lead's notes, newest first."""
    notes, more = timeline_service.notes(lead_id, before_id=before_id)
    return {"notes": notes, "more_notes": more}


def booking_form(lead, submitted: bool = False) -> AppointmentForm:
    """The booking form: from the posted data, or empty with the prospect's likely timezone filled
    in (prospect_zone)."""
    form = AppointmentForm() if submitted else AppointmentForm(formdata=None)
    if not submitted:
        form.timezone.data = prospect_zone(lead)
    return form


def prospect_zone(lead) -> str:
    """The lead's country's zone when the whole country keeps one clock, else the member's."""
    return country_zones().get((lead.country or "").upper()) or user_timezone(current_user)


def reschedule_form(appointment, zone: str | None = None) -> RescheduleForm:
    """The form to move an open appointment, filled in with its time (in the member's timezone)."""
    local = appointment_emails.in_zone(appointment.starts_at, zone or user_timezone(current_user))
    form = RescheduleForm(formdata=None, prefix=f"a{appointment.id}", date=local.date(),
                          time=local.time().replace(second=0, microsecond=0), duration=appointment.duration_minutes,
                          location=appointment.location, note=appointment.note)
    form.keep_duration(appointment.duration_minutes)
    return form


def appointment_items_context(appointments, reschedule_forms=None, cancel_forms=None) -> dict:
    """What each shown appointment needs: the reschedule forms open (a refused one, or one opened
    without JavaScript; the others are fetched when opened), the cancel steps open, times described
    in the member's timezone."""
    zone, now = user_timezone(current_user), utcnow()
    return {"reschedule_forms": reschedule_forms or {}, "cancel_forms": cancel_forms or {}, "my_timezone": zone,
            "cancellable": {a.id for a in appointments if appointment_service.can_cancel(a, now)},
            "describe": lambda a: appointment_emails.describe_time(a, zone)}


def past_appointments_context(lead_id: int, before_id: int | None = None) -> dict:
    """A page of the lead's past appointments, the latest first (the "Show older" load)."""
    past, more = appointment_service.past(lead_id, before_id=before_id)
    return {"appointments": past, "more_appointments": more, **appointment_items_context(past)}


def appointment_context(lead, booking=None, reschedule_forms=None, open_booking=False, cancel_forms=None) -> dict:
    """The appointments panel: the upcoming ones, the latest past ones (older on demand), a form per
    open one shown, and the booking form."""
    now = utcnow()
    upcoming, more_upcoming = appointment_service.upcoming(lead.id, now)
    past, more_past = appointment_service.past(lead.id, now)
    shown = upcoming + past
    # A form refused (or a cancel step opened without JavaScript) on an older appointment: show it too.
    named = set(reschedule_forms or {}) | {i for i, form in (cancel_forms or {}).items() if form}
    pinned = [appointment_service.get_appointment(i) for i in sorted(named - {a.id for a in shown})]
    zone = user_timezone(current_user)
    return {"appointments": shown, "more_appointments": more_past, "pinned_appointments": pinned,
            "more_upcoming": more_upcoming, "appointments_upcoming": len(upcoming),
            "booking_form": booking or booking_form(lead), "open_booking": open_booking,
            # The full list's address names its content, so the browser may keep it for good.
            "timezone_options_url": url_for("leads.timezone_options", v=zone_options_version()),
            "timezone_options": list(dict.fromkeys((prospect_zone(lead), zone, team_timezone(), *COMMON_ZONES))),
            **appointment_items_context(shown + pinned, reschedule_forms, cancel_forms)}
