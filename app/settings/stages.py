"""The pipeline's stages at /settings/stages: add, edit, reorder, and delete (moving its leads)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from app.services import ServiceError, stages as stage_service, whole_number
from app.services.stages import COLOUR
from app.settings import bp
from app.web import add_form_error, go, render, wants_fragment, with_notice

KINDS = [("open", "Open (work in progress)"), ("won", "Won"), ("lost", "Lost")]


class StageForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the stage a name."), Length(max=60)])
    colour = StringField("Colour", default="#64748b",
                         validators=[Regexp(COLOUR, message="Pick a colour like #3b82f6.")])
    kind = SelectField("Kind", choices=KINDS)
    # Checked by the service (stages.clean_stale_days), whose message lands beside the field.
    stale_days = StringField("Stale after (days without a touch)", validators=[Length(max=10)])
    # Checked by the service (stages.clean_probability): the forecast weights open value by it.
    probability = StringField("Win probability (%)", validators=[Length(max=10)])


class DeleteStageForm(FlaskForm):
    move_to = SelectField("Move its leads to", choices=[], validate_choice=False)


def _context() -> dict:
    return {"stages": stage_service.pipeline(), "counts": stage_service.lead_counts()}


def _page(form: StageForm | None = None, status: int = 200, **extra):
    return render("settings/stages.html", "settings/_stage_list.html", status,
                  form=form or StageForm(formdata=None), **_context(), **extra)


@bp.get("/stages")
def stages():
    return _page()


@bp.post("/stages")
def add_stage():
    form = StageForm()
    if form.validate_on_submit():
        try:
            stage = stage_service.add_stage(form.name.data, form.colour.data, form.kind.data,
                                            form.stale_days.data, actor_id=current_user.id,
                                            probability=form.probability.data)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Added the stage {stage.name}.", "success")
            return go(url_for("settings.stages"))
    return render("settings/stages.html", "settings/_stage_form.html", 422, form=form, **_context())


@bp.post("/stages/<int:stage_id>")
def update_stage(stage_id: int):
    form = StageForm()
    stage = stage_service.get_stage(stage_id)
    if form.validate_on_submit():
        try:
            stage_service.update_stage(stage.id, form.name.data, form.colour.data, form.kind.data,
                                       form.stale_days.data, actor_id=current_user.id,
                                       probability=form.probability.data)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Saved the stage {form.name.data}.", "success")
            return go(url_for("settings.stages"))
    return render("settings/edit_stage.html", "settings/_stage_form.html", 422, form=form, stage=stage)


@bp.get("/stages/<int:stage_id>/edit")
def edit_stage(stage_id: int):
    stage = stage_service.get_stage(stage_id)
    form = StageForm(obj=stage)
    form.stale_days.data = str(stage.stale_days) if stage.stale_days else ""
    form.probability.data = "" if stage.probability is None else str(stage.probability)
    return render("settings/edit_stage.html", "settings/_stage_form.html", form=form, stage=stage)


@bp.post("/stages/order")
def reorder_stages():
    try:
        ids = [int(i) for i in request.form.getlist("stage_ids")]
    except ValueError:
        raise ServiceError("The new order named a stage that does not exist. Reload and try again.") from None
    stage_service.reorder(ids)
    return with_notice(_page(), "Stage order saved.")


@bp.post("/stages/<int:stage_id>/move")
def shift_stage(stage_id: int):
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        raise ServiceError("Move a stage up or down.")
    stage_service.shift(stage_id, -1 if direction == "up" else 1)
    if not wants_fragment():
        return redirect(url_for("settings.stages"))
    stage = stage_service.get_stage(stage_id)
    return with_notice(_page(focus=f"stage-{stage.id}-{direction}"), f"Moved {stage.name} {direction}.")


@bp.route("/stages/<int:stage_id>/delete", methods=["GET", "POST"])
def delete_stage(stage_id: int):
    stage = stage_service.get_stage(stage_id)
    form = DeleteStageForm()
    others = [s for s in stage_service.pipeline() if s.id != stage.id]
    # No stage is picked for the person: their leads go only where they choose.
    form.move_to.choices = [("", "Choose a stage…")] + [(str(s.id), s.name) for s in others]
    count = stage_service.lead_count(stage.id)
    status = 200
    if form.validate_on_submit():
        target = whole_number(form.move_to.data)
        try:
            stage_service.delete_stage(stage.id, target, current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
            status = exc.status if exc.status != 404 else 422
        else:
            flash(f"Deleted the stage {stage.name}.", "success")
            return go(url_for("settings.stages"))
    return render_template("settings/delete_stage.html", form=form, stage=stage, count=count), status
