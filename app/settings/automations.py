"""Automations at /settings/automations: the list (pause, resume, delete), the builder (a trigger
and its options, conditions with all/any, ordered actions with add, remove and reorder), each
automation's run history, and a "test against a lead" dry run that changes nothing.

The builder works without scripts: "Add an action", "Up", "Remove" and a changed trigger or action
kind post the form back with an `op`, and the page comes back rearranged (nothing saved until
"Save"); htmx swaps just the form."""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, FormField, SelectField, StringField
from wtforms import Form as PlainForm
from wtforms.validators import Length, Optional

from app.forms import ConditionFields
from app.models.task import KIND_LABELS
from app.services import (
    ServiceError, automations, capture_forms, conditions, custom_fields, email_templates, scoring, sequences, stages, users, webhooks,
    whole_number,
)
from app.services.automations import ACTIONS, TRIGGERS, UNITS
from app.services.leads import FIELD_LABELS, WAYS_IN
from app.settings import bp
from app.settings.automation_backfill import apply_context
from app.web import add_form_error, go, render, wants_fragment, with_notice


WHEN_CHOICES = (("before", "before it"), ("after", "after it"))
TRIGGER_CONTROLS = ("stage", "form", "source", "tag", "field", "to", "band", "date_field", "days", "when", "amount",
                    "unit")


class ConditionRow(PlainForm, ConditionFields):
    pass


class ActionRow(PlainForm):
    kind = SelectField("Action", choices=[], validate_choice=False)
    user = SelectField("Who", choices=[], validate_choice=False)
    stage = SelectField("Stage", choices=[], validate_choice=False)
    tag = StringField("Tag", validators=[Optional(), Length(max=200)])
    field = SelectField("Field", choices=[], validate_choice=False)
    value = StringField("New value", validators=[Optional(), Length(max=2000)])
    title = StringField("Task", validators=[Optional(), Length(max=500)])
    task_kind = SelectField("Type", choices=[], validate_choice=False)
    owner = SelectField("For", choices=[], validate_choice=False)
    amount = StringField("How long", validators=[Optional(), Length(max=10)])
    unit = SelectField("Unit", choices=[(u, u) for u in UNITS], validate_choice=False)
    sequence = SelectField("Sequence", choices=[], validate_choice=False)
    people = SelectField("Tell", choices=[], validate_choice=False)
    message = StringField("Notice", validators=[Optional(), Length(max=1000)])
    template = SelectField("Email template", choices=[], validate_choice=False)
    endpoint = SelectField("Webhook endpoint", choices=[], validate_choice=False)


class AutomationForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=500)])
    trigger = SelectField("When", choices=[], validate_choice=False)
    trigger_stage = SelectField("Stage", choices=[], validate_choice=False)
    trigger_form = SelectField("Way in", choices=[], validate_choice=False)
    trigger_source = StringField("Source (optional)", validators=[Optional(), Length(max=500)])
    trigger_tag = StringField("Tag (optional)", validators=[Optional(), Length(max=500)])
    trigger_field = SelectField("Field", choices=[], validate_choice=False)
    trigger_to = SelectField("Owner", choices=[], validate_choice=False)
    trigger_band = SelectField("Band", choices=[], validate_choice=False)
    trigger_date_field = SelectField("Which date", choices=[], validate_choice=False)
    trigger_days = StringField("Days", validators=[Optional(), Length(max=10)])
    trigger_when = SelectField("Before or after", choices=list(WHEN_CHOICES), validate_choice=False)
    trigger_amount = StringField("Overdue by", validators=[Optional(), Length(max=10)])
    trigger_unit = SelectField("Unit", choices=[(u, u) for u in UNITS], validate_choice=False)
    match = SelectField("Run when", choices=[("all", "all conditions hold"), ("any", "any condition holds")],
                        validate_choice=False)
    conditions = FieldList(FormField(ConditionRow), min_entries=0, max_entries=automations.MAX_CONDITIONS + 1)
    actions = FieldList(FormField(ActionRow), min_entries=0, max_entries=automations.MAX_ACTIONS + 1)
    active = BooleanField("On: run on every new event", default=True)
    section_errors: dict = {}  # a refusal about a whole part ("actions": none given), set by _mark

    def fill_choices(self) -> None:
        stage_choices = [(str(s.id), s.name) for s in stages.pipeline()]
        people = [(str(u.id), u.name) for u in users.team()]
        self.trigger.choices = [("", "Choose what starts it…")] + [(t.key, t.label) for t in TRIGGERS.values()]
        self.trigger_stage.choices = [("", "Any stage")] + stage_choices
        self.trigger_form.choices = [("", "Any way in")] + [(f"way:{way}", label[0].upper() + label[1:])
                                                            for way, label in WAYS_IN.items()] + \
            [(str(f.id), f"The form “{f.name}”") for f in capture_forms.list_forms()]
        self.trigger_field.choices = [("", "Choose a field…")] + list(FIELD_LABELS.items()) + \
            [(automations.FieldChanged.CUSTOM + f.key, f"{f.label} (custom field)") for f in custom_fields.active_fields()]
        self.trigger_to.choices = list(automations.OwnerChanged.TO.items())
        self.trigger_band.choices = [("", "Any band")] + [(b.name, b.name) for b in scoring.bands()]
        self.trigger_date_field.choices = [("", "Choose a date…")] + automations.date_fields()
        field_choices = conditions.field_choices(with_score=True)
        sequence_choices = [(str(s.id), s.name) for s in sequences.sequences()]
        template_choices = [(str(t.id), t.name) for t in email_templates.templates()]
        endpoint_choices = [(str(e.id), e.url + ("" if e.enabled else " (turned off)")) for e in webhooks.endpoints()]
        for row in self.conditions:
            row.form.fill_condition_choices(field_choices)
        for row in self.actions:
            f = row.form
            f.kind.choices = [("", "Choose an action…")] + [(a.key, a.label) for a in ACTIONS.values()]
            f.user.choices = [("", "Choose…"), ("rules", "By the assignment rules"), ("pool", "The shared pool")] + people
            f.stage.choices = [("", "Choose a stage…")] + stage_choices
            f.field.choices = [("", "Choose a field…")] + list(FIELD_LABELS.items())
            f.task_kind.choices = list(KIND_LABELS.items())
            f.owner.choices = [("", "The lead's owner")] + people
            f.sequence.choices = [("", "Every sequence" if f.kind.data == "stop_sequence" else "Choose…")] + \
                sequence_choices
            f.people.choices = list(automations.Notify.GROUPS.items()) + people
            f.template.choices = [("", "Choose a template…" if template_choices else
                                   "No templates yet: add one in Settings → Email templates")] + template_choices
            f.endpoint.choices = [("", "Choose an endpoint…" if endpoint_choices else
                                   "No endpoints yet: add one in Settings → Webhooks")] + endpoint_choices
            f.unit.choices = [(u, u) for u in UNITS if u != automations.BUSINESS or f.kind.data == "create_task"]

    def trigger_options(self) -> dict:
        return {"stage_id": self.trigger_stage.data, "form_id": self.trigger_form.data,
                "source": self.trigger_source.data, "tag": self.trigger_tag.data, "field": self.trigger_field.data,
                "to": self.trigger_to.data, "band": self.trigger_band.data, "date_field": self.trigger_date_field.data,
                "days": self.trigger_days.data, "when": self.trigger_when.data, "amount": self.trigger_amount.data,
                "unit": self.trigger_unit.data}

    def given(self) -> automations.AutomationInput:
        return automations.AutomationInput(
            name=self.name.data or "", trigger=self.trigger.data or "",
            trigger_options=self.trigger_options(),
            match=self.match.data or "all", conditions=[row.form.condition() for row in self.conditions],
            actions=[dict(row.data) for row in self.actions], active=self.active.data)


def _form(data: dict | None = None, formdata=None) -> AutomationForm:
    form = AutomationForm(formdata=formdata, data=data) if formdata is not None else AutomationForm(formdata=None,
                                                                                                    data=data)
    form.fill_choices()
    return form


