"""The prospect's side of an appointment: the pages behind the links in their email.

Opening a link (GET or HEAD, by a person or by a mail scanner, with or without JavaScript) only
shows the appointment; only pressing the button, a POST, changes it."""
from __future__ import annotations

from flask import render_template, request, url_for, redirect
from flask_wtf.csrf import CSRFError

from app.extensions import csrf, limiter
from app.models import AppointmentStatus
from app.public import bp
from app.services import ServiceError, appointment_emails, appointments as service
from app.services.leads import get_lead

LINK_RATE_LIMIT = "60/minute"

WORDING = {
    "confirm": {"title": "Confirm your appointment", "button": "Yes, I'll be there",
                "done": "You're confirmed. See you then!", "status": AppointmentStatus.confirmed.value},
    "cancel": {"title": "Cancel your appointment", "button": "Yes, cancel it",
               "done": "Your appointment is cancelled. We've let the team know.",
               "status": AppointmentStatus.cancelled.value},
    "reschedule": {"title": "Ask for another time", "button": "Ask for another time",
                   "done": "We've asked the team to find another time. They will be in touch.",
                   "status": AppointmentStatus.new_time_requested.value},
}


def _page(action: str, token: str, appointment=None, status: int = 200, problem: str | None = None,
          message: str = "", error: str | None = None):
    lead = get_lead(appointment.lead_id) if appointment is not None else None
    body = render_template("public/appointment.html", action=action, token=token, appointment=appointment,
                           first_name=(lead.first_name if lead else "") or "there", problem=problem,
                           wording=WORDING[action], message=message, error=error,
                           when=appointment_emails.describe_time(appointment) if appointment is not None else "",
                           answered=appointment is not None and appointment.status == WORDING[action]["status"],
                           cancelled=appointment is not None and appointment.status == AppointmentStatus.cancelled.value)
    # same-origin, not no-referrer: over HTTPS Flask-WTF's CSRF check needs our own Referer on the
    # press, and no other site is ever sent this page's address (it holds the token).
    return body, status, {"Cache-Control": "no-store", "Referrer-Policy": "same-origin",
                          "X-Robots-Tag": "noindex"}


def _show(action: str, token: str, **extra):
    try:
        appointment = service.read_link(token, action)
    except service.LinkReplaced as exc:
        return _page(action, token, exc.appointment, exc.status, exc.message)
    except ServiceError as exc:
        return _page(action, token, None, exc.status, exc.message)
    if appointment.status == AppointmentStatus.cancelled.value and action != "cancel":
        return _page(action, token, appointment, 409, service.AppointmentCancelled().message)
    return _page(action, token, appointment, **extra)


def _answer(action: str, token: str):
    try:
        csrf.protect()
    except CSRFError:
        return _show(action, token, status=400, error="This page was open too long or came from somewhere else. "
                                                      "Press the button again.")
    message = request.form.get("message", "") if action == "reschedule" else None
    try:
        service.answer(token, action, message)
    except ServiceError as exc:  # a bad, old or cancelled link: the page explains, with its 4xx
        if exc.field == "message":
            return _show(action, token, status=422, message=message or "", error=exc.message)
        return _show(action, token)
    return redirect(url_for(f"public.appointment_{action}", token=token), 303)


def _routes(action: str):
    @limiter.limit(LINK_RATE_LIMIT)
    def view(token: str):
        return _answer(action, token) if request.method == "POST" else _show(action, token)
    view.__name__ = f"appointment_{action}"
    bp.add_url_rule(f"/appointments/{action}/<token>", view.__name__, view, methods=["GET", "POST"])


for _action in appointment_emails.ACTIONS:
    _routes(_action)
