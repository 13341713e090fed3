"""Capture forms for prospects: the hosted page at /f/<slug>, framed or linked from any website, and
the POST that both it and the plain-HTML embed snippet send. No sign-in, no CSRF, no JavaScript."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from wtforms import Form

from app.extensions import limiter
from app.forms import entry_form
from app.models import CaptureForm
from app.public import bp
from app.services import ServiceError
from app.services import capture_forms as form_service, held_submissions as held_service
from app.services.capture import ORIGIN_LIMITS
from app.services.erasure import AddressErased
from app.web import add_form_error

TOKEN = "rendered"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")
MAX_BODY = 64 * 1024  # a filled-in form is a few kilobytes


# --- headers and pages ------------------------------------------------------------------------


def _frameable(body: str, status: int, capture_form: CaptureForm | None = None, **headers):
    """Any site may frame these pages, so they carry their own CSP (and hence no X-Frame-Options)."""
    form_action = "'self'"
    origin = form_service.redirect_origin(capture_form.redirect_url) if capture_form else None
    if origin:
        form_action += f" {origin}"  # Chromium checks form-action on the redirect after a POST too
    csp = (f"default-src 'self'; style-src 'self'; form-action {form_action}; frame-ancestors *; "
           "base-uri 'none'; object-src 'none'")
    return body, status, {"Content-Security-Policy": csp, **headers}


def _message(status: int, title: str, message: str, **headers):
    return _frameable(render_template("public/message.html", title=title, message=message), status, **headers)


def _not_found():
    return _message(404, "This form is not available",
                    "The form you are looking for has been switched off or its address has changed. "
                    "If you followed a link on a website, let the website's owner know.")


def _outside_referrer() -> str:
    """The Referer header if it names another site's page (our own form page tells us nothing)."""
    referrer = request.referrer or ""
    parts = urlsplit(referrer)
    if parts.scheme not in ("http", "https") or parts.netloc == request.host:
        return ""
    return referrer[:ORIGIN_LIMITS["referrer"]]


def _hidden(source) -> dict:
    """Where the visitor came from, carried through the form as hidden fields."""
    values = {name: (source.get(name) or "").strip()[:ORIGIN_LIMITS[name]] for name in UTM_FIELDS}
    values["referrer"] = (source.get("referrer") or "").strip()[:ORIGIN_LIMITS["referrer"]]
    return values


def _form_page(capture_form: CaptureForm, entry: Form, hidden: dict, token: str | None, status: int = 200,
               **headers):
    body = render_template("public/form.html", capture_form=capture_form, entry=entry, hidden=hidden,
                           token=token, honeypot=form_service.honeypot(capture_form))
    return _frameable(body, status, capture_form, **headers)


def _after_submit(capture_form: CaptureForm):
    """What a person, and a bot, sees after sending: the thank-you page or the admin's redirect."""
    target = capture_form.redirect_url or url_for("public.thanks", slug=capture_form.slug)
    response = redirect(target, 303)
    return _frameable(response, 303, capture_form)


# --- routes -----------------------------------------------------------------------------------


@bp.get("/f/<slug>")
def form_page(slug: str):
    capture_form = form_service.find_active_form(slug)
    if capture_form is None:
        return _not_found()
    hidden = _hidden(request.args)
    hidden["referrer"] = _outside_referrer()
    return _form_page(capture_form, entry_form(capture_form), hidden, form_service.rendered_token(capture_form.id))


def _rate_limit() -> str:
    return current_app.config["CAPTURE_RATE_LIMIT"]


@bp.post("/f/<slug>")
@limiter.limit(_rate_limit)
def submit_form(slug: str):
    capture_form = form_service.find_active_form(slug)
    if capture_form is None:
        return _not_found()
    request.max_content_length = MAX_BODY
    try:
        posted = request.form
    except RequestEntityTooLarge:
        return _message(413, "That was too much to send",
                        "The form could not be sent because it was far larger than any answer needs. "
                        "Go back, shorten what you typed, and send it again.")
    spam = form_service.spam_reason(capture_form.id, posted.get(form_service.honeypot(capture_form)), posted.get(TOKEN))
    if spam and spam != held_service.TOO_FAST:
        form_service.record_spam(capture_form.id)
        current_app.logger.info("Capture form %s: dropped a submission as spam (%s)", capture_form.id, spam)
        return _after_submit(capture_form)
    entry = entry_form(capture_form, posted)
    hidden = _hidden(posted)
    if entry.validate():
        origin = {**hidden, "referrer": hidden["referrer"] or _outside_referrer()}
        try:
            if spam:  # too fast for a person, or a quick one: held for an admin to release or discard
                held_service.hold(capture_form.id, entry.data, origin)
            else:
                form_service.submit(capture_form, entry.data, origin)
        except AddressErased:
            # A stranger must not learn that this address was a lead who asked to be erased: the
            # usual thanks, and nothing kept (the suppression list said no).
            current_app.logger.info("Capture form %s: did not capture an erased person's address", capture_form.id)
            return _after_submit(capture_form)
        except ServiceError as exc:
            add_form_error(entry, exc)
        else:
            return _after_submit(capture_form)
    # Keep the token the page was drawn with (a corrected answer is not "too fast"); none stays none.
    return _form_page(capture_form, entry, hidden, posted.get(TOKEN), 422)


@bp.get("/f/<slug>/thanks")
def thanks(slug: str):
    capture_form = form_service.find_active_form(slug)
    if capture_form is None:
        return _not_found()
    return _frameable(render_template("public/thanks.html", capture_form=capture_form), 200, capture_form)


@bp.errorhandler(429)
def too_many(exc):
    """Over the per-address limit: say so, and give a person back what they typed."""
    headers = {"Retry-After": "60"}
    message = "Too many forms were sent from your network just now. Wait a minute, then send it again."
    capture_form = (form_service.find_active_form((request.view_args or {}).get("slug", ""))
                    if request.endpoint == "public.submit_form" else None)
    if request.endpoint != "public.submit_form":  # an appointment or unsubscribe link
        message = "Too many requests came from your network just now. Wait a minute, then try again."
    if capture_form is None:
        return _message(429, "Too many requests", message, **headers)
    request.max_content_length = MAX_BODY
    try:
        posted = request.form
        entry = entry_form(capture_form, posted)
    except HTTPException:  # too large, or not readable (a NUL byte): the plain page, still a 429
        return _message(429, "Too many requests", message, **headers)
    entry.form_errors.append(message)
    return _form_page(capture_form, entry, _hidden(posted), posted.get(TOKEN), 429, **headers)
