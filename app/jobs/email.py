"""Email jobs: deliver one outbox row; retries are scheduled from what the row says."""
from __future__ import annotations

from app.jobs import app_context


def deliver(outbox_id: int) -> str:
    """Send one outbox row; a second delivery of the same row finds it claimed and does nothing."""
    with app_context():
        from app.services import outbox
        result = outbox.deliver(outbox_id)
        if result.outcome == "retry":
            outbox.enqueue_delivery(outbox_id, result.attempts, at=result.retry_at)
        return result.outcome
