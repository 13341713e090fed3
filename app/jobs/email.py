"""Email jobs: deliver one outbox row, or a batch over one SMTP connection; retries are scheduled from
what the rows say."""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from flask import g, has_app_context

from app.jobs import app_context

IN_WORKER = "leadboard_in_worker"  # set on g by worker.py when it runs an email job in its own process


@contextmanager
def _context():
    """In the worker's own process (worker.py runs email jobs there), its app context and its warm
    database pool as they are; anywhere else (a work horse, a test), a job's usual context."""
    if has_app_context() and g.get(IN_WORKER):
        from app.extensions import db
        try:
            yield
        finally:
            db.session.remove()
        return
    with app_context():
        yield


def deliver(outbox_id: int) -> str:
    """Send one outbox row; a second delivery of the same row finds it claimed and does nothing."""
    with _context():
        from app.services import outbox
        results = outbox.deliver_batch([outbox_id])
        outbox.enqueue_retries(results)
        return results[outbox_id].outcome


def deliver_batch(outbox_ids: list[int]) -> str:
    """Send these outbox rows over one SMTP connection; rows another job has claimed are skipped."""
    with _context():
        from app.services import outbox
        results = outbox.deliver_batch([int(i) for i in outbox_ids])
        outbox.enqueue_retries(results)
        tally = Counter(result.outcome for result in results.values())
        return ", ".join(f"{count} {outcome}" for outcome, count in sorted(tally.items()))
