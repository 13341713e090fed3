"""Won and lost at /settings/closing: the lost reasons people choose from, whether one is required,
and how long closed leads stay on the board."""
from __future__ import annotations

from flask_login import current_user
from flask import abort, flash, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from app.services import ServiceError, closing, team_settings
from app.settings import bp
from app.web import add_form_error, go, render


class ReasonForm(FlaskForm):
    name = StringField("Reason", validators=[DataRequired("Give the reason a name."), Length(max=closing.MAX_NAME)])


class ArchiveForm(FlaskForm):
    # The state wanted, not a toggle: a double-submitted Archive archives once and stays archived.
    archived = StringField(validators=[AnyOf(["0", "1"])])


class ClosingSettingsForm(FlaskForm):
    lost_reason_required = BooleanField("Require a reason when a lead is lost")
    board_closed_days = StringField("Keep won and lost leads on the board for (days)")


def _rename_form(reason, formdata=None) -> ReasonForm:
    return ReasonForm(formdata=formdata, prefix=f"reason{reason.id}", name=reason.name)


def _page(status: int = 200, add_form=None, settings_form=None, bad_row=None):
    current = team_settings.current()
    rows = [(reason, bad_row[1] if bad_row and bad_row[0] == reason.id else _rename_form(reason))
            for reason in closing.reasons(include_archived=True)]
    settings_form = settings_form or ClosingSettingsForm(
        formdata=None, lost_reason_required=bool(current.lost_reason_required),
        board_closed_days=str(current.board_closed_days or 30))
    return render("settings/closing.html", None, status, rows=rows, add_form=add_form or ReasonForm(formdata=None),
                  settings_form=settings_form, archive_form=ArchiveForm(formdata=None))


@bp.get("/closing")
def closing_settings():
    return _page()


@bp.post("/closing")
def save_closing_settings():
    form = ClosingSettingsForm()
    if form.validate_on_submit():
        try:
            closing.save_settings(form.lost_reason_required.data, form.board_closed_days.data,
                                  actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Saved the won and lost settings.", "success")
            return go(url_for("settings.closing_settings"), focus="closing-settings-form")
    return _page(422, settings_form=form)


@bp.post("/closing/reasons")
def add_lost_reason():
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            reason = closing.add_reason(form.name.data, actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Added the reason {reason.name}.", "success")
            return go(url_for("settings.closing_settings"), focus=f"reason-{reason.id}")  # focus lands on its row
    return _page(422, add_form=form)


@bp.post("/closing/reasons/<int:reason_id>")
def rename_lost_reason(reason_id: int):
    reason = closing.get_reason(reason_id)
    form = _rename_form(reason, request.form)
    if form.validate_on_submit():
        try:
            closing.rename_reason(reason.id, form.name.data, actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Renamed the reason to {form.name.data.strip()}.", "success")
            return go(url_for("settings.closing_settings"), focus=f"reason-{reason.id}")
    return _page(422, bad_row=(reason.id, form))


@bp.post("/closing/reasons/<int:reason_id>/archive")
def archive_lost_reason(reason_id: int):
    reason = closing.get_reason(reason_id)
    form = ArchiveForm()
    if not form.validate_on_submit():
        abort(400, description="Send archived=1 to archive the reason or archived=0 to restore it.")
    closing.archive_reason(reason.id, form.archived.data == "1", actor_id=current_user.id)
    flash(f"{'Archived' if reason.archived else 'Restored'} the reason {reason.name}.", "success")
    return go(url_for("settings.closing_settings"), focus=f"reason-{reason.id}-archive")
