"""A capture form's held submissions (sent too fast to be sure): list, release, discard.

The admin check is the settings blueprint's before_request (app/settings/__init__.py)."""
from __future__ import annotations

from flask_login import current_user
from flask import flash, render_template, url_for

from app.services import ServiceError, capture_forms as form_service, held_submissions as held_service
from app.services.leads import FIELD_LABELS
from app.settings import bp
from app.web import go


def _page(capture_form, status: int = 200, error: str | None = None):
    return render_template("settings/forms_held.html", capture_form=capture_form, error=error,
                           held=held_service.held_for(capture_form.id), held_count=held_service.held_count(capture_form.id),
                           labels=FIELD_LABELS), status


@bp.get("/forms/<int:form_id>/held")
def held_submissions(form_id: int):
    return _page(form_service.get_form(form_id))


@bp.post("/forms/<int:form_id>/held/<int:held_id>/release")
def release_held(form_id: int, held_id: int):
    capture_form = form_service.get_form(form_id)
    try:
        captured = held_service.release(capture_form.id, held_id, actor_id=current_user.id)
    except held_service.HeldSubmissionNotFound:
        raise  # a 404 from the error handler, not the "cannot be captured" message below
    except ServiceError as exc:  # the form's questions changed since, or an answer no longer passes
        return _page(capture_form, 422, error=f"That submission cannot be captured as it is: {exc.message} "
                                              "Discard it, or ask the sender again.")
    lead = captured.lead
    flash(f"Released: {lead.full_name} is {'a new lead' if captured.created else 'an existing lead, updated'}.",
          "success")
    return go(url_for("settings.held_submissions", form_id=capture_form.id))


@bp.post("/forms/<int:form_id>/held/<int:held_id>/discard")
def discard_held(form_id: int, held_id: int):
    capture_form = form_service.get_form(form_id)
    held_service.discard(capture_form.id, held_id, actor_id=current_user.id)
    flash("Discarded the held submission.", "success")
    return go(url_for("settings.held_submissions", form_id=capture_form.id))
