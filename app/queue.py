"""The RQ queue: jobs are enqueued only after the transaction that needs them has committed."""
from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

# Workers take jobs from these in order: a job on "urgent" (an appointment email) starts before any
# waiting on "default" (nurture batches, imports, scoring), however many of those are queued.
QUEUES = ("urgent", "default")


class QueueUnavailable(RuntimeError):
    """No REDIS_URL is configured, or Redis did not answer."""


def connection(url: str | None = None) -> Redis:
    url = url or current_app.config["REDIS_URL"]
    if not url:
        raise QueueUnavailable("No REDIS_URL is configured, so background jobs cannot run.")
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def queue(name: str = "default", url: str | None = None) -> Queue:
    # JSON, not pickle: job arguments stay plain ids and strings, never ORM objects.
    return Queue(name, connection=connection(url), serializer=JSONSerializer)


def enqueue(func: str, *args, job_id: str | None = None, retry: Retry | None = None, **options):
    """Enqueue `func` (a dotted path under app.jobs) with plain arguments; raises QueueUnavailable."""
    from redis import RedisError
    try:
        return queue().enqueue(func, *args, job_id=job_id, retry=retry, **options)
    except RedisError as exc:
        raise QueueUnavailable(f"Redis did not answer ({type(exc).__name__}).") from exc


def waiting(name: str, limit: int) -> list[Job]:
    """The first `limit` jobs waiting on a queue, oldest first; none if Redis does not answer."""
    from redis import RedisError
    try:
        target = queue(name)
        found = Job.fetch_many(target.get_job_ids(0, limit), connection=target.connection, serializer=JSONSerializer)
    except (QueueUnavailable, RedisError):
        return []
    return [job for job in found if job is not None]
