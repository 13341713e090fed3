"""Scoring at /settings/scoring: rules (a condition and points), bands, the re-scoring progress bar,
and a "try a lead" panel that shows which rules fire for one lead and why."""
from __future__ import annotations

from flask_login import current_user
from flask import abort, flash, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, FormField, StringField
from wtforms import Form as PlainForm
from wtforms.validators import Length, Optional

from app.forms import ConditionFields
from app.services import ServiceError, conditions, scoring, whole_number
from app.settings import bp
from app.web import add_form_error, go, render, wants_fragment, with_notice

BAND_ROWS = scoring.MAX_BANDS


class RuleForm(FlaskForm, ConditionFields):
    label = StringField("Reason shown on leads", validators=[Length(max=80)],
                        description="How the reason reads on a lead, e.g. “business email”.")
    points = StringField("Points", description="Positive or negative, e.g. 20 or -10.")
    fade_days = StringField("Fades after (days)", validators=[Optional()],
                            description="Leave empty to keep the points; otherwise they stop counting this many "
                                        "days after the event (or the lead's last activity).")
    enabled = BooleanField("Rule is on", default=True)


class BandRow(PlainForm):
    name = StringField("Name", validators=[Length(max=30)])
    min_score = StringField("From score")
    colour = StringField("Colour", default="#64748b")


class BandsForm(FlaskForm):
    bands = FieldList(FormField(BandRow), min_entries=BAND_ROWS, max_entries=BAND_ROWS)


def _rule_form(rule=None, formdata=None) -> RuleForm:
    form = RuleForm(formdata=formdata, obj=rule) if formdata is not None or rule else RuleForm(formdata=None)
    form.fill_condition_choices(conditions.field_choices())
    if rule is not None and formdata is None:
        known = conditions.fields()
        form.show_condition(rule.condition or {}, lambda cond: conditions.value_text(cond, known))
        form.points.data = str(rule.points)
        form.fade_days.data = str(rule.fade_days or "")
    return form


def _bands_form(formdata=None) -> BandsForm:
    form = BandsForm(formdata=formdata)
    if formdata is None:
        saved = scoring.bands()
        for row, band in zip(form.bands, saved):
            row.form.name.data, row.form.colour.data = band.name, band.colour
            row.form.min_score.data = "" if band.min_score is None else str(band.min_score)
    return form


def _context(**extra) -> dict:
    ruleset = scoring.load_ruleset()
    known = ruleset.known
    listed = [(rule, conditions.describe(rule.condition or {}, known), ruleset.broken.get(rule.id))
              for rule in scoring.rules()]
    run = scoring.current_run()
    extra.setdefault("form", _rule_form())
    extra.setdefault("bands_form", _bands_form())
    return {"rules": listed, "run": run, "percent": scoring.percent_done(run) if run else 100,
            "max_rules": scoring.MAX_RULES, "value_options": _value_options(known), **extra}


def _value_options(known: dict) -> list[str]:
    """Names to suggest in the value box: stages, forms, choices (never ids)."""
    names = []
    for spec in known.values():
        names.extend(str(label) for _, label in spec.choices)
    return list(dict.fromkeys(names))[:200]


def refused_on_list(message: str):
    """The rule list with a refusal at its top, 422 (app/settings/refusals.py); htmx swaps it in place
    of whatever the post targeted."""
    body, status, headers = render("settings/scoring.html", "settings/_scoring_rules.html", 422,
                                   **_context(refused=message))
    return body, status, {**headers, "HX-Retarget": "#scoring-rules", "HX-Reswap": "outerHTML"}


@bp.get("/scoring")
def scoring_page():
    return render("settings/scoring.html", None, **_context())


@bp.get("/scoring/progress")
def scoring_progress():
    return render("settings/scoring.html", "settings/_scoring_progress.html", **_context())


def _save(rule_id: int | None):
    rule = scoring.get_rule(rule_id) if rule_id is not None else None
    form = _rule_form(rule, request.form)
    if form.validate_on_submit():
        try:
            saved = scoring.save_rule(rule_id, label=form.label.data, condition=form.condition(),
                                      points=form.points.data, fade_days=form.fade_days.data,
                                      enabled=form.enabled.data, actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Saved the rule “{saved.label}”. Scores are being updated.", "success")
            return go(url_for("settings.scoring_page"), focus=f"rule-{saved.id}")  # focus lands on its row
    if rule is not None:
        return render("settings/scoring_rule_edit.html", "settings/_scoring_rule_form.html", 422, form=form,
                      rule=rule, value_options=_value_options(conditions.fields()))
    return render("settings/scoring.html", "settings/_scoring_rule_form.html", 422, **_context(form=form))


@bp.post("/scoring/rules")
def add_scoring_rule():
    return _save(None)


@bp.get("/scoring/rules/<int:rule_id>/edit")
def edit_scoring_rule(rule_id: int):
    rule = scoring.get_rule(rule_id)
    return render("settings/scoring_rule_edit.html", "settings/_scoring_rule_form.html", form=_rule_form(rule),
                  rule=rule, value_options=_value_options(conditions.fields()))


@bp.post("/scoring/rules/<int:rule_id>")
def update_scoring_rule(rule_id: int):
    return _save(rule_id)


RULE_ACTIONS = ("on", "off", "up", "down", "delete")


@bp.post("/scoring/rules/<int:rule_id>/<action>")
def change_scoring_rule(rule_id: int, action: str):
    if action not in RULE_ACTIONS:
        abort(404)
    rule = scoring.get_rule(rule_id)
    label = rule.label
    if action in ("on", "off"):
        scoring.set_enabled(rule.id, action == "on")
        message = f"Turned “{label}” {action}. Scores are being updated."
    elif action == "delete":
        scoring.delete_rule(rule.id, actor_id=current_user.id)
        message = f"Deleted the rule “{label}”. Scores are being updated."
    else:
        scoring.move_rule(rule.id, -1 if action == "up" else 1)
        message = f"Moved “{label}” {action}."
    if not wants_fragment():
        flash(message, "success")
        return go(url_for("settings.scoring_page"))
    return with_notice(render("settings/scoring.html", "settings/_scoring_rules.html", **_context()), message)


@bp.post("/scoring/bands")
def save_score_bands():
    form = _bands_form(request.form)
    if form.validate_on_submit():
        rows = [(row.form.name.data, row.form.min_score.data, row.form.colour.data) for row in form.bands]
        try:
            scoring.save_bands(rows, actor_id=current_user.id)
        except ServiceError as exc:
            index, _, part = (exc.field or "").removeprefix("band-").partition("-")
            target = whole_number(index)
            if target is not None and target < len(form.bands):
                control = getattr(form.bands[target].form, {"min": "min_score"}.get(part, part))
                control.errors = [*control.errors, exc.message]
            else:
                form.form_errors.append(exc.message)
        else:
            flash("Saved the score bands.", "success")
            return go(url_for("settings.scoring_page"), focus="bands-form")
    return render("settings/scoring.html", "settings/_score_bands.html", 422, **_context(bands_form=form))


@bp.get("/scoring/try")
def try_scoring():
    query = (request.args.get("q") or "")[:100]
    lead_id = whole_number(request.args.get("lead"))
    candidates = scoring.find_leads(query)
    result = None
    if lead_id is not None:
        try:
            result = scoring.try_lead(lead_id)
        except ServiceError:
            result = None
    return render("settings/scoring_try.html", "settings/_scoring_try.html", query=query, candidates=candidates,
                  result=result, bands=scoring.bands(), band_of=scoring.band_of)
