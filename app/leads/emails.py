"""Writing an email to a lead from its page: blank or started from a template, sent as the member."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user

from app.leads import bp
from app.leads.forms import LeadEmailForm
from app.services import ServiceError, email_templates, lead_emails, leads as lead_service, suppression, whole_number
from app.web import add_form_error, go, render

FORM_ALLOWANCE = 256 * 1024  # the subject, body and multipart framing beside the file


@bp.url_value_preprocessor
def allow_an_attachment(endpoint: str | None, values: dict | None) -> None:
    # Before CSRFProtect reads the form (which would refuse the body at the app-wide 2 MB): only
    # this route takes a body as large as an attachment; the service says when the file is too big.
    if endpoint == "leads.send_email":
        request.max_content_length = lead_emails.ATTACHMENT_LIMIT + FORM_ALLOWANCE


def _compose(lead, form: LeadEmailForm, status: int = 200):
    return render("leads/write_email.html", "leads/_email_form.html", status, lead=lead, form=form,
                  sender=lead_emails.sender_name(current_user), suppressed=suppression.listed_because(lead.email),
                  variables=email_templates.variable_names())


@bp.get("/<int:lead_id>/email")
def write_email(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    form = LeadEmailForm(formdata=None)
    form.fill_choices(lead_emails.template_choices())
    template_id, status = whole_number(request.args.get("template")), 200
    if template_id:
        form.template.data = str(template_id)
        try:
            form.subject.data, form.body.data = lead_emails.starting_text(template_id, lead.id, current_user.id)
        except ServiceError as exc:
            form.template.errors, status = [f"This template cannot be used for this lead: {exc.message}"], 422
    return _compose(lead, form, status)


@bp.post("/<int:lead_id>/email")
def send_email(lead_id: int):
    form = LeadEmailForm()
    form.fill_choices(lead_emails.template_choices())
    if form.validate_on_submit():
        try:
            row = lead_emails.send_lead_email(lead_id, current_user.id, form.subject.data, form.body.data, form.file())
        except lead_service.LeadNotFound:
            raise
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Your email to {row.to_address} is on its way; it is on the timeline.", "success")
            return go(url_for("leads.show", lead_id=lead_id))
    return _compose(lead_service.get_lead(lead_id), form, 422)
