"""Form pieces more than one area uses: a service's normaliser as a field validator (the lead form,
the capture form), a person's availability (their account page, and admins' team settings), and a capture form's entry form (the public page takes it, settings shows its
snippet). Each area's own forms stay in its `forms.py`."""
from __future__ import annotations

import re
from datetime import time

from flask_wtf import FlaskForm
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask_login import current_user
from wtforms import (
    BooleanField, DateField, EmailField, Form, HiddenField, SelectField, SelectMultipleField, StringField, TelField,
    TextAreaField, TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app.models import CaptureForm, CustomField, FieldKind
from app.models.lead import max_length
from app.services import ServiceError, whole_number
from app.services import custom_fields as field_service
from app.services.conditions import kind_ops, op_choices
from app.services.lead_queries import field_filter
from app.services.countries import normalize_country
from app.models.task import KIND_LABELS
from app.services import tasks as task_service
from app.services.team_settings import user_timezone
from app.services.users import team
from app.services.leads import FIELD_LABELS, normalize_email, normalize_phone, normalize_website

# autocomplete token, input type, message when a required one is left empty
PROMPTS = {
    "first_name": ("given-name", StringField, "Enter your first name."),
    "last_name": ("family-name", StringField, "Enter your last name."),
    "email": ("email", EmailField, "Enter your email address."),
    "phone": ("tel", TelField, "Enter your phone number."),
    "company": ("organization", StringField, "Enter your company's name."),
    "job_title": ("organization-title", StringField, "Enter your job title."),
    "country": ("country-name", StringField, "Enter your country."),
    "region": ("address-level1", StringField, "Enter your state, province or region."),
    "website": ("url", StringField, "Enter your website."),
    "description": ("off", TextAreaField, "Tell us what you need."),
}
# What a prospect reads where the team's own word would be odd ("Description" of themselves).
PUBLIC_LABELS = {"description": "Your message"}
INPUT_KINDS = {"website": {"type": "url", "inputmode": "url"},
               "country": {"list": "country-names"}}  # the form's template adds the suggestions


def service_check(normalizer):
    """Run one of the service's normalisers as a field validator, so form and API agree."""
    def check(form, field):
        try:
            normalizer(field.data)
        except ServiceError as exc:
            raise ValidationError(exc.message) from None
    return check


# How each kind of custom field is typed in: (input type, inputmode) for the text-like ones.
CUSTOM_INPUTS = {
    FieldKind.text.value: ("text", None), FieldKind.url.value: ("url", "url"),
    FieldKind.number.value: ("text", "decimal"), FieldKind.money.value: ("text", "decimal"),
    FieldKind.date.value: ("date", None),
}


def _custom_check(custom: CustomField, required: bool):
    """The service's rule for this field's values (clean_value) as a field validator."""
    def check(form, field):
        try:
            value = field_service.clean_value(custom, field.data)
        except ServiceError as exc:
            raise ValidationError(exc.message) from None
        if required and value in (None, False):
            raise ValidationError(f"{'Tick' if custom.kind == FieldKind.checkbox.value else 'Fill in'} "
                                  f"{custom.label}: it is required.")
    return check


def custom_input(custom: CustomField, *, required: bool, label_suffix: str = ""):
    """An unbound WTForms field for a custom field, named in forms by field_service.form_name(key)."""
    label, check = custom.label + label_suffix, [_custom_check(custom, required)]
    kind, described = custom.kind, custom.help_text or None
    if kind == FieldKind.checkbox.value:
        return BooleanField(label, validators=check, description=described)
    if kind == FieldKind.long_text.value:
        return TextAreaField(label, validators=check, description=described)
    if kind == FieldKind.choice.value:
        return SelectField(label, choices=[("", "Choose…")] + [(c, c) for c in custom.choices or []],
                           validate_choice=False, validators=check, description=described)
    if kind == FieldKind.multi_choice.value:
        return SelectMultipleField(label, choices=[(c, c) for c in custom.choices or []], validate_choice=False,
                                   validators=check, description=described)
    input_type, mode = CUSTOM_INPUTS.get(kind, ("text", None))
    render_kw = {"type": input_type, **({"inputmode": mode} if mode else {})}
    return StringField(label, validators=check, description=described, render_kw=render_kw)


def custom_form_value(value):
    """A stored custom value as a form field holds it (the edit form's starting values)."""
    if isinstance(value, (list, bool)):
        return value
    return field_service.json_value(value)


class _NotConsent:
    """BooleanField's false_values as a test: anything but the checkbox's own "y" is no consent
    (BooleanField reads a repeated field's first value)."""

    def __contains__(self, value) -> bool:
        return value != "y"


_NOT_CONSENT = _NotConsent()


def entry_form(capture_form: CaptureForm, formdata=None) -> Form:
    """A WTForms form with the fields this capture form asks for, in its order. A plain Form, no CSRF:
    prospects post it from other websites (see app/public/__init__.py)."""
    class EntryForm(Form):
        custom_defs: list = []

        def custom_inputs(self) -> dict:
            """{input name: definition} of the custom fields asked, for the template."""
            return {field_service.form_name(custom.key): custom for custom in self.custom_defs}

    for spec in capture_form.fields or []:
        name = spec["name"]
        if name not in PROMPTS:
            continue
        autocomplete, kind, missing = PROMPTS[name]
        label = PUBLIC_LABELS.get(name, FIELD_LABELS[name]) + ("" if spec.get("required") else " (optional)")
        limit = max_length(name, typed=True)
        validators = [DataRequired(missing) if spec.get("required") else Optional(),
                      Length(max=limit, message=f"Keep this under {limit} characters.")]
        if name == "email":
            validators.append(service_check(normalize_email))
        elif name == "phone":
            validators.append(service_check(normalize_phone))
        elif name == "country":
            validators.append(service_check(normalize_country))
        elif name == "website":
            validators.append(service_check(normalize_website))
        setattr(EntryForm, name, kind(label, validators=validators,
                                      render_kw={"autocomplete": autocomplete, **INPUT_KINDS.get(name, {})}))
    asked = []
    for custom, required in field_service.form_custom_fields(capture_form):
        setattr(EntryForm, field_service.form_name(custom.key),
                custom_input(custom, required=required, label_suffix="" if required else " (optional)"))
        asked.append(custom)
    if capture_form.consent_text:  # services/consent.py: the admin's words, never ticked in advance
        # Only the box's own value is a yes ("n", "off", "0" or a repeated field are not consent).
        setattr(EntryForm, "marketing_consent", BooleanField(capture_form.consent_text, false_values=_NOT_CONSENT))
    form = EntryForm(formdata)
    form.custom_defs = asked
    return form


def custom_data(form, fields: list[CustomField]) -> dict:
    """{key: what was typed} for these custom fields of a submitted form."""
    return {custom.key: form[field_service.form_name(custom.key)].data for custom in fields}


class ConditionFields:
    """The three controls of a rule's condition (services/conditions.py): mix into a rule's
    FlaskForm, call `fill_condition_choices()` before validating, read `condition()` after.
    The service checks the condition (conditions.check) and names the control to mark."""

    condition_field = SelectField("When", choices=[], validate_choice=False)
    condition_op = SelectField("Test", choices=[], validate_choice=False)
    condition_value = StringField("Value", validators=[Optional(), Length(max=2000)])

    def fill_condition_choices(self, field_choices: list[tuple[str, str, str]]) -> None:
        """Offer these fields (conditions.field_choices()) and every operator; each option says
        which kind it is or fits, so the page can narrow the operators to the chosen field."""
        fits: dict[str, list[str]] = {}
        for kind, ops in kind_ops().items():
            for op in ops:
                fits.setdefault(op, []).append(kind)
        self.condition_field.choices = [("", "Choose a field…")] + [
            (value, label, {"data-kind": kind}) for value, label, kind in field_choices]
        self.condition_op.choices = [("", "Choose a test…")] + [
            (op, label, {"data-kinds": " ".join(fits.get(op, []))}) for op, label in op_choices()]

    def condition(self) -> dict:
        return {"field": self.condition_field.data, "op": self.condition_op.data, "value": self.condition_value.data}

    def show_condition(self, cond: dict, describe_value) -> None:
        """Put a stored condition back into the controls (describe_value: its value as typed)."""
        self.condition_field.data, self.condition_op.data = cond.get("field"), cond.get("op")
        self.condition_value.data = describe_value(cond)


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ClockField(TimeField):
    """A time of day (HH:MM) whose parse error says what to type."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Enter a time as hours and minutes, e.g. 09:00 or 17:30.") from None


class DayField(DateField):
    """A calendar day (YYYY-MM-DD, as date inputs send it) whose parse error says what to type."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Enter a date such as 2026-12-24, or leave it empty.") from None


