"""Email templates at /settings/templates: list, add, edit, with a live preview against a real lead."""
from __future__ import annotations

from flask import flash, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length

from app.services import ServiceError, email_templates as service, search, whole_number
from app.settings import bp
from app.web import add_form_error, go, render

# Generous: the service says what the real limits are, beside the field.
FIELD_MAX = {"name": 1000, "subject": 20_000, "body_html": 200_000}


class TemplateForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=FIELD_MAX["name"])])
    subject = StringField("Subject", validators=[Length(max=FIELD_MAX["subject"])])
    body_html = TextAreaField("Body (HTML)", validators=[Length(max=FIELD_MAX["body_html"])])
    preview_lead = StringField("Preview for the lead", validators=[Length(max=search.QUERY_LIMIT)])

    def settings(self) -> service.TemplateSettings:
        return service.TemplateSettings(self.name.data or "", self.subject.data or "", self.body_html.data or "")


def _preview(form: TemplateForm) -> dict:
    lead, note = service.preview_lead(form.preview_lead.data)
    try:
        rendered = service.preview(form.subject.data or "", form.body_html.data or "", lead, None)
        refused = None
    except ServiceError as exc:
        rendered, refused = None, exc.message
    return {"rendered": rendered, "refused": refused, "preview_for": lead, "preview_note": note}


def _editor(form: TemplateForm, template=None, status: int = 200, preview: dict | None = None):
    return render("settings/email_template_edit.html", "settings/_template_form.html", status, form=form,
                  template=template, variables=service.variable_names(), **(preview or _preview(form)))


@bp.get("/templates")
def email_templates():
    return render("settings/email_templates.html", None, templates=service.templates())


@bp.get("/templates/new")
def new_email_template():
    form = TemplateForm(formdata=None, subject="A note for {{ lead.first_name }}",
                        body_html="<p>Hello {{ lead.first_name }},</p>\n\n<p></p>\n\n<p>{{ owner.signature }}</p>")
    return _editor(form)


@bp.post("/templates")
def add_email_template():
    form = TemplateForm()
    if form.validate_on_submit():
        try:
            template = service.create_template(form.settings(), current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Saved the template {template.name}.", "success")
            return go(url_for("settings.email_templates"))
    return _editor(form, status=422)


@bp.get("/templates/<int:template_id>/edit")
def edit_email_template(template_id: int):
    template = service.get_template(template_id)
    return _editor(TemplateForm(formdata=None, obj=template), template)


@bp.post("/templates/<int:template_id>")
def update_email_template(template_id: int):
    template = service.get_template(template_id)
    form = TemplateForm()
    if form.validate_on_submit():
        try:
            service.update_template(template.id, form.settings(), actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Saved the template {form.name.data}.", "success")
            return go(url_for("settings.email_templates"))
    return _editor(form, template, 422)


@bp.post("/templates/preview")
def preview_email_template():
    """The preview panel for what is typed (nothing is saved); without JavaScript, the whole editor."""
    form = TemplateForm()
    form.validate_on_submit()
    template_id = whole_number(request.args.get("template"))
    template = service.get_template(template_id) if template_id else None
    return render("settings/email_template_edit.html", "settings/_template_preview.html", form=form,
                  template=template, variables=service.variable_names(), **_preview(form))
