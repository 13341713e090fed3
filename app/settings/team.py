"""Team settings at /settings/team: the team's timezone, the stage a booked appointment moves a lead
to, the pool claim cap, the team's identity (name, logo, accent colour, currency, From address) and
what members may do."""
from flask_login import current_user
from flask import flash, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, ColorField, EmailField, HiddenField, SelectField, StringField
from wtforms import FileField as PlainFileField
from wtforms.validators import Length, ValidationError

from app.services import ServiceError, permissions, stages as stage_service, team_settings, whole_number
from app.settings import bp
from app.web import add_form_error, go


class TeamSettingsForm(FlaskForm):
    timezone = SelectField("Team timezone", choices=[], validate_choice=False)
    appointment_stage = SelectField("When an appointment is booked, move the lead to", choices=[])
    pool_claim_cap = StringField("Pool claim cap (open leads per member)", validators=[Length(max=12)])
    ask_next_task = BooleanField("Ask for the next task when completing one")
    sequences_need_consent = BooleanField("Sequences enrol only leads that gave marketing consent")
    team_name = StringField("Team name", validators=[Length(max=team_settings.TEAM_NAME_MAX)])
    # wtforms' own field: Flask-WTF's drops a file part without a name, which must be refused, not lost.
    logo = PlainFileField("Logo (PNG, JPEG or WebP, up to 1 MB)")
    remove_logo = BooleanField("Remove the logo")
    accent_colour = ColorField("Accent colour")
    currency = SelectField("Currency", choices=[], validate_choice=False)  # the service names a bad one
    mail_from = EmailField("Emails come from", validators=[Length(max=254)])
    # What members may do (services/permissions.py); the hidden field says the switches were on the
    # form, so a post without them (a script setting the timezone) leaves them as they are.
    permissions_shown = HiddenField(default="1")
    allow_see_all_leads = BooleanField(permissions.ACTIONS["see_all_leads"][1])
    allow_reassign = BooleanField(permissions.ACTIONS["reassign"][1])
    allow_merge = BooleanField(permissions.ACTIONS["merge"][1])
    allow_import = BooleanField(permissions.ACTIONS["import"][1])
    allow_export = BooleanField(permissions.ACTIONS["export"][1])
    allow_delete = BooleanField(permissions.ACTIONS["delete"][1])

    def member_permissions(self) -> dict[str, bool] | None:
        """{action: allowed} as ticked, or None when the post did not carry the switches."""
        if "permissions_shown" not in request.form:
            return None
        return {action: bool(self[f"allow_{action}"].data) for action in permissions.ACTIONS}

    def validate_pool_claim_cap(self, field):
        text = (field.data or "").strip()
        if text and whole_number(text) is None:
            raise ValidationError("Enter a whole number such as 25, or leave it empty for no cap.")

    def cap(self) -> int | None:
        text = (self.pool_claim_cap.data or "").strip()
        return whole_number(text) if text else None

    def identity(self) -> team_settings.IdentityChange | None:
        """The identity fields as the service takes them (the logo's bytes, or None: keep it); None
        when the post has none of them (a script setting the timezone alone leaves them be)."""
        if not any(name in request.form for name in ("team_name", "currency", "accent_colour", "mail_from")):
            return None
        storage = next((part for part in self.logo.raw_data or [] if hasattr(part, "read")), None)
        data = storage.read(team_settings.LOGO_LIMIT + 1) if storage is not None else b""
        chosen = storage is not None and bool(storage.filename)  # no file chosen: an empty part without a name
        return team_settings.IdentityChange(self.team_name.data, self.accent_colour.data, self.currency.data,
                                            self.mail_from.data, data if data or chosen else None,
                                            self.remove_logo.data)


@bp.url_value_preprocessor
def allow_a_logo(endpoint: str | None, values: dict | None) -> None:
    # Before CSRFProtect reads the form (which would refuse the body at the app-wide 2 MB): a logo
    # too large is refused beside its field by the service, not by a bare 413.
    if endpoint == "settings.team":
        request.max_content_length = LOGO_ALLOWANCE


LOGO_ALLOWANCE = 4 * 1024 * 1024  # a logo a few times too large still gets its message


@bp.route("/team", methods=["GET", "POST"])
def team():
    current = team_settings.current()
    form = TeamSettingsForm(timezone=current.timezone, appointment_stage=str(current.appointment_stage_id or ""),
                            pool_claim_cap=str(current.pool_claim_cap or ""), ask_next_task=current.ask_next_task,
                            sequences_need_consent=bool(current.sequences_need_consent),
                            team_name=current.team_name or "", currency=current.currency or "USD",
                            accent_colour=current.accent_colour or team_settings.DEFAULT_ACCENT,
                            mail_from=current.mail_from or "",
                            **{f"allow_{action}": allowed for action, allowed in permissions.member_settings().items()})
    form.timezone.choices = team_settings.zone_choices(keep=current.timezone)
    form.currency.choices = team_settings.currencies()
    form.appointment_stage.choices = [("", "Don't move it")] + [(str(s.id), s.name) for s in stage_service.pipeline()]
    if form.validate_on_submit():  # the stage must be one of the choices; the service checks it still exists
        stage = form.appointment_stage.data
        try:
            team_settings.save(form.timezone.data, int(stage) if stage else None, pool_claim_cap=form.cap(),
                               ask_next_task=form.ask_next_task.data, identity=form.identity(),
                               actor_id=current_user.id,
                               sequences_need_consent=form.sequences_need_consent.data,
                               member_permissions=form.member_permissions())
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Team settings saved.", "success")
            return go(url_for("settings.team"))
    return render_template("settings/team.html", form=form, identity=team_settings.identity(),
                           server_address=team_settings.configured_address()), 422 if form.is_submitted() else 200
