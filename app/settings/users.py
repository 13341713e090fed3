"""The team at /settings/users: invite a teammate by email (resend, revoke), change a role,
deactivate (saying where their open leads go) and reactivate, and set anyone's availability."""
from flask import abort, flash, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length

from app.extensions import db
from app.forms import AvailabilityForm
from app.models import User
from app.services import (
    ServiceError, accounts, availability as availability_service, team_settings, users as user_service, whole_number,
)
from app.settings import bp
from app.web import add_form_error, go, render, wants_fragment

ROLES = [("member", "Member"), ("admin", "Admin")]
POOL = "pool"


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter their email."), Length(max=254),
                                            Email("Enter a valid email address.")],
                       filters=[lambda value: value.strip() if isinstance(value, str) else value])  # a pasted space
    name = StringField("Name (optional: they can change it)", validators=[Length(max=120)])
    role = SelectField("Role", choices=ROLES)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLES)


class DeactivateForm(FlaskForm):
    leads_to = SelectField("Their open leads go to", choices=[], validate_choice=False)

    def target(self) -> int | None:
        """The teammate chosen (None: the pool); a value that names nobody is refused by the service."""
        value = self.leads_to.data or POOL
        return None if value == POOL else whole_number(value) or -1


def _page(form: InviteForm, status: int = 200, refused: dict[int, str] | None = None):
    team, invitations = user_service.team(include_inactive=True), accounts.pending_invitations()
    return render("settings/users.html", "settings/_invite_form.html", status, form=form, users=team,
                  role_forms={user.id: RoleForm(formdata=None, role=user.role) for user in team},
                  refused=refused or {}, invitations=invitations, expired=accounts.expired_invitations(invitations),
                  away=availability_service.away_now(team))


@bp.get("/users")
def users():
    return _page(InviteForm())


@bp.post("/invitations")
def invite():
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation = accounts.invite(form.email.data, form.role.data, form.name.data, current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Invited {invitation.email}. The link in their email works for a week.", "success")
            return go(url_for("settings.users"), focus=f"invitation-{invitation.id}")
    return _page(form, 422)


@bp.post("/invitations/<int:invitation_id>/resend")
def resend_invitation(invitation_id: int):
    invitation = accounts.resend_invitation(invitation_id)
    flash(f"Sent the invitation to {invitation.email} again; the earlier link no longer works.", "success")
    return go(url_for("settings.users"), focus=f"invitation-{invitation.id}")


@bp.post("/invitations/<int:invitation_id>/revoke")
def revoke_invitation(invitation_id: int):
    invitation = accounts.revoke_invitation(invitation_id, actor_id=current_user.id)
    flash(f"Revoked the invitation to {invitation.email}: its link now says so.", "success")
    return go(url_for("settings.users"))


@bp.post("/users/<int:user_id>/role")
def change_role(user_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        raise ServiceError("Role must be admin or member.")
    try:
        user = user_service.change_role(user_id, form.role.data, actor_id=current_user.id)
    except user_service.LastAdmin as exc:
        # Beside the control, in the row (or the page, without JavaScript): 422, never an error page.
        user = db.session.get(User, user_id)
        if wants_fragment():
            return render_template("settings/_role_form.html", user=user, role_form=RoleForm(formdata=None, role=user.role),
                                   error=exc.message), 422
        return _page(InviteForm(formdata=None), 422, refused={user_id: exc.message})
    flash(f"{user.name} is now {'an admin' if user.is_admin else 'a member'}.", "success")
    return go(url_for("settings.users"), focus=f"user-{user.id}")


def _deactivate_page(user: User, form: DeactivateForm, status: int = 200):
    form.leads_to.choices = [(POOL, "The pool")] + [
        (str(mate.id), mate.name) for mate in user_service.team() if mate.id != user.id]
    return render_template("settings/deactivate.html", user=user, form=form,
                           open_leads=user_service.open_lead_count(user.id)), status


@bp.get("/users/<int:user_id>/deactivate")
def confirm_deactivate(user_id: int):
    """Asks first, and where the person's open leads go."""
    user = db.session.get(User, user_id) or abort(404)
    return _deactivate_page(user, DeactivateForm(formdata=None))


@bp.post("/users/<int:user_id>/deactivate")
def deactivate(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = DeactivateForm()
    if form.validate_on_submit():
        try:
            user, moved = user_service.deactivate(user_id, current_user.id, form.target())
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            where = "the pool" if form.target() is None else db.session.get(User, form.target()).name
            flash(f"{user.name} can no longer sign in. {moved} open lead{'' if moved == 1 else 's'} went to {where}.",
                  "success")
            return go(url_for("settings.users"), focus=f"user-{user.id}")
    return _deactivate_page(user, form, 422)


@bp.post("/users/<int:user_id>/reactivate")
def reactivate(user_id: int):
    user = user_service.set_active(user_id, True, actor_id=current_user.id)
    flash(f"{user.name} can sign in again.", "success")
    return go(url_for("settings.users"), focus=f"user-{user.id}")


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