class AvailabilityForm(FlaskForm):
    """A person's last day away and their working hours per weekday, in their own timezone."""

    away_until = DayField("Away until (last day away)", validators=[Optional()])

    def days(self):
        """(weekday name, start field, end field) for each day of the week, Monday first."""
        return [(name, self[f"day{d}_start"], self[f"day{d}_end"]) for d, name in enumerate(WEEKDAYS)]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for name, start, end in self.days():
            if bool(start.data) != bool(end.data) and not (start.errors or end.errors):
                start.errors = [*start.errors, f"Give {name} both a start and an end time, or neither."]
                valid = False
        return valid

    def shifts(self) -> dict[int, tuple[time, time]]:
        return {d: (start.data, end.data) for d, (_, start, end) in enumerate(self.days())
                if start.data and end.data}

    def fill(self, away_until, shifts: dict[int, tuple[time, time]]) -> None:
        self.away_until.data = away_until
        for d, (start, end) in shifts.items():
            self[f"day{d}_start"].data, self[f"day{d}_end"].data = start, end


for _day, _name in enumerate(WEEKDAYS):
    setattr(AvailabilityForm, f"day{_day}_start", ClockField(f"{_name} from", validators=[Optional()]))
    setattr(AvailabilityForm, f"day{_day}_end", ClockField(f"{_name} to", validators=[Optional()]))
