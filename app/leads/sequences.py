"""Nurture sequences from the lead's side: its page's Sequences panel (enrol, stop; htmx swaps the
panel, plain posts redirect), and enrolling every lead the pool's filters match as a job with a
progress page. Enrolling the selected leads is one of the pool's bulk actions (routes.bulk)."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from app.extensions import db
from app.leads import bp
from app.leads.filters import pool_filters
from app.leads.forms import EnrolForm, EnrolMatchingForm, NoteForm
from app.leads.page import page_context, sequences_context, stage_version_kept, timeline_context
from app.models import SequenceEnrolment
from app.services import ServiceError, leads as lead_service, sequence_bulk, sequences as sequence_service, whole_number
from app.web import go, render, wants_fragment, with_notice


def _panel(lead, message: str | None, form: EnrolForm | None = None, status: int = 200, refocus: bool = False,
           before: int | None = None):
    """The panel (and the timeline, which the change wrote to) for htmx; the page otherwise.
    `before`: the lead's version before the change."""
    if status == 200 and not wants_fragment():
        flash(message, "success")
        return redirect(url_for("leads.show", lead_id=lead.id) + "#lead-sequences")
    context = {"lead": lead, "refocus": refocus, **sequences_context(lead, form)}
    if wants_fragment():
        if status != 200:
            return render_template("leads/_sequences.html", **context), status
        return with_notice(render_template("leads/_sequences_changed.html", **context, **timeline_context(lead.id),
                                           keep_version=before is not None and stage_version_kept(before)),
                           message)
    return render_template("leads/show.html", note_form=NoteForm(), **{**page_context(lead), **context}), status


@bp.post("/<int:lead_id>/sequences")
def enrol(lead_id: int):
    lead = lead_service.get_lead(lead_id)
    version = lead.version
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            enrolment = sequence_service.enrol(lead.id, form.sequence(), current_user.id)
        except lead_service.LeadNotFound:  # deleted or merged meanwhile
            raise
        except ServiceError as exc:  # not started, already in it, address refused, sequence gone: beside the select
            form.sequence_id.errors = [*form.sequence_id.errors, exc.message]
        else:
            return _panel(lead, f"Enrolled {lead.full_name} in “{enrolment.sequence.name}”.", before=version)
    return _panel(lead, None, form, 422)


@bp.post("/<int:lead_id>/sequences/<int:enrolment_id>/stop")
def stop_enrolment(lead_id: int, enrolment_id: int):
    lead = lead_service.get_lead(lead_id)
    version = lead.version
    enrolment = db.session.get(SequenceEnrolment, enrolment_id)
    if enrolment is None or enrolment.lead_id != lead.id:
        raise sequence_service.EnrolmentNotFound()
    enrolment = sequence_service.stop_enrolment(enrolment.id, current_user.id)
    return _panel(lead, f"Stopped “{enrolment.sequence.name}” for {lead.full_name}.", refocus=True, before=version)


@bp.post("/sequence-runs")
def enrol_matching():
    """Enrol every lead the pool's filters (in the address) match: a job, then its progress page."""
    filters = pool_filters()
    form = EnrolMatchingForm()
    sequence_id = whole_number(form.sequence.data or "") if form.validate_on_submit() else None
    if sequence_id is None:
        raise ServiceError("Choose the sequence to enrol the leads in.", field="sequence_id")
    run = sequence_bulk.start_run(filters, sequence_id, current_user.id)
    return go(url_for("leads.sequence_run", sequence_run_id=run.id))


@bp.get("/sequence-runs/<int:sequence_run_id>")
def sequence_run(sequence_run_id: int):
    run = sequence_bulk.get_run(sequence_run_id)
    finished = run.state in ("done", "failed")
    announce = None
    if finished and wants_fragment():
        announce = (f"Enrolled {run.enrolled:,} of {run.done:,} leads." if run.state == "done"
                    else "The enrolment stopped.")
    return with_notice(render("leads/sequence_run.html", "leads/_sequence_run.html", run=run,
                              percent=sequence_bulk.percent_done(run), polling=not finished,
                              sequence=sequence_service.get_sequence(run.sequence_id),
                              pool_url=url_for("leads.index") + (f"?{run.query}" if run.query else "")),
                       announce, "success" if run.state == "done" else "error")