def _data_of(row) -> dict:
    """A stored automation as the form's data."""
    known = conditions.fields(with_score=True)
    options = row.trigger_options or {}
    return {"name": row.name, "trigger": row.trigger, "match": row.match, "active": row.active,
            "trigger_stage": str(options.get("stage_id") or ""),
            "trigger_form": str(options.get("form_id") or "") or (f"way:{options['way']}" if options.get("way") else ""),
            "trigger_source": options.get("source") or "", "trigger_tag": options.get("tag") or "",
            "trigger_field": options.get("field") or "", "trigger_to": options.get("to") or "",
            **{f"trigger_{k}": v for k, v in automations.trigger_controls(options).items()},
            "conditions": [{"condition_field": c.get("field"), "condition_op": c.get("op"),
                            "condition_value": conditions.value_text(c, known)} for c in row.conditions or []],
            "actions": automations.as_rows(row)}


def _example_data(key: str) -> dict | None:
    example = automations.examples().get(key)
    if example is None:
        return None
    options = example["trigger_options"]
    return {"name": example["name"], "trigger": example["trigger"], "match": "all", "active": True,
            "trigger_stage": str(options.get("stage_id") or ""),
            **{f"trigger_{k}": v for k, v in automations.trigger_controls(options).items()},
            "conditions": [{"condition_field": c["field"], "condition_op": c["op"], "condition_value": c["value"]}
                           for c in example["conditions"]],
            "actions": example["actions"]}


def _rearranged(form: AutomationForm, op: str) -> AutomationForm | None:
    """The form after an editing step (add, remove, move a row; a changed kind), not saved; None
    when `op` is not one."""
    data = {name: form[name].data for name in ("name", "trigger", "match", "active",
                                               *(f"trigger_{c}" for c in TRIGGER_CONTROLS))}
    conds = [dict(row.data) for row in form.conditions]
    acts = [dict(row.data) for row in form.actions]
    verb, _, index_text = op.partition("-")
    index = whole_number(index_text)
    full = None
    if verb == "add_condition":
        if len(conds) < automations.MAX_CONDITIONS:
            conds.append({})
        else:
            full = ("conditions", f"Use at most {automations.MAX_CONDITIONS} conditions.")
    elif verb == "add_action":
        if len(acts) < automations.MAX_ACTIONS:
            acts.append({})
        else:
            full = ("actions", f"Use at most {automations.MAX_ACTIONS} actions.")
    elif verb == "remove_condition" and index is not None and index < len(conds):
        conds.pop(index)
    elif verb == "remove_action" and index is not None and index < len(acts):
        acts.pop(index)
    elif verb in ("up", "down") and index is not None and index < len(acts):
        other = index - 1 if verb == "up" else index + 1
        if 0 <= other < len(acts):
            acts[index], acts[other] = acts[other], acts[index]
    elif verb != "refresh":
        return None
    rearranged = _form({**data, "conditions": conds, "actions": acts})
    if full:
        rearranged.section_errors = dict([full])
    return rearranged


def _mark(form: AutomationForm, exc: ServiceError) -> None:
    """The refusal beside the control it names (conditions-2-condition_op, actions-0-stage, ...)."""
    section, _, rest = (exc.field or "").partition("-")
    index_text, _, control = rest.partition("-")
    index = whole_number(index_text)
    if section in ("conditions", "actions") and index is not None and control:
        rows = form[section]
        if index < len(rows) and control in rows[index].form._fields:
            target = rows[index].form[control]
            target.errors = [*target.errors, exc.message]
            return
    if exc.field in ("conditions", "actions"):
        form.section_errors = {**getattr(form, "section_errors", {}), exc.field: exc.message}
        return
    add_form_error(form, exc)


def _editor(form: AutomationForm, automation=None, status: int = 200, **extra):
    context = {"form": form, "automation": automation, "value_options": _value_options(),
               "backlog": automations.backlog(form.trigger.data, form.trigger_options()),
               "backlog_cap": automations.BACKLOG_CAP,
               "uses": {key: action.uses for key, action in ACTIONS.items()},
               "trigger_uses": {key: trigger.options for key, trigger in TRIGGERS.items()}}
    if automation is not None:
        context.update(days=automations.history(automation.id), failures=automations.recent_failures(automation.id),
                       statuses=automations.STATUSES, **apply_context(automation))
    return render("settings/automation_edit.html", "settings/_automation_form.html", status, **context, **extra)


