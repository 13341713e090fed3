from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Regexp

from app.services.stages import COLOUR

KINDS = [("open", "Open (work in progress)"), ("won", "Won"), ("lost", "Lost")]


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter their email."), Length(max=254),
                                            Email("Enter a valid email address.")])
    name = StringField("Name", validators=[Length(max=120)])
    role = SelectField("Role", choices=[("member", "Member"), ("admin", "Admin")])
    password = PasswordField("Starting password", validators=[DataRequired("Set a starting password."),
                                                              Length(max=256)])


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[("member", "Member"), ("admin", "Admin")])


class StageForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the stage a name."), Length(max=60)])
    colour = StringField("Colour", default="#64748b",
                         validators=[Regexp(COLOUR, message="Pick a colour like #3b82f6.")])
    kind = SelectField("Kind", choices=KINDS)


class DeleteStageForm(FlaskForm):
    move_to = SelectField("Move its leads to", choices=[], validate_choice=False)


class TeamSettingsForm(FlaskForm):
    timezone = SelectField("Team timezone", choices=[], validate_choice=False)
    appointment_stage = SelectField("When an appointment is booked, move the lead to", choices=[])