del _day, _name


# --- due dates and times (tasks) ---

FIVE_DIGIT_YEAR = re.compile(r"^\s*[0-9]{5,}-")


class DueDateField(DateField):
    """A date as YYYY-MM-DD, with a message that says so (and names a year past 9999 as out of range)."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raw = " ".join(valuelist or [])
            if FIVE_DIGIT_YEAR.match(raw):
                raise ValueError("Pick a due date between a year ago and five years from now.") from None
            raise ValueError("Type the date as YYYY-MM-DD, e.g. 2026-12-08.") from None


class DueTimeField(TimeField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Type the time as HH:MM, e.g. 14:30.") from None


# --- tasks: the lead page, the board card's menu, My day and the next-task question all show these ---


class TaskForm(FlaskForm):
    title = StringField("Task", validators=[DataRequired("Give the task a title, e.g. “Call back about the quote”."),
                                            Length(max=task_service.TITLE_MAX)])
    kind = SelectField("Kind", choices=list(KIND_LABELS.items()), default="call")
    due_at = DueDateField("Due date", validators=[InputRequired("Pick the day it is due.")])
    due_time = DueTimeField("Time", default=time(9, 0), validators=[Optional()])
    owner_id = SelectField("Owner", choices=[], validate_choice=False)
    note = TextAreaField("Note (optional)", validators=[Length(max=task_service.NOTE_MAX)])
    # Where the form sits ("lead", "board", "today", "page"): decides what an htmx reply replaces.
    where = HiddenField(default="page")
    next = HiddenField()

    def validate_owner_id(self, field) -> None:
        """Empty is "the default owner"; anything else must be a person's number from the list."""
        if (field.data or "").strip() and whole_number(field.data) is None:
            raise ValidationError("Pick the owner from the list.")

    def due_utc(self) -> datetime:
        """The picked day and time, in the person's timezone, as naive UTC; raises ServiceError (due_at)."""
        return task_service.due_from_local(self.due_at.data, self.due_time.data, user_timezone(current_user))

    def name_for(self, lead_id: int) -> "TaskForm":
        """Ids unique on a page that shows several of these forms (a board of cards)."""
        for f in self:
            f.id = f"t{lead_id}-{self.where.data or 'page'}-{f.name}"
        return self


class DoneForm(FlaskForm):
    where = HiddenField(default="today")
    next = HiddenField()


class SnoozeForm(FlaskForm):
    until = SelectField("Snooze", choices=[("hour", "1 hour"), ("tomorrow", "Tomorrow"), ("week", "Next week")])
    where = HiddenField(default="today")
    next = HiddenField()


