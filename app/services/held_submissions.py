"""Web-form submissions held for review: sent faster than the minimum fill time, so maybe a bot,
maybe a person with a password manager. Instead of dropping them (while the sender is thanked),
the form keeps them until an admin releases one (captured like any submission) or discards it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import CaptureForm, HeldSubmission, Notification, User
from app.services import audit
from app.services import NotFound, atomic, utcnow
from app.services.notifications import app_path, notify
from app.services.capture import Captured
from app.services import capture_forms as form_service

TOO_FAST = "too fast"


class HeldSubmissionNotFound(NotFound):
    def __init__(self):
        super().__init__("That held submission is gone: someone already released or discarded it.")


def hold(form_id: int, values: dict, origin: dict | None = None, reason: str = TOO_FAST,
         now: datetime | None = None) -> HeldSubmission:
    """Keep a suspicious submission for review and tell the admins, in one transaction.

    Each active admin gets at most one unread notice per form, however many are held. Raises
    FormNotFound, or ServiceError naming a required field left empty (as submit would)."""
    now = now or utcnow()
    with atomic():
        form = db.session.get(CaptureForm, form_id)
        if form is None:
            raise form_service.FormNotFound()
        values = form_service.check_values(form, values)  # a missing answer goes back to the sender now
        held = HeldSubmission(form_id=form.id, values=values,
                              origin={k: v for k, v in (origin or {}).items() if v}, reason=reason, created_at=now)
        db.session.add(held)
        _notify_admins(form, now)
    return held


def _notify_admins(form: CaptureForm, now: datetime) -> None:
    already = set(db.session.scalars(select(Notification.user_id).where(
        Notification.capture_form_id == form.id, Notification.read_at.is_(None))))
    admins = db.session.scalars(select(User.id).where(User.role == "admin", User.active.is_(True)))
    message = (f"The form {form.name} held a submission for review: it was sent faster than a person "
               "fills the form in. Release it to make the lead, or discard it.")
    notify([uid for uid in admins if uid not in already], "held_submission", message, capture_form_id=form.id,
           url=app_path("settings.held_submissions", form_id=form.id), now=now)


HELD_SHOWN = 50


def held_for(form_id: int, limit: int = HELD_SHOWN) -> list[HeldSubmission]:
    """The form's oldest `limit` held submissions, oldest first: a queue worked from its head."""
    return list(db.session.scalars(select(HeldSubmission).where(HeldSubmission.form_id == form_id)
                                   .order_by(HeldSubmission.created_at, HeldSubmission.id).limit(limit)))


def held_count(form_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(HeldSubmission)
                             .where(HeldSubmission.form_id == form_id))


def held_counts() -> dict[int, int]:
    """Held submissions per form id, for the forms list (forms with none are absent)."""
    return dict(db.session.execute(select(HeldSubmission.form_id, func.count())
                                   .group_by(HeldSubmission.form_id)).all())


def _locked(form_id: int, held_id: int) -> HeldSubmission:
    held = db.session.scalar(select(HeldSubmission).where(HeldSubmission.id == held_id,
                                                          HeldSubmission.form_id == form_id).with_for_update())
    if held is None:
        raise HeldSubmissionNotFound()
    return held


def release(form_id: int, held_id: int, actor_id: int | None = None) -> Captured:
    """Capture a held submission as the normal submission it was (counted, the form as its origin).

    Raises HeldSubmissionNotFound, FormNotFound, or ServiceError naming a field the form now refuses."""
    with atomic():
        held = _locked(form_id, held_id)
        form = form_service.get_form(form_id)
        captured = form_service.submit(form, dict(held.values), dict(held.origin))
        audit.record(actor_id, "held_submission.released", f"{captured.lead.full_name} on the form {form.name}")
        db.session.delete(held)
    return captured


def discard(form_id: int, held_id: int, actor_id: int | None = None) -> None:
    """Delete a held submission. Raises HeldSubmissionNotFound."""
    with atomic():
        held = _locked(form_id, held_id)
        audit.record(actor_id, "held_submission.discarded", f"A submission on the form {form_service.get_form(form_id).name}")
        db.session.delete(held)
