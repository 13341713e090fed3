"""Nurture sequences at /settings/sequences: the list with headline figures, and each sequence's page:
its setting, ordered steps (email or task, delay, send window), enrolment rules, start / pause /
resume, figures, and delete while nobody was ever enrolled."""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_login import current_user

from app.services import ServiceError, closing, email_templates, sequence_summaries, sla
from app.services import sequences as service
from app.settings import bp
from app.settings.sequence_forms import RowForm, RuleForm, SequenceForm, StepForm
from app.web import add_form_error, go, render

STATUS_LABELS = {"draft": "Draft", "active": "Running", "paused": "Paused"}


def _step_form(form: StepForm | None = None) -> StepForm:
    form = form or StepForm(formdata=None)
    form.fill_choices(email_templates.templates())
    return form


def _rule_form(form: RuleForm | None = None) -> RuleForm:
    form = form or RuleForm(formdata=None)
    form.fill_choices(sla.form_choices_by_id(), {r.id: r.name for r in closing.reasons()}, sla.band_names())
    return form


def _list(form: SequenceForm | None = None, status: int = 200):
    return render("settings/sequences.html", "settings/_sequence_new_form.html", status,
                  summaries=sequence_summaries.summaries(), form=form or SequenceForm(formdata=None),
                  has_templates=bool(email_templates.templates()), status_labels=STATUS_LABELS)


def _page(sequence_id: int, fragment: str | None = None, status: int = 200, **context):
    """The sequence's page (or, for htmx, the one fragment named), with the forms given in `context`."""
    sequence = service.get_sequence(sequence_id)
    context.setdefault("settings_form", SequenceForm(formdata=None, obj=sequence))
    context["step_form"] = _step_form(context.get("step_form"))
    context["rule_form"] = _rule_form(context.get("rule_form"))
    figures = service.figures(sequence.id)  # its per_step holds every step, in order
    steps = [(step, service.describe_step(step), service.describe_delay(step), service.describe_window(step))
             for step, _, _ in figures.per_step]
    per_step = [(described, sent, skipped) for (_, described, _, _), (_, sent, skipped) in zip(steps, figures.per_step)]
    return render("settings/sequence.html", fragment, status, sequence=sequence, steps=steps, figures=figures,
                  per_step=per_step, rules=[(rule, service.describe_rule(rule)) for rule in service.rules(sequence.id)],
                  stop_reasons=service.STOP_REASONS, row_form=RowForm(formdata=None), status_labels=STATUS_LABELS,
                  **context)


@bp.get("/sequences")
def sequences():
    return _list()


