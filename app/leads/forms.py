from flask_wtf import FlaskForm
from wtforms import DateField, Form, HiddenField, TimeField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.forms import service_check
from app.services import whole_number
from app.models.lead import max_length
from app.services.appointments import DURATIONS
from app.services.lead_queries import SORTS
from app.services.leads import normalize_email, normalize_phone, normalize_value


class LeadForm(FlaskForm):
    first_name = StringField("First name", validators=[Length(max=max_length("first_name"))])
    last_name = StringField("Last name", validators=[Length(max=max_length("last_name"))])
    email = StringField("Email", validators=[Length(max=max_length("email")), service_check(normalize_email)])
    phone = StringField("Phone", validators=[Length(max=max_length("phone", typed=True)), service_check(normalize_phone)])
    company = StringField("Company", validators=[Length(max=max_length("company"))])
    job_title = StringField("Job title", validators=[Length(max=max_length("job_title"))])
    source = StringField("Source", validators=[Length(max=max_length("source"))])
    value = StringField("Deal value ($)", validators=[Length(max=20), service_check(normalize_value)])
    version = HiddenField()

    def validate_first_name(self, field):
        if not (field.data or "").strip() and not (self.last_name.data or "").strip() \
                and not (self.email.data or "").strip():
            raise ValidationError("Give the lead a name or an email address.")

    def lead_data(self) -> dict:
        return {name: getattr(self, name).data for name in
                ("first_name", "last_name", "email", "phone", "company", "job_title", "source", "value")}


class NewLeadForm(LeadForm):
    """Manual entry: the lead form plus its first tags (later ones are added on the lead page)."""

    tags = StringField("Tags (optional)")

    def lead_data(self) -> dict:
        return {**super().lead_data(), "tags": self.tags.data}


class NoteForm(FlaskForm):
    body = TextAreaField("Add a note", validators=[DataRequired("Write something in the note first."),
                                                   Length(max=10_000)])


class TagForm(FlaskForm):
    """Tags to add to a lead, as typed: the tag service decides what a tag may be."""

    tags = StringField("Add tags", validators=[DataRequired("Type a tag first.")])


class RemoveTagForm(FlaskForm):
    name = HiddenField(validators=[DataRequired()])


class AssignForm(FlaskForm):
    owner = SelectField("Owner", choices=[], validate_choice=False)


class BulkForm(FlaskForm):
    lead_ids = SelectMultipleField("Leads", coerce=int, validate_choice=False,
                                   validators=[DataRequired("Select at least one lead first.")])
    action = SelectField("Action", choices=[("assign", "Assign"), ("move", "Move"), ("tag", "Add tags"),
                                            ("untag", "Remove tags")])
    tags = StringField("Tags")
    owner = SelectField("Assign to", choices=[], validate_choice=False)
    stage = SelectField("Move to", choices=[], validate_choice=False)


class PoolFilterForm(Form):
    """The pool's query string. Plain Form: a GET changes nothing, so it carries no CSRF token."""

    q = StringField("Search", validators=[Optional(), Length(max=100)])
    stage = IntegerField("Stage", validators=[Optional()])
    owner = StringField("Owner", validators=[Optional(), Length(max=12)])
    source = StringField("Source", validators=[Optional(), Length(max=100)])
    tag = StringField("Tag", validators=[Optional(), Length(max=100)])
    sort = SelectField("Sort by", choices=[(k, k) for k in SORTS], default="created")
    dir = SelectField("Direction", choices=[("desc", "desc"), ("asc", "asc")], default="desc")

    def validate_owner(self, field):
        if field.data and field.data not in ("none", "me") and whole_number(field.data) is None:
            raise ValidationError("Owner must be a teammate, 'me' or 'none'.")


def duration_label(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} minutes"
    return f"{minutes // 60} h {minutes % 60} min".replace(" 0 min", "")


class AppointmentForm(FlaskForm):
    """Booking or moving an appointment: a wall-clock time in the member's timezone."""

    date = DateField("Date", validators=[DataRequired("Pick the day.")])
    time = TimeField("Start time", validators=[DataRequired("Pick the start time, e.g. 14:30.")])
    duration = SelectField("Duration", coerce=int, default=30,
                           choices=[(m, duration_label(m)) for m in DURATIONS])
    location = StringField("Location or video link", validators=[Length(max=500)])
    note = TextAreaField("Note for the prospect (optional)", validators=[Length(max=2000)])
    # Free text with suggestions (the page lists a few zones, fetching all on demand); the service
    # accepts any IANA zone and names the field when it is not one.
    timezone = StringField("Prospect's timezone", filters=[lambda value: value.strip() if value else value])


class RescheduleForm(AppointmentForm):
    """Moving one: any duration the service allows, since the API may have booked one not listed."""

    timezone = None
    duration = SelectField("Duration", coerce=int, choices=[(m, duration_label(m)) for m in DURATIONS],
                           validate_choice=False)

    def keep_duration(self, minutes: int) -> None:
        if minutes not in dict(self.duration.choices):
            self.duration.choices = sorted([*self.duration.choices, (minutes, duration_label(minutes))])


class CancelAppointmentForm(FlaskForm):
    """Cancelling from the lead page: an optional word for the prospect, sent in the cancellation email."""

    message = TextAreaField("Message for the prospect (optional)", validators=[Optional(), Length(max=1000)])
