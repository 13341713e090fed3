"""Adding a task to a lead: the form on the lead page (its tasks panel swaps in place), on a board
card's menu and after ticking one done (the form swaps itself), and on a page of its own."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.forms import TaskForm, task_form
from app.leads import bp
from app.leads.forms import NoteForm
from app.leads.page import lead_tasks_context, page_context
from app.services import ServiceError, whole_number
from app.services import tasks as task_service
from app.services.leads import get_lead
from app.web import add_form_error, render, safe_next, wants_fragment, with_notice


@bp.get("/<int:lead_id>/tasks/new")
def new_task(lead_id: int):
    lead = get_lead(lead_id)
    follow = _followed(request.args.get("after"))
    return render_template("tasks/new.html", lead=lead, form=task_form(lead, follow=follow), followed=follow)


def _followed(raw):
    """The task just done that this one follows (?after=), if it is still there."""
    task_id = whole_number(raw)
    try:
        return task_service.get_task(task_id) if task_id is not None else None
    except ServiceError:
        return None


@bp.post("/<int:lead_id>/tasks")
def create_task(lead_id: int):
    lead = get_lead(lead_id)
    form = task_form(lead, submitted=True)
    if form.validate_on_submit():
        try:
            task = task_service.create_task(lead.id, current_user.id, title=form.title.data, due_at=form.due_utc(),
                                            kind=form.kind.data, owner_id=whole_number(form.owner_id.data),
                                            note=form.note.data)
        except ServiceError as exc:
            if exc.status == 403:
                raise
            add_form_error(form, exc)
        else:
            return _created(lead, task, form)
    return _form_reply(lead, form, 422)


def _created(lead, task, form: TaskForm):
    message = f"Added “{task.title}” for {task.owner.name}."
    if not wants_fragment():
        flash(message, "success")
        return redirect(safe_next(form.next.data, url_for("leads.show", lead_id=lead.id)))
    reply = _form_reply(lead, task_form(lead, where=form.where.data or "page"), 200)
    if form.where.data == "board":  # the card behind the menu shows its next task's due time: now this one's
        reply = (reply[0] + render_template("board/_card_task.html", card_lead=get_lead(lead.id)), *reply[1:])
    return with_notice(reply, message)


def _form_reply(lead, form: TaskForm, status: int):
    """The form where it was (refused: each message beside its field): the lead page's whole tasks
    panel, or the form alone (a board card's menu, after ticking one done, its own page)."""
    if form.where.data == "lead":
        context = {"lead": lead, "note_form": NoteForm(formdata=None), **page_context(lead),
                   **lead_tasks_context(lead, form)}
        return render("leads/show.html", "tasks/_lead_tasks.html", status, **context)
    return render("tasks/new.html", "tasks/_form.html", status, lead=lead, form=form, followed=None)
