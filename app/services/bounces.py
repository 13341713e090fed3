"""Hard bounces: a relay that refuses a prospect's address for good marks it undeliverable on the lead.

The outbox calls record_hard_bounce inside the transaction that fails the email, so the mark, its
timeline entry and whatever a bounce stops happen together or not at all."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update

from app.extensions import db
from app.models import Lead, SuppressionReason
from app.services import ServiceError
from app.services.timeline import record


def record_hard_bounce(lead_id: int, address: str, reason: str, now: datetime) -> bool:
    """Mark the lead's email undeliverable, with the relay's reason, on its timeline, and stop what a
    bounce stops (call inside atomic()). False, and nothing done, when the lead's address is no longer
    this one (edited since the email was written) or the lead is gone."""
    marked = db.session.execute(
        update(Lead)
        .where(Lead.id == lead_id, func.lower(Lead.email) == address.strip().lower())
        .values(email_undeliverable_at=now, email_undeliverable_reason=reason)
        .execution_options(synchronize_session=False)).rowcount
    if not marked:
        return False
    record(lead_id, "email_undeliverable", None, {"to": address, "reason": reason}, now)
    on_hard_bounce(lead_id, address, reason)
    from app.services import events  # noqa: PLC0415 (events -> automations -> ... -> outbox -> bounces)
    events.emit("lead.email_bounced", lead_id=lead_id, data={"reason": reason}, now=now)
    return True


def on_hard_bounce(lead_id: int, address: str, reason: str) -> None:
    """What a hard bounce ends, in the transaction that records it: the address goes on the
    suppression list (reason "bounced"), so no later email but an appointment email the person asked
    for is sent to it, and the sequences of the lead (and of every lead with that address) stop."""
    from app.services.suppression import suppress  # noqa: PLC0415 (suppression -> outbox -> bounces)
    from app.services.sequences import on_address_refused  # noqa: PLC0415 (sequences -> outbox -> bounces)
    try:
        suppress(address, SuppressionReason.bounced.value, lead_id=lead_id)
    except ServiceError:  # an address the list cannot hold: the lead's mark is enough
        pass
    on_address_refused(address, lead_id, "bounced")
