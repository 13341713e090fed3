"""An access request: everything Leadboard holds about one person, as one JSON document (the lead's
fields, custom fields, tags, consent, timeline, notes, activities, tasks, appointments, sequence
enrolments and the emails written to them). Admins only; each export is in the audit log."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import or_, select

from app.extensions import db
from app.models import (Activity, Appointment, Lead, Note, OutboxEmail, Sequence, SequenceEnrolment, Task,
                        TimelineEntry, User)
from app.models.lead import EDITABLE_FIELDS
from app.services import NotFound, atomic, audit, custom_fields, utcnow
from app.services.erasure import AlreadyErased, erased
from app.services.suppression import key
from app.services.tags import tags_for

LEAD_COLUMNS = (*EDITABLE_FIELDS, "utm_source", "utm_medium", "utm_campaign", "referrer", "created_at", "updated_at",
                "score", "closed_on", "lost_note", "consent_at", "consent_text", "deleted_at")


class PersonNotFound(NotFound):
    def __init__(self):
        super().__init__("That lead does not exist (it may have been merged, purged or erased).")


def _form_name(form_id: int | None) -> str | None:
    from app.models import CaptureForm  # noqa: PLC0415
    return db.session.scalar(select(CaptureForm.name).where(CaptureForm.id == form_id)) if form_id else None


def _plain(value):
    if isinstance(value, datetime):  # stored in UTC without a zone: said so, as the API does ("Z")
        return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _names(ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}


def collect(lead_id: int) -> dict:
    """The document for one lead (in the trash too). Raises AlreadyErased (410: the person was
    erased, there is nothing to export) or PersonNotFound."""
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        done = erased(lead_id)
        raise AlreadyErased(done, "export") if done else PersonNotFound()
    by_lead = lambda model, order: list(db.session.scalars(  # noqa: E731
        select(model).where(model.lead_id == lead.id).order_by(order, model.id)))
    timeline = by_lead(TimelineEntry, TimelineEntry.created_at)
    notes = by_lead(Note, Note.created_at)
    activities = by_lead(Activity, Activity.created_at)
    tasks = by_lead(Task, Task.due_at)
    appointments = by_lead(Appointment, Appointment.starts_at)
    enrolments = list(db.session.execute(select(SequenceEnrolment, Sequence.name).join(Sequence)
                                         .where(SequenceEnrolment.lead_id == lead.id).order_by(SequenceEnrolment.id)))
    address = key(lead.email) if lead.email else None
    emails = list(db.session.scalars(select(OutboxEmail).where(or_(
        OutboxEmail.lead_id == lead.id, OutboxEmail.to_address == address if address else False))
        .order_by(OutboxEmail.created_at, OutboxEmail.id)))
    people = _names([e.actor_id for e in timeline] + [n.author_id for n in notes] + [a.user_id for a in activities]
                    + [t.owner_id for t in tasks] + [lead.owner_id])
    values = custom_fields.values_for([lead.id]).get(lead.id, {})
    return {
        "exported_at": utcnow().isoformat(),
        "lead": {name: _plain(getattr(lead, name)) for name in LEAD_COLUMNS},
        "owner": people.get(lead.owner_id),
        "stage": lead.stage.name if lead.stage else None,
        "custom_fields": {k: custom_fields.json_value(v) for k, v in values.items()},
        "tags": tags_for([lead.id]).get(lead.id, []),
        "consent": {"given_at": _plain(lead.consent_at), "text": lead.consent_text,
                    "form": _form_name(lead.consent_form_id)} if lead.consent_at else None,
        "timeline": [{"at": _plain(e.created_at), "kind": e.kind, "by": people.get(e.actor_id), "data": e.data}
                     for e in timeline],
        "notes": [{"at": _plain(n.created_at), "by": people.get(n.author_id), "text": n.body} for n in notes],
        "activities": [{"at": _plain(a.created_at), "kind": a.kind, "outcome": a.outcome, "by": people.get(a.user_id),
                        "minutes": a.duration_minutes, "note": a.note} for a in activities],
        "tasks": [{"title": t.title, "kind": t.kind, "due_at": _plain(t.due_at), "done_at": _plain(t.done_at),
                   "owner": people.get(t.owner_id), "note": t.note} for t in tasks],
        "appointments": [{"starts_at": _plain(a.starts_at), "minutes": a.duration_minutes, "location": a.location,
                          "note": a.note, "status": a.status, "message": a.prospect_message} for a in appointments],
        "sequences": [{"sequence": name, "status": e.status, "enrolled_at": _plain(e.enrolled_at),
                       "ended_at": _plain(e.ended_at), "stop_reason": e.stop_reason} for e, name in enrolments],
        "emails": [{"at": _plain(m.created_at), "to": m.to_address, "subject": m.subject, "state": m.state,
                    "sent_at": _plain(m.sent_at), "text": m.text_body} for m in emails],
    }


def export(lead_id: int, actor_id: int | None) -> tuple[str, str]:
    """(file name, JSON text) of one person's data, recorded in the audit log (one transaction).
    Raises AlreadyErased or PersonNotFound."""
    with atomic():
        document = collect(lead_id)
        lead = db.session.get(Lead, lead_id)
        audit.record(actor_id, "lead.data_exported", lead.full_name, {"lead_id": lead_id})
    return f"lead-{lead_id}-personal-data.json", json.dumps(document, indent=2, ensure_ascii=False, default=str)
