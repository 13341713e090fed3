"""The team at /settings/users: add a teammate, change a role, deactivate and reactivate, and set
anyone's availability (away until, working hours)."""
from flask import abort, flash, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from app.extensions import db
from app.forms import AvailabilityForm
from app.models import User
from app.services import ServiceError, availability as availability_service, team_settings, users as user_service
from app.settings import bp
from app.web import add_form_error, go, notice, render, wants_fragment

ROLES = [("member", "Member"), ("admin", "Admin")]


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter their email."), Length(max=254),
                                            Email("Enter a valid email address.")])
    name = StringField("Name", validators=[Length(max=120)])
    role = SelectField("Role", choices=ROLES)
    password = PasswordField("Starting password", validators=[DataRequired("Set a starting password."),
                                                              Length(max=256)])


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLES)


def _page(form: UserForm, status: int = 200):
    team = user_service.team(include_inactive=True)
    return render("settings/users.html", "settings/_user_form.html", status, form=form, users=team,
                  role_forms={user.id: RoleForm(formdata=None, role=user.role) for user in team},
                  away=availability_service.away_now(team))


@bp.get("/users")
def users():
    return _page(UserForm())


@bp.post("/users")
def add_user():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = user_service.create_user(form.email.data, form.password.data, form.role.data, form.name.data)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Added {user.name}. Give them their starting password in person.", "success")
            return go(url_for("settings.users"))
    return _page(form, 422)


def _changed(change, told):
    """Make a change to a teammate and say so; a refusal (the last admin) is told on the team page
    itself, which stays as it was."""
    try:
        user = change()
    except user_service.LastAdmin as exc:
        if wants_fragment():
            return notice(exc.message, exc.status, category="error")
        flash(exc.message, "error")
        return redirect(url_for("settings.users"))
    flash(told(user), "success")
    return go(url_for("settings.users"))


@bp.post("/users/<int:user_id>/role")
def change_role(user_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        raise ServiceError("Role must be admin or member.")
    return _changed(lambda: user_service.change_role(user_id, form.role.data),
                    lambda user: f"{user.name} is now {'an admin' if user.is_admin else 'a member'}.")


@bp.post("/users/<int:user_id>/deactivate")
def deactivate(user_id: int):
    return _changed(lambda: user_service.set_active(user_id, False),
                    lambda user: f"{user.name} can no longer sign in. Their leads stay assigned to them.")


@bp.post("/users/<int:user_id>/reactivate")
def reactivate(user_id: int):
    user = user_service.set_active(user_id, True)
    flash(f"{user.name} can sign in again.", "success")
    return go(url_for("settings.users"))


def _availability_page(user: User, form: AvailabilityForm, status: int = 200):
    return render("settings/availability.html", "_availability_form.html", status, user=user, availability=form,
                  action=url_for("settings.availability", user_id=user.id), whom=user.name,
                  zone=team_settings.user_timezone(user))


@bp.route("/users/<int:user_id>/availability", methods=["GET", "POST"])
def availability(user_id: int):
    """A teammate's "away until" date and working hours, as an admin sets them."""
    user = db.session.get(User, user_id) or abort(404)
    if request.method == "GET":
        form = AvailabilityForm(formdata=None)
        form.fill(user.away_until, availability_service.shifts_of(user))
        return _availability_page(user, form)
    form = AvailabilityForm()
    if form.validate_on_submit():
        try:
            availability_service.set_availability(user.id, form.away_until.data, form.shifts())
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Saved {user.name}'s availability.", "success")
            return go(url_for("settings.users"))
    return _availability_page(user, form, 422)
