"""Webhook jobs: deliver a batch of delivery rows; retries are scheduled from what the rows say."""
from __future__ import annotations

from collections import Counter

from app.jobs.email import worker_context


def deliver(delivery_ids: list[int]) -> str:
    """Send these deliveries in order; rows another job has claimed, or held back behind an earlier
    delivery of their lead, are skipped (they are enqueued again when their turn comes)."""
    with worker_context():
        from app.services import webhooks
        results = webhooks.deliver([int(i) for i in delivery_ids])
        tally = Counter(result.outcome for result in results.values())
        return ", ".join(f"{count} {outcome}" for outcome, count in sorted(tally.items()))
