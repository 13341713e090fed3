from __future__ import annotations

from babel.numbers import get_currency_symbol
from flask_wtf import FlaskForm
from wtforms import FileField as PlainFileField
from wtforms import DateField, Form, HiddenField, RadioField, TimeField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.filters import MONEY_LOCALE, team_currency
from app.forms import FILTER_FORMS, NarrowingForm, custom_data, custom_form_value, custom_input, service_check
from app.services import custom_fields as field_service
from app.services import ServiceError, search, whole_number
from app.models.lead import EDITABLE_FIELDS, max_length
from app.services.activities import KINDS as ACTIVITY_KINDS, OUTCOMES
from app.services.appointments import DURATIONS
from app.services.countries import normalize_country
from app.services.lead_queries import RESPONSES, valid_sort
from app.services.lead_emails import ATTACHMENT_LIMIT, Attachment
from app.services.identity import IDENTIFYING_FIELDS, NOTHING_IDENTIFIES, identifies
from app.services.leads import NOTE_LIMIT, normalize_close_date, normalize_email, normalize_phone, normalize_value, normalize_website


class LeadForm(FlaskForm):
    first_name = StringField("First name", validators=[Length(max=max_length("first_name"))])
    last_name = StringField("Last name", validators=[Length(max=max_length("last_name"))])
    email = StringField("Email", validators=[Length(max=max_length("email")), service_check(normalize_email)])
    phone = StringField("Phone", validators=[Length(max=max_length("phone", typed=True)), service_check(normalize_phone)])
    company = StringField("Company", validators=[Length(max=max_length("company"))])
    job_title = StringField("Job title", validators=[Length(max=max_length("job_title"))])
    source = StringField("Source", validators=[Length(max=max_length("source"))])
    value = StringField("Deal value ($)", validators=[Length(max=20), service_check(normalize_value)])
    country = StringField("Country", validators=[Length(max=max_length("country", typed=True)), service_check(normalize_country)])
    region = StringField("Region", validators=[Length(max=max_length("region"))])
    street = TextAreaField("Street", validators=[Length(max=max_length("street"))], render_kw={"rows": 2})
    city = StringField("City", validators=[Length(max=max_length("city"))])
    postal_code = StringField("Postal code", validators=[Length(max=max_length("postal_code"))])
    website = StringField("Website", validators=[Length(max=max_length("website")), service_check(normalize_website)])
    description = TextAreaField("Description", validators=[Length(max=max_length("description"))],
                                render_kw={"rows": 4})
    # Text, not a DateField: the service's rule reads it (one message for form, API and import), and
    # a stale edit lists what was typed as typed.
    expected_close_on = StringField("Expected close date", validators=[
        Length(max=20, message="Enter the expected close date as a day, YYYY-MM-DD, e.g. 2026-12-31."),
        service_check(normalize_close_date)])
    version = HiddenField()
    custom_defs: list = []  # the custom fields lead_form() added, in order

    def custom_inputs(self) -> list:
        """(definition, bound field) for each custom field, for the template."""
        return [(custom, self[field_service.form_name(custom.key)]) for custom in self.custom_defs]

    def custom_data(self) -> dict:
        return custom_data(self, self.custom_defs)

    def load_custom(self, values: dict) -> None:
        """Fill the custom fields from a lead's stored values (field_service.values_for)."""
        for custom, bound in self.custom_inputs():
            value = values.get(custom.key)
            bound.data = custom_form_value(value) if value is not None else (
                [] if custom.kind == "multi_choice" else False if custom.kind == "checkbox" else "")

    def validate_first_name(self, field):
        if not identifies({name: getattr(self, name).data for name in IDENTIFYING_FIELDS}):
            raise ValidationError(NOTHING_IDENTIFIES)

    def lead_data(self) -> dict:
        return {name: getattr(self, name).data for name in EDITABLE_FIELDS}


RULES, ME, POOL = "rules", "me", "pool"