def _value_options() -> list[str]:
    names = []
    for spec in conditions.fields(with_score=True).values():
        names.extend(str(label) for _, label in spec.choices)
    return list(dict.fromkeys(names))[:200]


def _list_context(**extra) -> dict:
    rows = automations.automations()
    counts = automations.run_counts([row.id for row in rows])
    listed = [(row, automations.describe_trigger(row), [automations.describe_action(a) for a in row.actions or []],
               automations.problems(row), counts.get(row.id, {})) for row in rows]
    return {"listed": listed, "examples": automations.examples(), "max_automations": automations.MAX_AUTOMATIONS,
            "statuses": automations.STATUSES, **extra}


def refused_on_list(message: str):
    """The list with a refusal at its top, 422 (app/settings/refusals.py)."""
    body, status, headers = render("settings/automations.html", "settings/_automation_list.html", 422,
                                   **_list_context(refused=message))
    return body, status, {**headers, "HX-Retarget": "#automation-list", "HX-Reswap": "outerHTML"}


@bp.get("/automations")
def automations_page():
    return render("settings/automations.html", None, **_list_context())


@bp.get("/automations/new")
def new_automation():
    data = _example_data(request.args.get("example", "")) or {"actions": [{}], "trigger": ""}
    return _editor(_form(data))


def _save(automation_id: int | None):
    automation = automations.get(automation_id) if automation_id is not None else None
    form = _form(formdata=request.form)
    op = request.form.get("op", "save")
    if op != "save":
        rearranged = _rearranged(form, op)
        if rearranged is None:
            abort(400)
        return _editor(rearranged, automation)
    if form.validate_on_submit():
        try:
            saved = automations.save(automation_id, form.given(), current_user.id)
        except ServiceError as exc:
            _mark(form, exc)
        else:
            flash(f"Saved the automation “{saved.name}”. " + (
                "It fires for what falls due from now on; the worker checks every few minutes."
                if automations.is_timed(saved.trigger) else "It runs on events from now on."), "success")
            return go(url_for("settings.automations_page"), focus=f"automation-{saved.id}")
    return _editor(form, automation, 422)


@bp.post("/automations")
def create_automation():
    return _save(None)


@bp.get("/automations/<int:automation_id>")
def edit_automation(automation_id: int):
    automation = automations.get(automation_id)
    return _editor(_form(_data_of(automation)), automation)


@bp.post("/automations/<int:automation_id>")
def update_automation(automation_id: int):
    return _save(automation_id)


SWITCHES = ("pause", "resume", "delete")


@bp.post("/automations/<int:automation_id>/<action>")
def switch_automation(automation_id: int, action: str):
    if action not in SWITCHES:
        abort(404)
    automation = automations.get(automation_id)
    name = automation.name
    if action == "delete":
        automations.delete(automation.id, current_user.id)
        message = f"Deleted the automation “{name}” and its history."
    else:
        automations.set_active(automation.id, action == "resume", current_user.id)
        message = (f"Resumed “{name}”." + (" It counts from now: what fell due while it was paused does not fire."
                                            if automations.is_timed(automation.trigger) else "")) \
            if action == "resume" else \
            f"Paused “{name}”: it does not run, and its waiting steps wait until it is resumed."
    if not wants_fragment():
        flash(message, "success")
        return go(url_for("settings.automations_page"))
    return with_notice(render("settings/automations.html", "settings/_automation_list.html", **_list_context()),
                       message)


@bp.get("/automations/<int:automation_id>/try")
def try_automation(automation_id: int):
    automation = automations.get(automation_id)
    query = (request.args.get("q") or "")[:100]
    lead_id = whole_number(request.args.get("lead"))
    result, problem = None, None
    if lead_id is not None:
        try:
            result = automations.try_on_lead(automation.id, lead_id)
        except ServiceError as exc:
            problem = exc.message
    return render("settings/automation_try.html", "settings/_automation_try.html", automation=automation,
                  query=query, candidates=scoring.find_leads(query), result=result, problem=problem)
