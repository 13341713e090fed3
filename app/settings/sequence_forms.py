"""The forms of /settings/sequences (app/settings/sequences.py): a sequence, a step, an enrolment rule.
The service checks the values; these forms only turn what a browser sends into what it takes."""
from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Length, ValidationError

from app.services import ServiceError, whole_number
from app.services import sequences as service
from app.services.sequences import StepSettings

KINDS = [("email", "Send an email"), ("task", "Make a task for the owner (e.g. a call)")]
CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?")


class SequenceForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=1000)])
    stop_on_other = BooleanField("Stop this sequence when the lead is enrolled in another one", default=True)


def _minutes(raw: str | None) -> int | None:
    """"HH:MM" (what <input type=time> sends) as minutes after midnight; 24:00 is the day's end."""
    text = (raw or "").strip()
    if not text:
        return None
    match = CLOCK.fullmatch(text)
    if not match:
        raise ValueError(text)
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(text)
    return hours * 60 + minutes


def _time_of_day(form, field) -> None:
    try:
        _minutes(field.data)
    except ValueError:
        raise ValidationError("Give a time of day as hours and minutes, e.g. 09:00.") from None


class StepForm(FlaskForm):
    kind = SelectField("What this step does", choices=KINDS)
    template_id = SelectField("Email template", choices=[], validate_choice=False)
    task_title = StringField("Task for the owner", validators=[Length(max=1000)])
    delay_days = StringField("Delay in days", default="0", validators=[Length(max=20)])
    business_days = BooleanField("Count working days only")
    window_days = SelectMultipleField("Send on", choices=[(str(d), name) for d, name in enumerate(service.WEEKDAYS)],
                                      validate_choice=False)
    window_start = StringField("From", validators=[Length(max=20), _time_of_day])
    window_end = StringField("To", validators=[Length(max=20), _time_of_day])

    def fill_choices(self, templates: list) -> None:
        self.template_id.choices = [("", "Choose a template…")] + [(str(t.id), t.name) for t in templates]

    def settings(self) -> StepSettings:
        return StepSettings(kind=self.kind.data, template_id=whole_number(self.template_id.data),
                            task_title=self.task_title.data or "", delay_days=self.delay_days.data,
                            business_days=bool(self.business_days.data),
                            window_days="".join(self.window_days.data or []),
                            window_start=_minutes(self.window_start.data), window_end=_minutes(self.window_end.data))

    @classmethod
    def of(cls, step) -> StepForm:
        """The form for an existing step, as the page shows it."""
        def clock(minute):
            return "" if minute is None else f"{minute // 60:02d}:{minute % 60:02d}"
        return cls(formdata=None, kind=step.kind, template_id=str(step.template_id or ""),
                   task_title=step.task_title or "", delay_days=str(step.delay_days),
                   business_days=step.business_days, window_days=list(step.window_days),
                   window_start=clock(step.window_start), window_end=clock(step.window_end))


class RuleForm(FlaskForm):
    when = SelectField("Enrol a lead when", choices=list(service.RULE_KINDS.items()))
    form_id = SelectField("Capture form", choices=[], validate_choice=False)
    source = StringField("Source", validators=[Length(max=1000)])
    lost_reason = SelectField("Lost reason", choices=[], validate_choice=False)
    band = SelectField("Score band", choices=[], validate_choice=False)

    # Which input holds the value for each kind of rule (the service names it "value").
    VALUE_FIELDS = {"form": "form_id", "source": "source", "lost_reason": "lost_reason", "band": "band"}

    def fill_choices(self, forms: dict[int, str], reasons: dict[int, str], bands: list[str]) -> None:
        self.form_id.choices = [("", "Choose a form…")] + [(str(i), name) for i, name in forms.items()]
        self.lost_reason.choices = [("", "Choose a reason…")] + [(str(i), name) for i, name in reasons.items()]
        self.band.choices = [("", "Choose a band…")] + [(name, name) for name in bands]

    def chosen_value(self) -> str:
        field = self.VALUE_FIELDS.get(self.when.data)
        return (self[field].data or "") if field else ""

    def refused(self, exc: ServiceError) -> ServiceError:
        """The service's refusal, naming the input the person filled in rather than "value"."""
        if exc.field == "kind":
            exc.field = "when"
        elif exc.field == "value" and self.when.data in self.VALUE_FIELDS:
            exc.field = self.VALUE_FIELDS[self.when.data]
        return exc


class RowForm(FlaskForm):
    """A row's one-button action (move, remove, start, pause): only the CSRF token."""
