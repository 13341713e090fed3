"""The suppression list at /settings/suppression: the addresses no email goes to but the ones a
person asked for; find one, add one by hand, take one off with a reason that stays on record."""
from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.services import ServiceError, suppression as service, whole_number
from app.settings import bp
from app.web import add_form_error, go, render

SEARCH_LIMIT = 254


class AddAddressForm(FlaskForm):
    # Checked by the service (suppression.clean_address), whose message lands beside the field.
    address = StringField("Email address", validators=[DataRequired("Enter an email address."),
                                                        Length(max=service.ADDRESS_LIMIT)])


class LiftForm(FlaskForm):
    reason = TextAreaField("Why may it be emailed again?", validators=[
        DataRequired("Say why the address may be emailed again; the reason is kept on record."),
        Length(max=service.REASON_LIMIT, message=f"Keep the reason under {service.REASON_LIMIT} characters.")])


def _page(form: AddAddressForm | None = None, status: int = 200):
    typed = request.args.get("q", "")[:SEARCH_LIMIT]
    listing = service.listing(typed, after_id=whole_number(request.args.get("after")))
    return render("settings/suppression.html", "settings/_suppression_list.html", status,
                  listing=listing, typed=typed, form=form or AddAddressForm(formdata=None),
                  reasons=service.REASON_WORDS)


@bp.get("/suppression")
def suppression():
    return _page()


@bp.post("/suppression")
def add_suppression():
    form = AddAddressForm()
    if form.validate_on_submit():
        try:
            entry = service.add_by_hand(form.address.data, current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Added {entry.address} to the suppression list: no more emails go to it.", "success")
            return go(url_for("settings.suppression"))
    return _page(form, 422)


@bp.route("/suppression/<int:entry_id>/remove", methods=["GET", "POST"])
def lift_suppression(entry_id: int):
    entry = service.get_entry(entry_id)
    form = LiftForm()
    status = 200
    if request.method == "POST":
        status = 409  # lifted meanwhile: the page says by whom
        if entry.removed_at is None and form.validate_on_submit():
            try:
                service.lift(entry.address, current_user.id, form.reason.data)
            except ServiceError as exc:
                add_form_error(form, exc)
            else:
                flash(f"Took {entry.shown} off the suppression list; emails go to it again.", "success")
                return go(url_for("settings.suppression"))
        if entry.removed_at is None:
            status = 422
    return render_template("settings/suppression_lift.html", entry=entry, form=form,
                           reasons=service.REASON_WORDS), status
