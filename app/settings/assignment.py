"""Assignment at /settings/assignment: the ordered rules that route new leads, the groups they share
leads between, a "which rule would take this lead?" tester, and this week's history."""
from __future__ import annotations

import re

from flask_login import current_user
from flask import flash, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.forms import ConditionFields
from app.models import Lead
from app.services import Conflict, ServiceError, assignment as service, capture_forms, conditions, whole_number
from app.services.users import team
from app.settings import bp
from app.web import add_form_error, go, render, wants_fragment, with_notice

NUMBER = "Type a whole number, like 20."


class RuleForm(ConditionFields, FlaskForm):
    name = StringField("Rule name", validators=[DataRequired("Give the rule a name."), Length(max=service.NAME_MAX)])
    target = SelectField("Who receives the leads", choices=list(service.TARGET_LABELS.items()))
    user = SelectField("Person", choices=[], validate_choice=False)
    group = SelectField("Group", choices=[], validate_choice=False)
    cap = StringField("Cap: most open leads per member", validators=[Length(max=12)],
                      render_kw={"inputmode": "numeric"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user.choices = [("", "Choose a person…")] + [(str(u.id), u.name) for u in team()]
        self.group.choices = [("", "Choose a group…")] + [(str(g.id), g.name) for g in service.groups()]
        self.fill_condition_choices(conditions.field_choices(with_score=True))

    def rule_condition(self) -> dict:
        """The checked condition; no field, test or value at all means every lead."""
        raw = self.condition()
        if not any((value or "").strip() for value in raw.values()):
            return {}
        return conditions.check(raw, with_score=True)

    def cap_value(self) -> int | None:
        text = (self.cap.data or "").strip()
        return int(text) if text else None

    def validate_cap(self, field):
        text = (field.data or "").strip()
        if text and not re.fullmatch(r"-?[0-9]{1,9}", text):
            raise ValidationError(NUMBER)


class MemberForm(Form):
    user_id = HiddenField()
    include = BooleanField("Member")
    weight = StringField("Weight", default="1", render_kw={"inputmode": "numeric"})


class GroupForm(FlaskForm):
    # Not "name": the rule form beside it on the same page has that id.
    group_name = StringField("Group name", validators=[DataRequired("Give the group a name."),
                                                       Length(max=service.NAME_MAX)])
    members = FieldList(FormField(MemberForm))

    def fill(self, group=None, people=None):
        """One row per active teammate, ticked and weighted as the group has them."""
        weights = {m.user_id: m.weight for m in group.members} if group else {}
        posted = {entry.user_id.data: entry for entry in self.members}
        self.people = people if people is not None else team()
        while len(self.members):
            self.members.pop_entry()
        for user in self.people:
            entry = self.members.append_entry()
            old = posted.get(str(user.id))
            entry.user_id.data = str(user.id)
            entry.include.data = old.include.data if old else user.id in weights
            entry.weight.data = old.weight.data if old else str(weights.get(user.id, 1))
            entry.person = user
        return self

    def chosen(self) -> dict[int, int | None]:
        picked = {}
        for entry in self.members:
            user_id = whole_number(entry.user_id.data)
            if entry.include.data and user_id is not None:
                text = (entry.weight.data or "").strip()
                picked[user_id] = int(text) if text.lstrip("-").isdigit() and len(text) < 7 else None
        return picked


class TryForm(Form):
    """The tester's query: a few fields of an imagined lead, or a real lead found by email. A GET."""

    lead_email = StringField("A lead's email", validators=[Optional(), Length(max=254)])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    company = StringField("Company", validators=[Optional(), Length(max=200)])
    source = StringField("Source", validators=[Optional(), Length(max=100)])
    country = StringField("Country", validators=[Optional(), Length(max=100)])
    region = StringField("Region", validators=[Optional(), Length(max=100)])
    form = SelectField("Capture form", choices=[], validate_choice=False)


def _group_error(form: GroupForm, exc: ServiceError) -> None:
    if exc.field and exc.field.startswith("weight-"):
        for entry in form.members:
            if f"weight-{entry.user_id.data}" == exc.field:
                entry.weight.errors = [exc.message]
                return
    if exc.field == "members":
        form.members.errors = [exc.message]
    elif exc.field == "name":
        form.group_name.errors = [*form.group_name.errors, exc.message]
    else:
        add_form_error(form, exc)


def _context(**extra) -> dict:
    known = conditions.fields(with_score=True)
    return {"rules": service.rules(), "groups": service.groups(), "history": service.history(),
            "describe_target": service.describe_target,
            "describe_condition": lambda rule: service.describe_condition(rule, known),
            "max_rules": service.MAX_RULES, **extra}


def _try_form() -> TryForm:
    form = TryForm(request.args)
    form.form.choices = [("", "Any or none")] + [(str(f.id), f.name) for f in capture_forms.list_forms()]
    return form


def _page(status: int = 200, *, rule_form=None, group_form=None, **extra):
    return render("settings/assignment.html", "settings/_rule_list.html", status,
                  rule_form=rule_form or _new_rule_form(), group_form=group_form or GroupForm(formdata=None).fill(),
                  try_form=_try_form(), **_context(**extra))


def _new_rule_form(formdata=None) -> RuleForm:
    return RuleForm(formdata=formdata)


def _save_rule(form: RuleForm, rule_id: int | None):
    """The saved rule, or None with the reasons on the form (beside each control)."""
    if not form.validate_on_submit():
        return None
    try:
        return service.save_rule(rule_id, name=form.name.data, condition=form.rule_condition(),
                                 target=form.target.data, user_id=whole_number(form.user.data),
                                 group_id=whole_number(form.group.data), cap=form.cap_value(),
                                 actor_id=current_user.id)
    except ServiceError as exc:
        add_form_error(form, exc)
    return None


def refused_on_list(message: str):
    """The rule list with a refusal at its top, 422 (app/settings/refusals.py); htmx swaps it in place
    of whatever the post targeted."""
    body, status, headers = _page(422, refused=message)
    return body, status, {**headers, "HX-Retarget": "#rule-list-wrap", "HX-Reswap": "outerHTML"}


@bp.get("/assignment")
def assignment():
    return _page()


@bp.post("/assignment/rules")
def add_rule():
    form = _new_rule_form(request.form)
    rule = _save_rule(form, None)
    if rule is not None:
        flash(f"Added the rule {rule.name}.", "success")
        return go(url_for("settings.assignment"), focus=f"rule-{rule.id}")  # focus lands on its row
    return render("settings/assignment.html", "settings/_rule_form.html", 422, rule_form=form,
                  group_form=GroupForm(formdata=None).fill(), try_form=_try_form(), **_context())


@bp.route("/assignment/rules/<int:assignment_rule_id>", methods=["GET", "POST"])
def edit_rule(assignment_rule_id: int):
    rule = service.get_rule(assignment_rule_id)
    if request.method == "GET":
        form = RuleForm(formdata=None, obj=rule)
        # After obj: the rule's `user` and `group` are relationships, and obj wins over keyword data.
        form.user.data, form.group.data = str(rule.user_id or ""), str(rule.group_id or "")
        if rule.condition:
            form.show_condition(rule.condition, conditions.value_text)
        return render("settings/edit_rule.html", "settings/_rule_form.html", form=form, rule=rule, rule_form=form)
    form = RuleForm()
    saved = _save_rule(form, rule.id)
    if saved is not None:
        flash(f"Saved the rule {saved.name}.", "success")
        return go(url_for("settings.assignment"), focus=f"rule-{saved.id}")
    return render("settings/edit_rule.html", "settings/_rule_form.html", 422, form=form, rule=rule, rule_form=form)


@bp.post("/assignment/rules/<int:assignment_rule_id>/move")
def move_rule(assignment_rule_id: int):
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        raise ServiceError("Move a rule up or down.")
    service.shift_rule(assignment_rule_id, -1 if direction == "up" else 1)
    if not wants_fragment():
        return redirect(url_for("settings.assignment"))
    rule = service.get_rule(assignment_rule_id)
    return with_notice(_page(focus=f"rule-{rule.id}-{direction}"), f"Moved {rule.name} {direction}.")


@bp.post("/assignment/rules/<int:assignment_rule_id>/enabled")
def toggle_rule(assignment_rule_id: int):
    rule = service.set_enabled(assignment_rule_id, request.form.get("enabled") == "1", actor_id=current_user.id)
    if not wants_fragment():
        return redirect(url_for("settings.assignment"))
    state = "on" if rule.enabled else "off"
    return with_notice(_page(focus=f"rule-{rule.id}-toggle"), f"Turned {rule.name} {state}.")


@bp.post("/assignment/rules/<int:assignment_rule_id>/delete")
def delete_rule(assignment_rule_id: int):
    rule = service.get_rule(assignment_rule_id)
    name = rule.name
    service.delete_rule(rule.id, actor_id=current_user.id)
    flash(f"Deleted the rule {name}.", "success")
    return go(url_for("settings.assignment"))


@bp.post("/assignment/groups")
def add_group():
    return _save_group(None)


@bp.route("/assignment/groups/<int:group_id>", methods=["GET", "POST"])
def edit_group(group_id: int):
    group = service.get_group(group_id)
    if request.method == "GET":
        form = GroupForm(formdata=None, group_name=group.name).fill(group)
        return render("settings/edit_group.html", "settings/_group_form.html", group_form=form, group=group)
    return _save_group(group)


def _save_group(group):
    form = GroupForm().fill(group)
    if form.validate_on_submit():
        try:
            saved = service.save_group(group.id if group else None, name=form.group_name.data,
                                       members=form.chosen(), actor_id=current_user.id)
        except ServiceError as exc:
            _group_error(form, exc)
        else:
            flash(f"Saved the group {saved.name}.", "success")
            return go(url_for("settings.assignment"), focus=f"group-{saved.id}")
    page = "settings/edit_group.html" if group else "settings/assignment.html"
    extra = {} if group else {**_context(), "rule_form": _new_rule_form(), "try_form": _try_form()}
    return render(page, "settings/_group_form.html", 422, group_form=form, group=group, **extra)


@bp.post("/assignment/groups/<int:group_id>/delete")
def delete_group(group_id: int):
    group = service.get_group(group_id)
    name = group.name
    try:
        service.delete_group(group.id, actor_id=current_user.id)
    except Conflict as exc:  # rules still use it: say so beside the delete button
        form = GroupForm(formdata=None, group_name=group.name).fill(group)
        return render("settings/edit_group.html", None, 422, group_form=form, group=group, delete_error=exc.message)
    flash(f"Deleted the group {name}.", "success")
    return go(url_for("settings.assignment"))


@bp.get("/assignment/try")
def try_rules():
    form = _try_form()
    verdicts = winner = lead = None
    if form.validate():
        try:
            lead = _lead_to_try(form)
            verdicts, winner = service.try_lead(lead)
        except ServiceError as exc:
            add_form_error(form, exc)
    return render("settings/assignment_try.html", "settings/_try.html", 200 if verdicts is not None else 422,
                  try_form=form, verdicts=verdicts, winner=winner, lead=lead)


def _lead_to_try(form: TryForm) -> Lead:
    if form.lead_email.data:
        lead = service.lead_by_email(form.lead_email.data)
        if lead is None:
            raise ServiceError("No lead has that email. Check it, or fill in the fields instead.", field="lead_email")
        return lead
    return service.sample_lead({"email": form.email.data, "company": form.company.data, "source": form.source.data,
                                "capture_form_id": whole_number(form.form.data), "country": form.country.data,
                                "region": form.region.data})
