"""Admins register webhook endpoints at /settings/webhooks, read each one's delivery log, resend a
delivery and send a test event (admin-only: the blueprint's require_admin in __init__.py)."""
from flask import flash, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, StringField

from app.services import ServiceError, whole_number, webhooks
from app.settings import bp
from app.web import add_form_error, go, render


class EndpointForm(FlaskForm):
    url = StringField("Address (URL)")
    description = StringField("Description (optional)")
    events = SelectMultipleField("Events to send", choices=list(webhooks.EVENTS.items()), validate_choice=False)
    enabled = BooleanField("On: send deliveries to this endpoint", default=True)
    allow_private = BooleanField("Allow private addresses (loopback, private networks, link-local)")

    def given(self) -> webhooks.EndpointInput:
        return webhooks.EndpointInput(url=self.url.data or "", events=list(self.events.data or []),
                                      description=self.description.data or "", enabled=self.enabled.data,
                                      allow_private=self.allow_private.data)


def _list(form: EndpointForm, status: int = 200):
    return render("settings/webhooks.html", None, status, form=form, endpoints=webhooks.endpoints(),
                  event_names=webhooks.EVENTS, rules=webhooks.delivery_rules(), span=span)


def span(seconds: float) -> str:
    """A wait as a person reads it: "30 seconds", "2 minutes", "1 hour", "about 22 hours"."""
    seconds = round(seconds)
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size)
            return f"{'about ' if seconds % size else ''}{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _one(endpoint, form: EndpointForm, status: int = 200):
    before = whole_number(request.args.get("before"))
    log, older = webhooks.delivery_log(endpoint.id, before_id=before)
    body, status, headers = render("settings/webhook.html", None, status, endpoint=endpoint, form=form, log=log,
                                   older=older, paged=before is not None, event_names=webhooks.EVENTS,
                                   rules=webhooks.delivery_rules(), span=span)
    return body, status, {**headers, "Cache-Control": "no-store"}  # the page can reveal the signing secret


@bp.get("/webhooks")
def webhook_endpoints():
    return _list(EndpointForm(formdata=None, events=["lead.created"]))


@bp.post("/webhooks")
def create_webhook():
    form = EndpointForm()
    if form.validate_on_submit():
        try:
            endpoint = webhooks.create_endpoint(form.given(), current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Added the endpoint {endpoint.url}. Give its signing secret (below) to the receiving side.",
                  "success")
            return go(url_for("settings.webhook", endpoint_id=endpoint.id), focus="signing-secret")
    return _list(form, 422)


@bp.get("/webhooks/<int:endpoint_id>")
def webhook(endpoint_id: int):
    endpoint = webhooks.get_endpoint(endpoint_id)
    form = EndpointForm(formdata=None, obj=endpoint)
    form.events.data = endpoint.event_list  # the column holds them as one string; obj would win over a keyword
    return _one(endpoint, form)


@bp.post("/webhooks/<int:endpoint_id>")
def update_webhook(endpoint_id: int):
    endpoint = webhooks.get_endpoint(endpoint_id)
    form = EndpointForm()
    if form.validate_on_submit():
        try:
            webhooks.update_endpoint(endpoint.id, form.given(), actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Saved the endpoint.", "success")
            return go(url_for("settings.webhook", endpoint_id=endpoint.id), focus="webhook-form")
    return _one(endpoint, form, 422)


@bp.post("/webhooks/<int:endpoint_id>/secret")
def rotate_webhook_secret(endpoint_id: int):
    webhooks.rotate_secret(endpoint_id, actor_id=current_user.id)
    flash("Made a new signing secret; deliveries from now on are signed with it. Give it to the receiving side.",
          "success")
    return go(url_for("settings.webhook", endpoint_id=endpoint_id), focus="signing-secret")


@bp.post("/webhooks/<int:endpoint_id>/test")
def test_webhook(endpoint_id: int):
    webhooks.send_test(endpoint_id)
    flash("Queued a test event. Its delivery shows in the log below in a moment (reload to see the answer).",
          "success")
    return go(url_for("settings.webhook", endpoint_id=endpoint_id), focus="delivery-log")


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
def resend_webhook(endpoint_id: int, delivery_id: int):
    webhooks.resend(endpoint_id, delivery_id)
    flash("Queued the delivery again; it shows at the top of the log.", "success")
    return go(url_for("settings.webhook", endpoint_id=endpoint_id), focus="delivery-log")


@bp.post("/webhooks/<int:endpoint_id>/delete")
def delete_webhook(endpoint_id: int):
    endpoint = webhooks.get_endpoint(endpoint_id)
    url = endpoint.url
    webhooks.delete_endpoint(endpoint.id, actor_id=current_user.id)
    flash(f"Removed the endpoint {url} and its delivery log.", "success")
    return go(url_for("settings.webhook_endpoints"))