class NewLeadForm(LeadForm):
    """The new-lead form: the fields, its first tags (later ones are added on the lead page), and
    who owns the lead and where it starts.

    A post without `owner` (a script, an old page) means the rules: with none, the pool."""

    tags = StringField("Tags (optional)")
    owner = SelectField("Owner", choices=[], validate_choice=False)
    stage = SelectField("Stage", choices=[], validate_choice=False)

    def lead_data(self) -> dict:
        return {**super().lead_data(), "tags": self.tags.data}

    def offer(self, team, stages, rules_exist: bool, me_id: int) -> NewLeadForm:
        self.owner.choices = ([(RULES, "By the assignment rules")] if rules_exist else []) + [(ME, "Me")] + [
            (str(u.id), u.name) for u in team if u.id != me_id] + [(POOL, "The shared pool")]
        self.stage.choices = [(str(s.id), s.name) for s in stages]
        if not self.is_submitted():
            self.owner.data = RULES if rules_exist else ME
        elif not self.owner.data:
            self.owner.data = RULES
        return self

    def validate_country(self, field):
        """A country as a name or a code ("Germany", "de"), kept as the code leads hold."""
        try:
            field.data = normalize_country(field.data) or ""
        except ServiceError as exc:
            raise ValidationError(exc.message) from None

    def validate_owner(self, field):
        if field.data not in (RULES, ME, POOL) and whole_number(field.data) is None:
            raise ValidationError("Choose who owns the lead.")

    def validate_stage(self, field):
        if field.data and whole_number(field.data) is None:
            raise ValidationError("Choose a stage.")

    def ownership(self, me_id: int) -> tuple[int | None, bool]:
        """(owner id, whether the assignment rules choose) as picked."""
        choice = self.owner.data or RULES
        if choice == RULES:
            return None, True
        if choice == POOL:
            return None, False
        return (me_id if choice == ME else whole_number(choice)), False

    def stage_id(self) -> int | None:
        return whole_number(self.stage.data)


def lead_form(base: type[LeadForm] = LeadForm, **kwargs) -> LeadForm:
    """The lead form (or `base`, e.g. NewLeadForm) with today's custom fields after the built-in
    ones; required ones required."""
    fields = field_service.active_fields()

    class CustomLeadForm(base):
        pass

    for custom in fields:
        setattr(CustomLeadForm, field_service.form_name(custom.key), custom_input(custom, required=custom.required))
    form = CustomLeadForm(**kwargs)
    form.custom_defs = fields
    form.value.label.text = f"Deal value ({currency_symbol()})"  # the team's currency (Team settings)
    return form


def currency_symbol() -> str:
    """The team's currency as a label shows it: "$", "€", "CHF"."""
    return get_currency_symbol(team_currency(), locale=MONEY_LOCALE)


class NoteForm(FlaskForm):
    body = TextAreaField("Add a note", validators=[DataRequired("Write something in the note first."),
                                                   Length(max=10_000)])


class ActivityForm(FlaskForm):
    """A call, email or meeting to log; services/activities.clean decides what is valid, and its
    message lands beside the field it names."""
    # Ids of their own: the booking form on the same page has a "note" and a "duration" too.
    kind = RadioField("What happened", choices=list(ACTIVITY_KINDS.items()), default="call", validate_choice=False,
                      id="activity-kind")
    outcome = RadioField("How the call went", choices=list(OUTCOMES.items()), validate_choice=False,
                         id="activity-outcome")
    duration_minutes = StringField("Duration in minutes (optional)", id="activity-duration", validators=[Length(
        max=12, message="Give the duration in whole minutes, like 15.")])
    note = TextAreaField("Note (optional)", id="activity-note", validators=[Length(max=NOTE_LIMIT, message=(
        f"Keep the note under {NOTE_LIMIT:,} characters."))])

    def minutes(self) -> int | None:
        """The duration typed, as whole minutes (None if left empty); raises ServiceError beside it."""
        raw = (self.duration_minutes.data or "").strip()
        if not raw:
            return None
        number = whole_number(raw.removeprefix("-"))
        if number is None:
            raise ServiceError("Give the duration in whole minutes, like 15.", field="duration_minutes")
        return -number if raw.startswith("-") else number

    def outcome_given(self) -> str | None:
        """The outcome, for calls only: a choice left ticked before switching to email is not sent."""
        return self.outcome.data or None if self.kind.data == "call" else None


class TagForm(FlaskForm):
    """Tags to add to a lead, as typed: the tag service decides what a tag may be."""

    tags = StringField("Add tags", validators=[DataRequired("Type a tag first.")])


class RemoveTagForm(FlaskForm):
    name = HiddenField(validators=[DataRequired()])


class EnrolForm(FlaskForm):
    """Enrolling the lead in a sequence from its page; services/sequences decides who may be enrolled."""

    sequence_id = SelectField("Enrol in a sequence", choices=[], validate_choice=False, id="enrol-sequence",
                              validators=[DataRequired("Choose a sequence first.")])

    def sequence(self) -> int:
        """The chosen sequence's id; raises ServiceError beside the select when it is not one."""
        picked = whole_number(self.sequence_id.data or "")
        if picked is None:
            raise ServiceError("Choose one of the sequences in the list.", field="sequence_id")
        return picked


