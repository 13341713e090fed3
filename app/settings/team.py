"""Team settings at /settings/team: the team's timezone and the stage a booked appointment moves a lead to."""
from flask import flash, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField

from app.services import ServiceError, stages as stage_service, team_settings
from app.settings import bp
from app.web import add_form_error, go


class TeamSettingsForm(FlaskForm):
    timezone = SelectField("Team timezone", choices=[], validate_choice=False)
    appointment_stage = SelectField("When an appointment is booked, move the lead to", choices=[])


@bp.route("/team", methods=["GET", "POST"])
def team():
    current = team_settings.current()
    form = TeamSettingsForm(timezone=current.timezone, appointment_stage=str(current.appointment_stage_id or ""))
    form.timezone.choices = [(n, n) for n in team_settings.timezone_names()]
    form.appointment_stage.choices = [("", "Don't move it")] + [(str(s.id), s.name) for s in stage_service.pipeline()]
    if form.validate_on_submit():  # the stage must be one of the choices; the service checks it still exists
        stage = form.appointment_stage.data
        try:
            team_settings.save(form.timezone.data, int(stage) if stage else None)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Team settings saved.", "success")
            return go(url_for("settings.team"))
    return render_template("settings/team.html", form=form), 422 if form.is_submitted() else 200
