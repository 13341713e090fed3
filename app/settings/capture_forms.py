"""Capture forms in settings: list, create, edit (with the hosted URL and embed snippets), switch, delete.

The admin check is the settings blueprint's before_request (app/settings/__init__.py)."""
from __future__ import annotations

from flask_login import current_user
from flask import current_app, flash, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.forms import entry_form
from app.services import ServiceError, consent, stages as stage_service, whole_number
from app.services import capture_forms as form_service, custom_fields as field_service, held_submissions as held_service
from app.services.leads import FIELD_LABELS
from app.settings import bp
from app.web import add_form_error, go, render

ASK_CHOICES = [("", "Don't ask"), ("optional", "Optional"), ("required", "Required")]


class CaptureFormForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the form a name."),
                                           Length(max=form_service.NAME_MAX)])
    slug = StringField("Address", validators=[Length(max=form_service.SLUG_MAX)])
    ask_first_name = SelectField(FIELD_LABELS["first_name"], choices=ASK_CHOICES, default="optional")
    ask_last_name = SelectField(FIELD_LABELS["last_name"], choices=ASK_CHOICES, default="optional")
    ask_email = SelectField(FIELD_LABELS["email"], choices=ASK_CHOICES, default="required")
    ask_phone = SelectField(FIELD_LABELS["phone"], choices=ASK_CHOICES, default="optional")
    ask_company = SelectField(FIELD_LABELS["company"], choices=ASK_CHOICES, default="")
    ask_job_title = SelectField(FIELD_LABELS["job_title"], choices=ASK_CHOICES, default="")
    ask_country = SelectField(FIELD_LABELS["country"], choices=ASK_CHOICES, default="")
    ask_region = SelectField(FIELD_LABELS["region"], choices=ASK_CHOICES, default="")
    ask_website = SelectField(FIELD_LABELS["website"], choices=ASK_CHOICES, default="")
    ask_description = SelectField("Message (kept as the lead's description)", choices=ASK_CHOICES, default="")
    default_source = StringField("Source for its leads", default="Web form", validators=[Length(max=100)])
    default_stage_id = SelectField("Stage for new leads", choices=[], validate_choice=False)
    thank_you_message = TextAreaField("Thank-you message", default=form_service.DEFAULT_THANKS,
                                      validators=[Length(max=form_service.MESSAGE_MAX)])
    redirect_url = StringField("Or send people to this page instead", validators=[Length(max=500)])
    tags = StringField("Tags for its leads", validators=[Length(max=4000)])
    consent_text = TextAreaField("Marketing consent checkbox", validators=[
        Length(max=consent.TEXT_MAX, message=f"Keep the consent text under {consent.TEXT_MAX:,} characters.")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields_errors: list[str] = []  # "which fields to ask" is a group, not one field
        self.default_stage_id.choices = [("", "First in the pipeline")] + [
            (str(s.id), s.name) for s in stage_service.pipeline()]

    def ask_fields(self):
        return [getattr(self, f"ask_{name}") for name in form_service.ASKABLE_FIELDS]

    custom_ids: list = []  # the custom fields editor_form() added an "ask" select for

    def ask_custom_fields(self):
        return [getattr(self, f"ask_cf_{field_id}") for field_id in self.custom_ids]

    def load(self, capture_form) -> None:
        """Fill the form from a saved capture form (GET of the edit page)."""
        asked = form_service.asked(capture_form)
        for name in form_service.ASKABLE_FIELDS:
            getattr(self, f"ask_{name}").data = asked.get(name, "")
        self.default_stage_id.data = str(capture_form.default_stage_id or "")
        self.redirect_url.data = capture_form.redirect_url or ""
        self.default_source.data = capture_form.default_source or ""
        self.tags.data = ", ".join(capture_form.tags or [])
        self.consent_text.data = capture_form.consent_text or ""
        asked_custom = form_service.asked_custom(capture_form)
        for field_id in self.custom_ids:
            getattr(self, f"ask_cf_{field_id}").data = asked_custom.get(field_id, "")

    def settings(self) -> form_service.FormSettings:
        return form_service.FormSettings(
            name=self.name.data or "", slug=self.slug.data or "",
            fields={name: getattr(self, f"ask_{name}").data for name in form_service.ASKABLE_FIELDS
                    if getattr(self, f"ask_{name}").data},
            default_source=self.default_source.data or "",
            default_stage_id=whole_number(self.default_stage_id.data),
            thank_you_message=self.thank_you_message.data or "", redirect_url=self.redirect_url.data or "",
            tags=self.tags.data or "", consent_text=self.consent_text.data or "",
            custom_fields={field_id: getattr(self, f"ask_cf_{field_id}").data for field_id in self.custom_ids
                           if getattr(self, f"ask_cf_{field_id}").data})

    def refused(self, exc: ServiceError) -> None:
        if exc.field == "fields":
            self.fields_errors.append(exc.message)
        else:
            add_form_error(self, exc)


def editor_form(**kwargs) -> CaptureFormForm:
    """The capture form editor with an "ask" choice for each custom field (none asked by default)."""
    fields = field_service.active_fields()

    class EditorForm(CaptureFormForm):
        pass

    for custom in fields:
        setattr(EditorForm, f"ask_cf_{custom.id}", SelectField(custom.label, choices=ASK_CHOICES, default=""))
    form = EditorForm(**kwargs)
    form.custom_ids = [custom.id for custom in fields]
    return form


def _base_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


def _share(capture_form) -> dict:
    """The hosted address and the two snippets an admin pastes into a website."""
    hosted = _base_url() + url_for("public.form_page", slug=capture_form.slug)
    plain = render_template("settings/_form_snippet.html", capture_form=capture_form, entry=entry_form(capture_form),
                            action=hosted, honeypot=form_service.honeypot(capture_form)).strip()
    iframe = render_template("settings/_form_iframe.html", capture_form=capture_form, src=hosted,
                             height=200 + 100 * len([*(capture_form.fields or []), *(capture_form.custom_fields or [])])).strip()
    return {"hosted_url": hosted, "iframe_snippet": iframe, "html_snippet": plain,
            "honeypot": form_service.honeypot(capture_form)}


def _editor(template: str, form: CaptureFormForm, capture_form=None, status: int = 200):
    extra = {}
    if capture_form is not None:
        extra = {**_share(capture_form), "lead_count": form_service.lead_count(capture_form.id),
                 "held_count": held_service.held_count(capture_form.id)}
    return render(template, "settings/_form_editor.html", status, form=form, capture_form=capture_form, **extra)


@bp.get("/forms")
def forms():
    return render_template("settings/forms.html", capture_forms=form_service.list_forms(), base_url=_base_url(),
                           held_counts=held_service.held_counts())


@bp.get("/forms/new")
def new_form():
    return _editor("settings/forms_new.html", editor_form(formdata=None))


@bp.post("/forms")
def create_form():
    form = editor_form()
    if form.validate_on_submit():
        try:
            capture_form = form_service.create_form(form.settings(), actor_id=current_user.id)
        except ServiceError as exc:
            form.refused(exc)
        else:
            flash(f"Created the form {capture_form.name}. Share its address or paste a snippet into your site.",
                  "success")
            return go(url_for("settings.edit_form", form_id=capture_form.id))
    return _editor("settings/forms_new.html", form, status=422)


@bp.get("/forms/<int:form_id>")
def edit_form(form_id: int):
    capture_form = form_service.get_form(form_id)
    form = editor_form(obj=capture_form, formdata=None)
    form.load(capture_form)
    return _editor("settings/forms_edit.html", form, capture_form)


@bp.post("/forms/<int:form_id>")
def update_form(form_id: int):
    capture_form = form_service.get_form(form_id)
    form = editor_form()
    if form.validate_on_submit():
        try:
            form_service.update_form(capture_form.id, form.settings(), actor_id=current_user.id)
        except ServiceError as exc:
            form.refused(exc)
        else:
            flash(f"Saved the form {form.name.data.strip()}.", "success")
            return go(url_for("settings.edit_form", form_id=form_id))
    capture_form = form_service.get_form(form_id)
    return _editor("settings/forms_edit.html", form, capture_form, 422)


@bp.post("/forms/<int:form_id>/activate")
def activate_form(form_id: int):
    capture_form = form_service.set_active(form_id, True, actor_id=current_user.id)
    flash(f"{capture_form.name} is live again at /f/{capture_form.slug}.", "success")
    return go(url_for("settings.forms"))


@bp.post("/forms/<int:form_id>/deactivate")
def deactivate_form(form_id: int):
    capture_form = form_service.set_active(form_id, False, actor_id=current_user.id)
    flash(f"{capture_form.name} is switched off: its page and snippets now say the form is not available.",
          "success")
    return go(url_for("settings.forms"))


@bp.route("/forms/<int:form_id>/delete", methods=["GET", "POST"])
def delete_form(form_id: int):
    capture_form = form_service.get_form(form_id)
    form = FlaskForm()
    if form.validate_on_submit():
        name = form_service.delete_form(capture_form.id, actor_id=current_user.id)
        flash(f"Deleted the form {name}. Its leads are kept.", "success")
        return go(url_for("settings.forms"))
    return render_template("settings/forms_delete.html", form=form, capture_form=capture_form,
                           lead_count=form_service.lead_count(capture_form.id))
