"""Custom lead fields at /settings/fields: add, edit (rename keeps the data), reorder, delete (asks
first; the values move to each lead's timeline)."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.models.fields import KIND_LABELS
from app.services import ServiceError, custom_fields as field_service
from app.settings import bp
from app.web import add_form_error, go, render, wants_fragment, with_notice


class FieldForm(FlaskForm):
    label = StringField("Label", validators=[DataRequired("Give the field a label."),
                                             Length(max=field_service.LABEL_MAX)])
    key = StringField("Key", validators=[Length(max=field_service.KEY_MAX)])
    kind = SelectField("Kind", choices=list(KIND_LABELS.items()), default="text")
    help_text = StringField("Help text", validators=[Length(max=field_service.HELP_MAX)])
    choices = TextAreaField("Options")
    required = BooleanField("Required on the lead form")
    show_on_card = BooleanField("Show on board cards")
    confirm_removal = BooleanField("Yes, remove these options from the leads holding them")

    def settings(self) -> field_service.FieldSettings:
        return field_service.FieldSettings(
            label=self.label.data or "", key=self.key.data or "", kind=self.kind.data or "",
            help_text=self.help_text.data or "", required=self.required.data, show_on_card=self.show_on_card.data,
            choices=(self.choices.data or "").splitlines())

    def load(self, custom) -> None:
        self.choices.data = "\n".join(custom.choices or [])


class DeleteFieldForm(FlaskForm):
    pass


def _page(form: FieldForm | None = None, status: int = 200, **extra):
    return render("settings/fields.html", "settings/_field_list.html", status,
                  form=form or FieldForm(formdata=None), fields=field_service.active_fields(),
                  max_fields=field_service.MAX_FIELDS, **extra)


def refused_on_list(message: str):
    """The field list with a refusal at its top, 422 (app/settings/refusals.py); htmx swaps it in place
    of whatever the post targeted."""
    body, status, headers = _page(status=422, refused=message)
    return body, status, {**headers, "HX-Retarget": "#field-list-wrap", "HX-Reswap": "outerHTML"}


@bp.get("/fields")
def fields():
    return _page()


@bp.post("/fields")
def add_field():
    form = FieldForm()
    if form.validate_on_submit():
        try:
            custom = field_service.create_field(form.settings(), actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Added the field {custom.label}.", "success")
            return go(url_for("settings.fields"), focus=f"field-{custom.id}")  # focus lands on its row
    return render("settings/fields.html", "settings/_field_form.html", 422, form=form,
                  fields=field_service.active_fields(), max_fields=field_service.MAX_FIELDS)


@bp.get("/fields/<int:field_id>/edit")
def edit_field(field_id: int):
    custom = field_service.get_field(field_id)
    form = FieldForm(obj=custom)
    form.load(custom)
    return render("settings/edit_field.html", "settings/_field_form.html", field=custom, form=form)


@bp.post("/fields/<int:field_id>")
def update_field(field_id: int):
    custom = field_service.get_field(field_id)
    form = FieldForm()
    form.kind.data = custom.kind  # the kind never changes: the values are stored by kind
    ask_removal = False
    if form.validate_on_submit():
        try:
            field_service.update_field(custom.id, form.settings(), current_user.id,
                                       confirm_removal=form.confirm_removal.data)
        except ServiceError as exc:
            add_form_error(form, exc)
            ask_removal = isinstance(exc, field_service.ConfirmNeeded)
        else:
            flash(f"Saved the field {form.label.data}.", "success")
            return go(url_for("settings.fields"), focus=f"field-{custom.id}")
    return render("settings/edit_field.html", "settings/_field_form.html", 422, field=custom, form=form,
                  ask_removal=ask_removal)


@bp.post("/fields/<int:field_id>/move")
def shift_field(field_id: int):
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        raise ServiceError("Move a field up or down.")
    field_service.shift(field_id, -1 if direction == "up" else 1)
    if not wants_fragment():
        return redirect(url_for("settings.fields"))
    custom = field_service.get_field(field_id)
    return with_notice(_page(focus=f"field-{custom.id}-{direction}"), f"Moved {custom.label} {direction}.")


@bp.route("/fields/<int:field_id>/delete", methods=["GET", "POST"])
def delete_field(field_id: int):
    custom = field_service.get_field(field_id)
    form = DeleteFieldForm()
    if form.validate_on_submit():
        label = field_service.delete_field(custom.id, current_user.id)
        flash(f"Deleted the field {label}. Each lead's value is kept on its timeline.", "success")
        return go(url_for("settings.fields"))
    return render("settings/delete_field.html", None, field=custom, form=form,
                  count=field_service.leads_with_value(custom.id))
