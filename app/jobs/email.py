"""Email jobs: deliver one outbox row, or a batch over one SMTP connection; retries are scheduled from
what the rows say."""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from flask import g, has_app_context

from app.jobs import app_context

IN_WORKER = "leadboard_in_worker"  # set on g by worker.py when it runs an email job in its own process


@contextmanager
def worker_context():
    """In the worker's own process (worker.py runs email and webhook jobs there), its app context
    and its warm database pool as they are; anywhere else (a work horse, a test), a job's usual context."""
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
    """Send one outbox row; a second delivery of the same row finds it claimed and does nothing.

    A job from the urgent queue takes along the rows of the delivery jobs waiting behind it there
    (appointment emails booked meanwhile), over its one connection: at 10 bookings a second one job
    serves every booking of the moment, and their own jobs find their rows claimed and do nothing."""
    with worker_context():
        from app.services import outbox
        results = outbox.deliver_batch([outbox_id, *_waiting_behind(outbox_id)])
        outbox.enqueue_retries(results)
        return results[outbox_id].outcome


def _waiting_behind(outbox_id: int) -> list[int]:
    """The rows that delivery jobs waiting on the urgent queue carry, if this job came from it."""
    from flask import current_app
    from rq import get_current_job
    from app.queue import waiting
    from app.services import outbox
    job = get_current_job()
    if job is None or job.origin != outbox.FIRST_QUEUE:
        return []
    size = current_app.config["EMAIL_BATCH_SIZE"]
    rows = [row for behind in waiting(job.origin, size) for row in outbox.rows_of(behind) if row != outbox_id]
    return list(dict.fromkeys(rows))[:size - 1]


def deliver_batch(outbox_ids: list[int]) -> str:
    """Send these outbox rows over one SMTP connection; rows another job has claimed are skipped."""
    with worker_context():
        from app.services import outbox
        results = outbox.deliver_batch([int(i) for i in outbox_ids])
        outbox.enqueue_retries(results)
        tally = Counter(result.outcome for result in results.values())
        return ", ".join(f"{count} {outcome}" for outcome, count in sorted(tally.items()))
