"""Logging a call, an email sent outside Leadboard, or a meeting from the lead page (htmx, or a plain
post without JavaScript); the tel: and mailto: prompts post here too."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from app.leads import bp
from app.leads.forms import ActivityForm, NoteForm
from app.leads.page import page_context, sequences_context, stage_version_kept, timeline_context, touch_context
from app.services import ServiceError, activities as activity_service, leads as lead_service
from app.web import add_form_error, wants_fragment, with_notice

LOGGED = {"call": "Logged the call.", "email": "Logged the email.", "meeting": "Logged the meeting.",
          "reply": "Logged their reply."}


@bp.post("/<int:lead_id>/activities")
def log_activity(lead_id: int):
    form = ActivityForm()
    if form.validate_on_submit():
        try:
            before = lead_service.get_lead(lead_id).version
            activity_service.log_activity(lead_id, current_user.id, form.kind.data, outcome=form.outcome_given(),
                                          duration_minutes=form.minutes(), note=form.note.data)
        except lead_service.LeadNotFound as exc:  # deleted or merged meanwhile: say so on the form
            if not wants_fragment():
                raise
            form.form_errors.append(exc.message)
            return render_template("leads/_activity_form.html", lead_id=lead_id, activity_form=form), 404
        except ServiceError as exc:
            add_form_error(form, exc)
        else:
            return _logged(lead_service.get_lead(lead_id), LOGGED[form.kind.data], form.kind.data == "reply",
                           keep_version=stage_version_kept(before))
    lead = lead_service.get_lead(lead_id)
    if wants_fragment():
        return render_template("leads/_activity_form.html", lead_id=lead.id, activity_form=form), 422
    return render_template("leads/show.html", lead=lead, note_form=NoteForm(),
                           **{**page_context(lead), "activity_form": form}), 422


def _logged(lead, message: str, replied: bool = False, keep_version: bool = False):
    """The form again, empty, with the timeline and touch facts; a reply stopped the lead's
    sequences, so their panel comes along too."""
    if not wants_fragment():
        flash(message, "success")
        return redirect(url_for("leads.show", lead_id=lead.id))
    sequences = {"sequences_changed": True, **sequences_context(lead)} if replied else {}
    return with_notice(render_template("leads/_activity_logged.html", lead=lead, lead_id=lead.id,
                                       activity_form=ActivityForm(formdata=None), **sequences, keep_version=keep_version,
                                       **timeline_context(lead.id), **touch_context(lead)), message)
