"""Logged activities: a call (with its outcome), an email sent outside Leadboard, a meeting, or the
prospect's reply, with an optional note. Each is a row, a timeline entry and (ours, not a reply) a
touch, in one transaction; a reply stops the lead's sequences."""
from __future__ import annotations

from datetime import datetime

from app.extensions import db
from app.models import Activity
from app.services import ServiceError, atomic, sequences, utcnow
from app.services.leads import NOTE_LIMIT, UnknownUser, active_user, get_lead, touch as bump_lead
from app.services.scoring import rescore
from app.services.timeline import record
from app.services.touches import touch

# "reply": the prospect answered (by email, outside Leadboard): not a touch of ours, but it stops their sequences.
KINDS = {"call": "Call", "email": "Email", "meeting": "Meeting", "reply": "They replied"}
OUTCOMES = {"reached": "Reached", "voicemail": "Left a voicemail", "no_answer": "No answer",
            "wrong_number": "Wrong number"}
_NAMED = {"call": "a call", "email": "an email", "meeting": "a meeting", "reply": "a reply"}
MAX_MINUTES = 24 * 60  # a call or meeting longer than a day is a typo


def clean(kind: str, outcome: str | None, duration_minutes: int | None, note: str | None) -> tuple:
    """(kind, outcome, duration, note) checked; raises ServiceError naming the bad field. A call
    needs an outcome; an email has neither outcome nor duration."""
    if kind not in KINDS:
        raise ServiceError("Choose a call, an email, a meeting or their reply.", field="kind")
    outcome = outcome or None
    if kind == "call":
        if outcome not in OUTCOMES:
            raise ServiceError("Choose how the call went: reached, voicemail, no answer or wrong number.",
                               field="outcome")
    elif outcome is not None:
        raise ServiceError(f"Only a call has an outcome; leave it empty for {_NAMED[kind]}.",
                           field="outcome")
    if duration_minutes is not None:
        if isinstance(duration_minutes, bool) or not isinstance(duration_minutes, int):
            raise ServiceError("Give the duration in whole minutes.", field="duration_minutes")
        if kind in ("email", "reply"):
            raise ServiceError(f"{_NAMED[kind].capitalize()} has no duration; leave it empty.", field="duration_minutes")
        if duration_minutes < 0:
            raise ServiceError("A duration cannot be negative.", field="duration_minutes")
        if duration_minutes > MAX_MINUTES:
            raise ServiceError(f"Keep the duration to at most {MAX_MINUTES:,} minutes (a day).",
                               field="duration_minutes")
    note = (note or "").strip()
    if len(note) > NOTE_LIMIT:
        raise ServiceError(f"Keep the note under {NOTE_LIMIT:,} characters.", field="note")
    return kind, outcome, duration_minutes, note


def log_activity(lead_id: int, user_id: int | None, kind: str, *, outcome: str | None = None,
                 duration_minutes: int | None = None, note: str | None = None,
                 now: datetime | None = None) -> Activity:
    """Log a call, email or meeting on a lead: a row, its timeline entry and a touch (perhaps the
    first response), in one transaction. Raises ServiceError naming a bad field, LeadNotFound,
    UnknownUser (a `user_id` that is not an active teammate)."""
    kind, outcome, duration_minutes, note = clean(kind, outcome, duration_minutes, note)
    now = now or utcnow()
    with atomic():
        lead = get_lead(lead_id)
        if user_id is not None:
            try:
                active_user(user_id)
            except UnknownUser:
                raise ServiceError("That teammate is not an active user.", field="user_id") from None
        activity = Activity(lead_id=lead.id, user_id=user_id, kind=kind, outcome=outcome,
                            duration_minutes=duration_minutes, note=note, created_at=now)
        db.session.add(activity)
        bump_lead(lead)
        if kind == "reply":
            sequences.on_reply(lead, now, user_id)  # they engaged: nurturing stops
        else:
            touch(lead, user_id, kind, now)
        record(lead.id, f"{kind}_logged", user_id,
               {"outcome": outcome, "duration_minutes": duration_minutes, "note": note}, now)
        rescore(lead, now, actor_id=user_id)  # "no activity" rules read the lead's last change
    return activity
