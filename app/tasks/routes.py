"""Tasks: "My day" (/today), the one-press done and snooze, and changing a task on its own page
(adding one is the leads blueprint's: app/leads/tasks.py). htmx swaps the row or form in place; without JavaScript every POST
redirects back (or to the next-task form, when the team asks for one)."""
from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.models import User
from app.services import ServiceError, utcnow, whole_number
from app.services import tasks as service
from app.services.leads import get_lead
from app.services.team_settings import user_timezone
from app.services.users import team
from app.tasks import bp
from app.forms import DoneForm, SnoozeForm, TaskForm, task_form, task_rows_context
from app.web import add_form_error, render, safe_next, wants_fragment, with_notice


@bp.before_request
@login_required
def require_login():
    pass


# --- My day --------------------------------------------------------------------------------------


def _subject():
    """Whose day: your own; an admin may pick any member (?user=)."""
    picked = whole_number(request.args.get("user"))
    if picked is None or picked == current_user.id or not current_user.is_admin:
        return current_user
    person = next((u for u in team() if u.id == picked), None)
    if person is None:
        abort(404, description="That person is not an active member of the team.")
    return person


@bp.get("/today")
def today():
    person = _subject()
    zone = user_timezone(current_user)
    sections = service.my_day(person.id, zone)
    return render("tasks/today.html", None, person=person, sections=sections, people=team(), zone=zone,
                  can_pick_person=current_user.is_admin, **task_rows_context("today", url_for("tasks.today", user=person.id)))


@bp.get("/today/more")
def more():
    """The next rows of one section: in place for htmx, on a page of their own without JavaScript."""
    person = _subject()
    name = request.args.get("section")
    after = _after(request.args.get("after"))
    if name not in service.SECTIONS or after is None:
        abort(400, description="That “Show more” link is not valid. Go back to My day.")
    zone = user_timezone(current_user)
    found = service.section(person.id, name, zone, utcnow(), after)
    return render("tasks/more.html", "tasks/_section_items.html", person=person, section=found,
                  **task_rows_context("today", url_for("tasks.today", user=person.id)))


def _after(raw: str | None) -> tuple[datetime, int] | None:
    due, _, task_id = (raw or "").partition("_")
    try:
        moment = datetime.fromisoformat(due)
    except ValueError:
        return None
    number = whole_number(task_id)
    return (moment.replace(tzinfo=None), number) if number is not None else None


# --- one press: done, snooze, delete --------------------------------------------------------------


@bp.post("/tasks/<int:task_id>/done")
def done(task_id: int):
    form = DoneForm()
    if not form.validate_on_submit():
        abort(400)
    task = service.complete_task(task_id, current_user.id)
    message = f"Done: {task.title}."
    if service.ask_next_task():
        return _ask_next(task, form, message)
    return _row_gone(message, form, owner_id=task.owner_id)


def _ask_next(task, form: DoneForm, message: str):
    lead = get_lead(task.lead_id)
    if not wants_fragment():
        flash(message + " What's the next step?", "success")
        return redirect(url_for("leads.new_task", lead_id=lead.id, after=task.id))
    next_form = task_form(lead, where=form.where.data or "today", follow=task)
    body = render_template("tasks/_next.html", lead=lead, form=next_form, followed=task)
    return with_notice(body, message + " What's the next step?")


def _row_gone(message: str, form, body: str = "", owner_id: int | None = None):
    if not wants_fragment():
        flash(message, "success")
        return redirect(safe_next(form.next.data, url_for("tasks.today")))
    if form.where.data == "today" and owner_id is not None:
        body += _day(owner_id)
    return with_notice(body, message)


def _day(owner_id: int) -> str:
    """My day's sections for the task's owner (whose day the press was on), to swap in out of band."""
    zone = user_timezone(current_user)
    return render_template("tasks/_day.html", oob=True, person=db.session.get(User, owner_id),
                           sections=service.my_day(owner_id, zone),
                           **task_rows_context("today", url_for("tasks.today", user=owner_id)))


@bp.post("/tasks/<int:task_id>/snooze")
def snooze(task_id: int):
    form = SnoozeForm()
    if not form.validate_on_submit():
        raise ServiceError("Snooze for an hour, until tomorrow or until next week.", field="until")
    task = service.snooze_task(task_id, current_user.id, form.until.data)
    message = f"Snoozed “{task.title}” until {service.local_time(task.due_at, user_timezone(current_user))}."
    if form.where.data == "lead" and wants_fragment():
        row = render_template("tasks/_row.html", task=task, **task_rows_context("lead", form.next.data or ""))
        return _row_gone(message, form, row)
    return _row_gone(message, form, owner_id=task.owner_id)


@bp.post("/tasks/<int:task_id>/delete")
def delete(task_id: int):
    form = DoneForm()
    if not form.validate_on_submit():
        abort(400)
    owner_id = service.get_task(task_id).owner_id
    service.delete_task(task_id, current_user.id)
    return _row_gone("Deleted the task.", form, owner_id=owner_id)


# --- changing one --------------------------------------------------------------------------------


@bp.route("/tasks/<int:task_id>/edit", methods=["GET", "POST"])
def edit(task_id: int):
    task = service.get_task(task_id)
    lead = get_lead(task.lead_id)
    if not service.may_change(current_user, task.owner_id, lead):
        abort(403, description="Only the task's owner, the lead's owner or an admin can change it.")
    form = task_form(lead, submitted=True) if request.method == "POST" else _filled(task, lead)
    if form.validate_on_submit():
        try:
            service.update_task(task.id, current_user.id, title=form.title.data, due_at=form.due_utc(),
                                kind=form.kind.data, owner_id=whole_number(form.owner_id.data), note=form.note.data)
        except ServiceError as exc:
            if exc.status == 403:
                raise
            add_form_error(form, exc)
        else:
            flash("Saved the task.", "success")
            return redirect(safe_next(form.next.data, url_for("leads.show", lead_id=lead.id)))
    return render_template("tasks/edit.html", lead=lead, task=task, form=form), 422 if form.is_submitted() else 200


def _filled(task, lead) -> TaskForm:
    local = service.local(task.due_at, user_timezone(current_user))
    form = TaskForm(formdata=None, title=task.title, kind=task.kind, due_at=local.date(),
                    due_time=local.time().replace(second=0, microsecond=0), note=task.note,
                    next=safe_next(request.args.get("next"), url_for("leads.show", lead_id=lead.id)))
    form.owner_id.choices = [(str(u.id), u.name) for u in team()]
    form.owner_id.data = str(task.owner_id)
    return form