class EnrolMatchingForm(FlaskForm):
    """"Enrol all matching" in the pool's bulk bar: the sequence; the filters are in the address."""

    sequence = StringField("Enrol in sequence", validators=[DataRequired("Choose the sequence first."), Length(max=12)])


class AssignForm(FlaskForm):
    owner = SelectField("Owner", choices=[], validate_choice=False)


from app.models.task import KIND_LABELS as TASK_KINDS  # noqa: E402
from app.forms import DueDateField, DueTimeField  # noqa: E402


class BulkForm(FlaskForm):
    lead_ids = SelectMultipleField("Leads", coerce=int, validate_choice=False,
                                   validators=[DataRequired("Select at least one lead first.")])
    action = SelectField("Action", choices=[("assign", "Assign"), ("move", "Move"), ("tag", "Add tags"),
                                            ("untag", "Remove tags"), ("task", "Add task"),
                                            ("enrol", "Enrol in sequence")])
    sequence = StringField("Enrol in sequence", validators=[Optional(), Length(max=12)])
    # "Add task": the same task, owned by whoever adds it, on every selected lead.
    task_title = StringField("Task", validators=[Optional(), Length(max=200)])
    task_kind = SelectField("Kind of task", choices=list(TASK_KINDS.items()), default="call")
    task_due = DueDateField("Due", validators=[Optional()])
    task_time = DueTimeField("Due time", validators=[Optional()])
    tags = StringField("Tags")
    owner = SelectField("Assign to", choices=[], validate_choice=False)
    stage = SelectField("Move to", choices=[], validate_choice=False)
    # Moving to a won or lost stage closes every lead with the same details (services/closing.check):
    # the day, and for lost a reason (and note). Each won lead keeps its own value.
    closed_on = StringField("Won or lost on", validators=[Optional()])
    lost_reason = StringField("Why lost", validators=[Optional()])
    lost_note = StringField("Lost note", validators=[Optional()])


class PoolFilterForm(NarrowingForm):
    """The pool's query string: its own filters, those it shares with the board, and the order."""

    q = StringField("Search", validators=[Optional(), Length(max=search.QUERY_LIMIT)])
    stage = IntegerField("Stage", validators=[Optional()])
    owner = StringField("Owner", validators=[Optional(), Length(max=12)])
    source = StringField("Source", validators=[Optional(), Length(max=100)])
    country = StringField("Country", validators=[Optional(), Length(max=100)])
    next_step = SelectField("Next step", choices=[("", "Any"), ("none", "No next step"), ("overdue", "Overdue")],
                            default="")
    stale = SelectField("Stale only", choices=[("", "all"), ("1", "stale only")], default="")
    response = SelectField("First response", choices=[("", "Any"), *RESPONSES.items()], default="")
    sort = StringField("Sort by", default="created", validators=[Length(max=60)])
    dir = SelectField("Direction", choices=[("desc", "desc"), ("asc", "asc")], default="desc")

    def validate_sort(self, field):
        if field.data and not valid_sort(field.data):
            raise ValidationError("Sort by a column of the table.")

    def validate_country(self, field):
        """A country as a name or a code ("Germany", "de"), kept as the code leads hold."""
        try:
            field.data = normalize_country(field.data) or ""
        except ServiceError as exc:
            raise ValidationError(exc.message) from None

    def validate_owner(self, field):
        if field.data and field.data not in ("none", "me") and whole_number(field.data) is None:
            raise ValidationError("Owner must be a teammate, 'me' or 'none'.")


FILTER_FORMS["pool"] = PoolFilterForm


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


class LeadEmailForm(FlaskForm):
    """An email to the lead: the subject and body may use template variables; the service checks them."""
    template = SelectField("Start from a template", choices=[], validate_choice=False)
    subject = StringField("Subject", validators=[Length(max=300, message="Keep the subject to 300 characters.")])
    body = TextAreaField("Message", validators=[Length(max=20_000, message="Keep the email to 20,000 characters.")])
    # wtforms' own field: Flask-WTF's drops a file part without a name, which must be refused, not lost.
    attachment = PlainFileField("Attach a file (optional, up to 5 MB)")

    def fill_choices(self, templates: list[tuple[int, str]]) -> None:
        self.template.choices = [("", "A blank email")] + [(str(i), name) for i, name in templates]

    def file(self):
        """The attached file as the service takes it, or None when none was chosen."""
        storage = next((part for part in self.attachment.raw_data or [] if hasattr(part, "read")), None)
        if storage is None:
            return None
        data = storage.read(ATTACHMENT_LIMIT + 1)
        if not storage.filename and not data:  # the browser's empty part: no file chosen
            return None
        return Attachment(storage.filename or "", storage.mimetype or "", data)