@bp.post("/sequences")
def add_sequence():
    form = SequenceForm()
    if form.validate_on_submit():
        try:
            sequence = service.create_sequence(form.name.data, form.stop_on_other.data, current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Made the sequence {sequence.name}. Add its steps, then start it.", "success")
            return go(url_for("settings.sequence", sequence_id=sequence.id))
    return _list(form, 422)


@bp.get("/sequences/<int:sequence_id>")
def sequence(sequence_id: int):
    return _page(sequence_id)


@bp.post("/sequences/<int:sequence_id>")
def update_sequence(sequence_id: int):
    form = SequenceForm()
    if form.validate_on_submit():
        try:
            saved = service.update_sequence(sequence_id, form.name.data, form.stop_on_other.data, actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Saved the sequence {saved.name}.", "success")
            return go(url_for("settings.sequence", sequence_id=sequence_id))
    return _page(sequence_id, "settings/_sequence_form.html", 422, settings_form=form)


@bp.post("/sequences/<int:sequence_id>/start")
def start_sequence(sequence_id: int):
    """Start a draft, or resume a paused sequence; refused (422, beside the button) with no steps."""
    was = service.get_sequence(sequence_id).status
    if RowForm().validate_on_submit():
        try:
            service.start(sequence_id, actor_id=current_user.id)
        except ServiceError as exc:
            return _page(sequence_id, "settings/_sequence_status.html", 422, status_error=exc.message)
        flash("Resumed the sequence." if was == "paused" else "Started the sequence.", "success")
    return go(url_for("settings.sequence", sequence_id=sequence_id), focus="sequence-status-h")


@bp.post("/sequences/<int:sequence_id>/pause")
def pause_sequence(sequence_id: int):
    if RowForm().validate_on_submit():
        try:
            service.pause(sequence_id, actor_id=current_user.id)
        except ServiceError as exc:
            return _page(sequence_id, "settings/_sequence_status.html", exc.status, status_error=exc.message)
        flash("Paused the sequence: nothing is sent until you resume it.", "success")
    return go(url_for("settings.sequence", sequence_id=sequence_id), focus="sequence-status-h")


@bp.route("/sequences/<int:sequence_id>/delete", methods=["GET", "POST"])
def delete_sequence(sequence_id: int):
    sequence, form, status = service.get_sequence(sequence_id), RowForm(), 200
    if form.validate_on_submit():
        try:
            service.delete_sequence(sequence.id, actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
            status = exc.status
        else:
            flash(f"Deleted the sequence {sequence.name}.", "success")
            return go(url_for("settings.sequences"))
    return render("settings/sequence_delete.html", None, status, sequence=sequence, form=form)


# --- steps ---------------------------------------------------------------------------------------------


@bp.post("/sequences/<int:sequence_id>/steps")
def add_sequence_step(sequence_id: int):
    form = _step_form(StepForm())
    if form.validate_on_submit():
        try:
            step = service.add_step(sequence_id, form.settings(), actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Added step {len(service.steps(sequence_id))}: {service.describe_step(step)}.", "success")
            return go(url_for("settings.sequence", sequence_id=sequence_id), focus=f"step-{step.id}")
    return _page(sequence_id, "settings/_sequence_step_form.html", 422, step_form=form)


def _edit_step_page(step, form: StepForm, status: int = 200):
    return render("settings/sequence_step_edit.html", "settings/_sequence_step_form.html", status, step=step,
                  step_form=_step_form(form), sequence=service.get_sequence(step.sequence_id))


@bp.get("/sequences/steps/<int:step_id>/edit")
def edit_sequence_step(step_id: int):
    step = service.get_step(step_id)
    return _edit_step_page(step, StepForm.of(step))


@bp.post("/sequences/steps/<int:step_id>/edit")
def update_sequence_step(step_id: int):
    step, form = service.get_step(step_id), _step_form(StepForm())
    if form.validate_on_submit():
        try:
            service.update_step(step.id, form.settings(), actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Saved the step. Emails already sent stay as they were.", "success")
            return go(url_for("settings.sequence", sequence_id=step.sequence_id), focus=f"step-{step.id}")
    return _edit_step_page(step, form, 422)


@bp.post("/sequences/steps/<int:step_id>/move")
def move_sequence_step(step_id: int):
    step, direction = service.get_step(step_id), request.form.get("direction")
    if RowForm().validate_on_submit() and direction in ("up", "down"):
        service.move_step(step.id, -1 if direction == "up" else 1)
        flash(f"Moved the step {direction}.", "success")
    return go(url_for("settings.sequence", sequence_id=step.sequence_id), focus=f"step-{step.id}")


@bp.route("/sequences/steps/<int:step_id>/remove", methods=["GET", "POST"])
def remove_sequence_step(step_id: int):
    step, form = service.get_step(step_id), RowForm()
    if form.validate_on_submit():
        service.remove_step(step.id, actor_id=current_user.id)
        flash(f"Removed the step {service.describe_step(step)}.", "success")
        return go(url_for("settings.sequence", sequence_id=step.sequence_id), focus="sequence-steps-h")
    return render("settings/sequence_step_remove.html", None, step=step, form=form,
                  described=service.describe_step(step), sequence=service.get_sequence(step.sequence_id))


# --- enrolment rules -----------------------------------------------------------------------------------


@bp.post("/sequences/<int:sequence_id>/rules")
def add_sequence_rule(sequence_id: int):
    form = _rule_form(RuleForm())
    if form.validate_on_submit():
        try:
            service.add_rule(sequence_id, form.when.data, form.chosen_value(), actor_id=current_user.id)
        except ServiceError as exc:
            add_form_error(form, form.refused(exc))
        else:
            flash("Added the enrolment rule.", "success")
            return go(url_for("settings.sequence", sequence_id=sequence_id), focus="sequence-rules-h")
    return _page(sequence_id, "settings/_sequence_rule_form.html", 422, rule_form=form)


@bp.post("/sequences/<int:sequence_id>/rules/<int:sequence_rule_id>/delete")
def remove_sequence_rule(sequence_id: int, sequence_rule_id: int):
    if sequence_rule_id not in {rule.id for rule in service.rules(service.get_sequence(sequence_id).id)}:
        abort(404)
    if RowForm().validate_on_submit():
        service.remove_rule(sequence_rule_id, actor_id=current_user.id)
        flash("Removed the enrolment rule.", "success")
    return go(url_for("settings.sequence", sequence_id=sequence_id), focus="sequence-rules-h")
