"""First-response targets at /settings/sla: the team's business hours and holidays, and the ordered
target rules (by source, form or score band, then everything else) with what a breach does."""
from __future__ import annotations

from flask_login import current_user
from flask import flash, request, url_for
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length

from app.services import ServiceError, sla, team_settings
from app.settings import bp
from app.web import add_form_error, go, render


class CalendarForm(FlaskForm):
    holidays = TextAreaField("Holidays (one a line: date, then a name if you like)", validators=[Length(max=20000)])

    def days(self):
        return [self[f"day{d}"] for d in range(7)]

    def typed(self) -> dict[int, str]:
        return {d: self[f"day{d}"].data or "" for d in range(7)}


for _day, _name in enumerate(sla.WEEKDAYS):
    setattr(CalendarForm, f"day{_day}", StringField(_name, validators=[Length(max=100)]))
del _day, _name


class RuleForm(FlaskForm):
    match = SelectField("Applies to", choices=list(sla.MATCHES.items()))
    source = StringField("Source", validators=[Length(max=100)])
    form_id = SelectField("Capture form", choices=[], validate_choice=False)
    band = SelectField("Score band", choices=[], validate_choice=False)
    amount = StringField("Respond within", validators=[Length(max=10)])
    unit = SelectField("Unit", choices=[("minutes", "minutes"), ("hours", "hours")])
    clock = SelectField("Counting", choices=[("business", "business hours only"), ("clock", "every hour (clock time)")])
    on_breach = SelectField("At a breach, besides telling the owner and admins", choices=list(sla.ON_BREACH.items()))

    def fill_choices(self, forms: dict[int, str], bands: list[str]) -> None:
        self.form_id.choices = [("", "Choose a form…")] + [(str(i), name) for i, name in forms.items()]
        self.band.choices = [("", "Choose a band…")] + [(name, name) for name in bands]

    def value(self) -> str:
        return {"source": self.source.data, "form": self.form_id.data, "band": self.band.data}.get(self.match.data, "")


class RowForm(FlaskForm):
    pass


def _calendar_form() -> CalendarForm:
    form = CalendarForm(formdata=None, holidays=sla.format_holidays(sla.holidays()))
    for weekday, ranges in sla.hours().items():
        form[f"day{weekday}"].data = sla.format_ranges(ranges)
    return form


def _page(status: int = 200, calendar_form=None, rule_form=None):
    forms = sla.form_choices_by_id()
    if rule_form is None:
        rule_form = RuleForm(formdata=None)
    rule_form.fill_choices(forms, sla.band_names())
    rows = [(rule, sla.describe_match(rule, forms), sla.describe_target(rule)) for rule in sla.rules()]
    return render("settings/sla.html", None, status, calendar_form=calendar_form or _calendar_form(),
                  rule_form=rule_form, rows=rows, row_form=RowForm(formdata=None),
                  timezone=team_settings.team_timezone(), on_breach=sla.ON_BREACH)


@bp.get("/sla")
def sla_settings():
    return _page()


@bp.post("/sla/hours")
def save_sla_hours():
    form = CalendarForm()
    if form.validate_on_submit():
        try:
            sla.save_calendar(form.typed(), form.holidays.data, actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Saved the business hours and holidays.", "success")
            return go(url_for("settings.sla_settings"))
    return _page(422, calendar_form=form)


def _rule_args(form: RuleForm) -> dict:
    return {"match": form.match.data, "value": form.value(), "amount": form.amount.data, "unit": form.unit.data,
            "business_time": form.clock.data == "business", "on_breach": form.on_breach.data, "actor_id": current_user.id}


def _saved_rule(form: RuleForm, save, message: str):
    """Save the posted rule with `save(**fields)`: back to the page, or None with the error on the form."""
    form.fill_choices(sla.form_choices_by_id(), sla.band_names())
    if form.validate_on_submit():
        try:
            rule = save(**_rule_args(form))
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(message, "success")
            return go(url_for("settings.sla_settings"), focus=f"sla-rule-{rule.id}")
    return None


@bp.post("/sla/rules")
def add_sla_rule():
    form = RuleForm()
    return _saved_rule(form, sla.add_rule, "Added the target.") or _page(422, rule_form=form)


def _edit_page(rule_id: int, form: RuleForm, status: int = 200):
    form.fill_choices(sla.form_choices_by_id(), sla.band_names())
    return render("settings/sla_rule.html", None, status, form=form, rule=sla.get_rule(rule_id))


@bp.get("/sla/rules/<int:rule_id>/edit")
def edit_sla_rule(rule_id: int):
    rule = sla.get_rule(rule_id)
    minutes = rule.target_minutes
    hours = minutes % 60 == 0
    form = RuleForm(formdata=None, match=rule.match, source=rule.value if rule.match == "source" else "",
                    form_id=rule.value if rule.match == "form" else "", band=rule.value if rule.match == "band" else "",
                    amount=str(minutes // 60 if hours else minutes), unit="hours" if hours else "minutes",
                    clock="business" if rule.business_time else "clock", on_breach=rule.on_breach)
    return _edit_page(rule_id, form)


@bp.post("/sla/rules/<int:rule_id>/edit")
def update_sla_rule(rule_id: int):
    sla.get_rule(rule_id)  # a deleted rule is a 404, not a form
    form = RuleForm()
    saved = _saved_rule(form, lambda **fields: sla.update_rule(rule_id, **fields), "Saved the target.")
    return saved or _edit_page(rule_id, form, 422)


@bp.post("/sla/rules/<int:rule_id>/move")
def shift_sla_rule(rule_id: int):
    direction = request.form.get("direction")
    if RowForm().validate_on_submit() and direction in ("up", "down"):
        sla.shift_rule(rule_id, -1 if direction == "up" else 1)
        flash(f"Moved the target {direction}.", "success")
    return go(url_for("settings.sla_settings"), focus=f"sla-rule-{rule_id}")


@bp.post("/sla/rules/<int:rule_id>/delete")
def delete_sla_rule(rule_id: int):
    if RowForm().validate_on_submit():
        sla.delete_rule(rule_id, actor_id=current_user.id)
        flash("Deleted the target.", "success")
    return go(url_for("settings.sla_settings"), focus="sla-rules-h")