def task_form(lead, *, submitted: bool = False, where: str = "page", follow=None) -> TaskForm:
    """The new-task form: posted data, or empty with the owner (you) and tomorrow 9:00 filled in;
    `follow`: a task just done, whose kind and owner the next one takes."""
    form = TaskForm() if submitted else TaskForm(formdata=None, where=where)
    form.owner_id.choices = [(str(u.id), u.name) for u in team()]
    if not submitted:
        form.owner_id.data = str(follow.owner_id if follow else current_user.id)
        form.due_at.data = (datetime.now(ZoneInfo(user_timezone(current_user))) + timedelta(days=1)).date()
        if follow is not None:
            form.kind.data = follow.kind
    return form.name_for(lead.id)


def task_rows_context(where: str, back: str) -> dict:
    """What each task row's one-press forms need: where the row is, and the page to come back to."""
    return {"where": where, "back": back, "done_form": DoneForm(formdata=None),
            "snooze_form": SnoozeForm(formdata=None), "snoozes": task_service.SNOOZES}


SCORE_LIMIT = 1_000_000  # far past any score the rules can give (200 rules of ±1000 points)


class NarrowingForm(Form):
    """The filters the pool and the board share, from a query string: a tag, the score (a band or
    at least a number) and one custom field's value or range; `narrowing` reads them. Plain Form:
    a GET changes nothing, so it carries no CSRF token."""

    tag = StringField("Tag", validators=[Optional(), Length(max=100)])
    band = StringField("Score band", validators=[Optional(), Length(max=30)])
    # Text, not IntegerField: "abc" gets the message below rather than WTForms' "Not a valid integer value".
    min_score = StringField("Score at least", validators=[Optional(), Length(max=20)])
    field = StringField("Custom field", validators=[Optional(), Length(max=field_service.KEY_MAX)])
    field_value = StringField("Value", validators=[Optional(), Length(max=200)])
    field_min = StringField("From", validators=[Optional(), Length(max=40)])
    field_max = StringField("To", validators=[Optional(), Length(max=40)])

    CUSTOM_ARGS = ("field", "field_value", "field_min", "field_max")

    def narrowing(self) -> tuple[dict, dict[str, str]]:
        """Validate the whole form (a subclass's own filters too). Returns the shared filters as
        PoolFilters arguments, and {name: message} for every bad filter, each left out (its data
        set to None, read as empty) so that the others still apply: the one rule for both pages."""
        self.validate()
        errors = {name: messages[0] for name, messages in self.errors.items()}
        for name in errors:
            getattr(self, name).data = None
        raw = {name: getattr(self, name).data or "" for name in self.CUSTOM_ARGS}
        custom = dict.fromkeys(self.CUSTOM_ARGS)
        while raw["field"]:
            try:
                custom = dict(zip(self.CUSTOM_ARGS, field_filter(*(raw[name] for name in self.CUSTOM_ARGS))))
                break
            except ServiceError as exc:  # a bad value or bound is left out; a field that is gone, all of them
                name = exc.field if exc.field in self.CUSTOM_ARGS else "field"
                errors[name] = exc.message
                raw.update(dict.fromkeys(self.CUSTOM_ARGS, "") if name == "field" else {name: ""})
        score = self.min_score.data  # a whole number once validated
        shared = {"tag": self.tag.data or "", "band": self.band.data or "",
                  "min_score": score if isinstance(score, int) else None, **custom}
        return shared, errors

    def validate_min_score(self, field):
        text = (field.data or "").strip()
        digits = text[1:] if text[:1] in "-−" else text
        if not (digits.isascii() and digits.isdigit() and int(digits) <= SCORE_LIMIT):
            raise ValidationError("Give a whole number between −1,000,000 and 1,000,000.")
        field.data = -int(digits) if text[:1] in "-−" else int(digits)


# Each page's filter form by the saved-view target it answers ("pool", "board"), registered beside
# the form by its blueprint, so saving a view checks filters the page's own way (app/search/forms.py)
# without one blueprint importing another.
FILTER_FORMS: dict[str, type[NarrowingForm]] = {}


def refusal(errors: dict[str, str]) -> str:
    """One line naming a bad filter (NarrowingForm.narrowing's errors), for a request that cannot
    show it beside the filter: a notice, or the 400 of an action on filtered leads."""
    name, message = next(iter(errors.items()))
    return f"The {name.replace('_', ' ')} filter is not valid: {message}"
