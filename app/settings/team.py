"""Team settings at /settings/team: the team's timezone, the stage a booked appointment moves a lead
to, and the pool claim cap."""
from flask import flash, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Length, ValidationError

from app.services import ServiceError, stages as stage_service, team_settings, whole_number
from app.settings import bp
from app.web import add_form_error, go


class TeamSettingsForm(FlaskForm):
    timezone = SelectField("Team timezone", choices=[], validate_choice=False)
    appointment_stage = SelectField("When an appointment is booked, move the lead to", choices=[])
    pool_claim_cap = StringField("Pool claim cap (open leads per member)", validators=[Length(max=12)])
    ask_next_task = BooleanField("Ask for the next task when completing one")

    def validate_pool_claim_cap(self, field):
        text = (field.data or "").strip()
        if text and whole_number(text) is None:
            raise ValidationError("Enter a whole number such as 25, or leave it empty for no cap.")

    def cap(self) -> int | None:
        text = (self.pool_claim_cap.data or "").strip()
        return whole_number(text) if text else None


@bp.route("/team", methods=["GET", "POST"])
def team():
    current = team_settings.current()
    form = TeamSettingsForm(timezone=current.timezone, appointment_stage=str(current.appointment_stage_id or ""),
                            pool_claim_cap=str(current.pool_claim_cap or ""), ask_next_task=current.ask_next_task)
    form.timezone.choices = [(n, n) for n in team_settings.timezone_names()]
    form.appointment_stage.choices = [("", "Don't move it")] + [(str(s.id), s.name) for s in stage_service.pipeline()]
    if form.validate_on_submit():  # the stage must be one of the choices; the service checks it still exists
        stage = form.appointment_stage.data
        try:
            team_settings.save(form.timezone.data, int(stage) if stage else None, pool_claim_cap=form.cap(),
                               ask_next_task=form.ask_next_task.data)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Team settings saved.", "success")
            return go(url_for("settings.team"))
    return render_template("settings/team.html", form=form), 422 if form.is_submitted() else 200
