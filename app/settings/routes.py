from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.services import ServiceError, stages as stage_service, team_settings, users as user_service
from app.settings import bp
from app.settings.forms import DeleteStageForm, RoleForm, StageForm, TeamSettingsForm, UserForm
from app.web import add_form_error, admin_required, go, render, wants_fragment, with_notice


@bp.before_request
@admin_required
def require_admin():
    pass


# --- users ------------------------------------------------------------------------------------


def _users_page(form: UserForm, status: int = 200):
    return render("settings/users.html", "settings/_user_form.html", status, form=form,
                  users=user_service.team(include_inactive=True), role_form=RoleForm())


@bp.get("/users")
def users():
    return _users_page(UserForm())


@bp.post("/users")
def add_user():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = user_service.create_user(form.email.data, form.password.data, form.role.data, form.name.data)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Added {user.name}. Give them their starting password in person.", "success")
            return go(url_for("settings.users"))
    return _users_page(form, 422)


@bp.post("/users/<int:user_id>/role")
def change_role(user_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        raise ServiceError("Role must be admin or member.")
    user = user_service.change_role(user_id, form.role.data)
    flash(f"{user.name} is now {'an admin' if user.is_admin else 'a member'}.", "success")
    return go(url_for("settings.users"))


@bp.post("/users/<int:user_id>/deactivate")
def deactivate(user_id: int):
    user = user_service.set_active(user_id, False)
    flash(f"{user.name} can no longer sign in. Their leads stay assigned to them.", "success")
    return go(url_for("settings.users"))


@bp.post("/users/<int:user_id>/reactivate")
def reactivate(user_id: int):
    user = user_service.set_active(user_id, True)
    flash(f"{user.name} can sign in again.", "success")
    return go(url_for("settings.users"))


# --- stages -----------------------------------------------------------------------------------


def _stages_page(form: StageForm | None = None, status: int = 200, **extra):
    return render("settings/stages.html", "settings/_stage_list.html", status,
                  form=form or StageForm(formdata=None), **_stage_context(), **extra)


@bp.get("/stages")
def stages():
    return _stages_page()


@bp.post("/stages")
def add_stage():
    form = StageForm()
    if form.validate_on_submit():
        try:
            stage = stage_service.add_stage(form.name.data, form.colour.data, form.kind.data)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash(f"Added the stage {stage.name}.", "success")
            return go(url_for("settings.stages"))
    return render("settings/stages.html", "settings/_stage_form.html", 422, form=form,
                  **_stage_context())


def _stage_context() -> dict:
    return {"stages": stage_service.pipeline(), "counts": stage_service.lead_counts()}


@bp.post("/stages/<int:stage_id>")
def update_stage(stage_id: int):
    form = StageForm()
    stage = stage_service.get_stage(stage_id)
    if form.validate_on_submit():
        try:
            stage_service.update_stage(stage.id, form.name.data, form.colour.data, form.kind.data)
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
    return render("settings/edit_stage.html", "settings/_stage_form.html", form=form, stage=stage)


@bp.post("/stages/order")
def reorder_stages():
    try:
        ids = [int(i) for i in request.form.getlist("stage_ids")]
    except ValueError:
        raise ServiceError("The new order named a stage that does not exist. Reload and try again.") from None
    stage_service.reorder(ids)
    return with_notice(_stages_page(), "Stage order saved.")


@bp.post("/stages/<int:stage_id>/move")
def shift_stage(stage_id: int):
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        raise ServiceError("Move a stage up or down.")
    stage_service.shift(stage_id, -1 if direction == "up" else 1)
    if not wants_fragment():
        return redirect(url_for("settings.stages"))
    stage = stage_service.get_stage(stage_id)
    return with_notice(_stages_page(focus=f"stage-{stage.id}-{direction}"), f"Moved {stage.name} {direction}.")


@bp.route("/stages/<int:stage_id>/delete", methods=["GET", "POST"])
def delete_stage(stage_id: int):
    stage = stage_service.get_stage(stage_id)
    form = DeleteStageForm()
    others = [s for s in stage_service.pipeline() if s.id != stage.id]
    form.move_to.choices = [(str(s.id), s.name) for s in others]
    count = stage_service.lead_count(stage.id)
    status = 200
    if form.validate_on_submit():
        target = int(form.move_to.data) if (form.move_to.data or "").isdigit() else None
        try:
            stage_service.delete_stage(stage.id, target, current_user.id)
        except ServiceError as exc:
            add_form_error(form, exc)
            status = exc.status if exc.status != 404 else 422
        else:
            flash(f"Deleted the stage {stage.name}.", "success")
            return go(url_for("settings.stages"))
    return render_template("settings/delete_stage.html", form=form, stage=stage, count=count), status


# --- team settings -----------------------------------------------------------------------------


@bp.route("/team", methods=["GET", "POST"])
def team():
    current = team_settings.current()
    form = TeamSettingsForm(timezone=current.timezone, appointment_stage=str(current.appointment_stage_id or ""))
    form.timezone.choices = [(n, n) for n in team_settings.timezone_names()]
    form.appointment_stage.choices = [("", "Don't move it")] + [(str(s.id), s.name) for s in stage_service.pipeline()]
    if form.validate_on_submit():  # the stage must be one of the choices; the service checks it still exists
        stage = form.appointment_stage.data
        try:
            team_settings.save(form.timezone.data, int(stage) if stage else None)
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            flash("Team settings saved.", "success")
            return go(url_for("settings.team"))
    return render_template("settings/team.html", form=form), 422 if form.is_submitted() else 200
