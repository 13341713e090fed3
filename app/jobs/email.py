"""Email jobs: deliver one outbox row, or a batch over one SMTP connection; retries are scheduled from
what the rows say."""
from __future__ import annotations

from collections import Counter

from app.jobs import app_context


def deliver(outbox_id: int) -> str:
    """Send one outbox row; a second delivery of the same row finds it claimed and does nothing."""
    with app_context():
        from app.services import outbox
        results = outbox.deliver_batch([outbox_id])
        outbox.enqueue_retries(results)
        return results[outbox_id].outcome


def deliver_batch(outbox_ids: list[int]) -> str:
    """Send these outbox rows over one SMTP connection; rows another job has claimed are skipped."""
    with app_context():
        from app.services import outbox
        results = outbox.deliver_batch([int(i) for i in outbox_ids])
        outbox.enqueue_retries(results)
        tally = Counter(result.outcome for result in results.values())
        return ", ".join(f"{count} {outcome}" for outcome, count in sorted(tally.items()))
