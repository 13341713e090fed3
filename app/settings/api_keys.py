"""Admins create, name and revoke API keys at /settings/api-keys (admin-only: the blueprint's require_admin in __init__.py)."""
from flask import flash, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.services import ServiceError, api_keys as key_service
from app.settings import bp
from app.web import add_form_error, go, render, wants_fragment, with_notice


class ApiKeyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the key a name, e.g. the tool that will use it."),
                                           Length(max=key_service.NAME_LIMIT,
                                                  message=f"Keep the name under {key_service.NAME_LIMIT} characters.")])
    role = SelectField("Role", choices=list(key_service.ROLES.items()), default="member")
    read_only = BooleanField("Read-only: it may read leads but not change anything")


def _page(form: ApiKeyForm, status: int = 200, **extra):
    response = render("settings/api_keys.html", "settings/_api_keys.html", status, form=form,
                      keys=key_service.list_keys(), **extra)
    if "secret" in extra:  # the key is on this page once; keep it out of every cache
        body, status, headers = response
        response = body, status, {**headers, "Cache-Control": "no-store"}
    return response


@bp.get("/api-keys")
def api_keys():
    return _page(ApiKeyForm())


@bp.post("/api-keys")
def create_api_key():
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            key, secret = key_service.create_key(form.name.data, created_by_id=current_user.id,
                                                 role=form.role.data, read_only=form.read_only.data)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            return with_notice(_page(ApiKeyForm(formdata=None), 201, new_key=key, secret=secret),
                               f"Created the API key {key.name}. Copy it now: it is shown only once.")
    return _page(form, 422)


@bp.post("/api-keys/<int:key_id>/revoke")
def revoke_api_key(key_id: int):
    key = key_service.revoke_key(key_id, actor_id=current_user.id)
    message = f"Revoked the API key {key.name}. Requests using it now get 401."
    if wants_fragment():
        return with_notice(_page(ApiKeyForm(formdata=None)), message)
    flash(message, "success")
    return go(url_for("settings.api_keys"))
