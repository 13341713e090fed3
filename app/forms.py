"""Form pieces more than one area uses: a service's normaliser as a field validator (the lead form,
the capture form), a person's availability (their account page, and admins' team settings), and a capture form's entry form (the public page takes it, settings shows its
snippet). Each area's own forms stay in its `forms.py`."""
from __future__ import annotations

from datetime import time

from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, Form, StringField, TelField, TimeField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.models import CaptureForm
from app.models.lead import max_length
from app.services import ServiceError
from app.services.countries import normalize_country
from app.services.leads import FIELD_LABELS, normalize_email, normalize_phone

HONEYPOT = "website"  # the capture form's hidden field: a name bots like to fill in

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
}


def service_check(normalizer):
    """Run one of the service's normalisers as a field validator, so form and API agree."""
    def check(form, field):
        try:
            normalizer(field.data)
        except ServiceError as exc:
            raise ValidationError(exc.message) from None
    return check


def entry_form(capture_form: CaptureForm, formdata=None) -> Form:
    """A WTForms form with the fields this capture form asks for, in its order. A plain Form, no CSRF:
    prospects post it from other websites (see app/public/__init__.py)."""
    class EntryForm(Form):
        pass

    for spec in capture_form.fields or []:
        name = spec["name"]
        if name not in PROMPTS:
            continue
        autocomplete, kind, missing = PROMPTS[name]
        label = FIELD_LABELS[name] + ("" if spec.get("required") else " (optional)")
        limit = max_length(name, typed=True)
        validators = [DataRequired(missing) if spec.get("required") else Optional(),
                      Length(max=limit, message=f"Keep this under {limit} characters.")]
        if name == "email":
            validators.append(service_check(normalize_email))
        elif name == "phone":
            validators.append(service_check(normalize_phone))
        elif name == "country":
            validators.append(service_check(normalize_country))
        setattr(EntryForm, name, kind(label, validators=validators, render_kw={"autocomplete": autocomplete}))
    return EntryForm(formdata)


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
