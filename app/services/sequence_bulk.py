"""Enrolling every lead the pool's filters (or a saved view) match in a sequence, as a job with
progress: a `SequenceBulkRun` row holds the filters (as the pool's query string), and the worker
walks the matching leads by id (keyset), BATCH at a time. Each batch is one transaction: the leads
enrolled (`sequences.enrol_many`, which passes over those already in the sequence) and the run's
progress (done, enrolled, after_id) commit together, so a worker killed mid-run leaves the run where
its last batch ended; the sweep (`requeue_lost_runs`) queues it again and it carries on from there,
enrolling nobody twice. A batch commits only if the run is still where it read it (after_id), so
two deliveries of one job never both count a batch."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import func, or_, select, update

from app.extensions import db
from app.models import Lead, SequenceBulkRun, SequenceStatus, User
from app.services import NotFound, ServiceError, atomic, utcnow
from app.services import permissions, sequences
from app.services.lead_queries import PoolFilters, filtered

BATCH = 500  # at most leads.MAX_BULK, the most enrol_many takes at once
QUERY_MAX = 2000
RUN_STALE = timedelta(minutes=5)  # a running run without a batch for this long lost its worker
RUN_REQUEUE = timedelta(minutes=1)  # a queued run not started this long after (Redis was away)
JOB_TIMEOUT = 3600


class RunNotFound(NotFound):
    def __init__(self):
        super().__init__("That enrolment run no longer exists (its sequence may have been deleted).")


class _Overtaken(Exception):
    """Another delivery of the job committed this batch first: roll ours back and stop."""


def start_run(filters: PoolFilters, sequence_id: int, actor_id: int | None,
              now: datetime | None = None) -> SequenceBulkRun:
    """Queue enrolling every lead `filters` match (as `actor_id` sees the pool: "me" is kept as
    their id) in the sequence. Raises ServiceError naming sequence_id (not found, not started), or
    the filters when they are too long to keep."""
    now = now or utcnow()
    owner = str(actor_id) if filters.owner == "me" and actor_id is not None else filters.owner
    # The walk is in id order: the pool's sort and page are not part of what is enrolled.
    query = urlencode(filters.as_args(owner=owner, sort="created", dir="desc"))
    if len(query) > QUERY_MAX:
        raise ServiceError("These filters are too long to enrol from; narrow them with fewer values.", field="query")
    with atomic():
        try:
            sequence = sequences.get_sequence(sequence_id)
        except sequences.SequenceNotFound as exc:
            raise ServiceError(exc.message, field="sequence_id") from None
        if sequence.status == SequenceStatus.draft.value:
            raise ServiceError(f"“{sequence.name}” is not started yet: start it in Settings → Sequences first.",
                               field="sequence_id")
        run = SequenceBulkRun(sequence_id=sequence.id, actor_id=actor_id, query=query, total=0, done=0,
                              enrolled=0, after_id=0, state="queued", created_at=now)
        db.session.add(run)
        db.session.flush()
    _enqueue(run.id)
    return run


def _enqueue(run_id: int) -> None:
    """Queue the run's job after commit; with Redis away the sweep queues it once Redis is back."""
    from app.queue import QueueUnavailable, enqueue  # noqa: PLC0415 (the queue needs an app)
    try:
        enqueue("app.jobs.sequence_bulk.enrol_matching", run_id, job_id=f"sequence-bulk-{run_id}",
                job_timeout=JOB_TIMEOUT)
    except QueueUnavailable:
        pass


def get_run(run_id: int) -> SequenceBulkRun:
    run = db.session.get(SequenceBulkRun, run_id) if isinstance(run_id, int) else None
    if run is None:
        raise RunNotFound()
    return run


def filters_of(run: SequenceBulkRun) -> PoolFilters:
    """The pool filters the run enrols from, narrowed to the leads its starter may see (as they may
    now: permissions.visible_to); raises ServiceError when a custom field it names is gone."""
    filters = PoolFilters.from_args(dict(parse_qsl(run.query)))
    actor = db.session.get(User, run.actor_id) if run.actor_id is not None else None
    return replace(filters, visible_to=permissions.visible_to(actor)) if actor is not None else filters


def percent_done(run: SequenceBulkRun) -> int:
    if run.state == "done":
        return 100
    return min(99, run.done * 100 // run.total) if run.total else 0


def claim(run_id: int, now: datetime | None = None) -> bool:
    """Take a queued run, or a running one whose worker went silent (no batch for RUN_STALE); the
    first claim counts the leads to go through (once, in the worker, not in the request)."""
    now = now or utcnow()
    with atomic():
        claimed = db.session.execute(
            update(SequenceBulkRun).where(SequenceBulkRun.id == run_id, or_(
                SequenceBulkRun.state == "queued",
                (SequenceBulkRun.state == "running") & (SequenceBulkRun.heartbeat_at < now - RUN_STALE)))
            .values(state="running", heartbeat_at=now).execution_options(synchronize_session=False)).rowcount
        if claimed:
            run = db.session.get(SequenceBulkRun, run_id, populate_existing=True)
            if not run.total:
                try:
                    matching = filtered(select(Lead.id), filters_of(run), run.actor_id).subquery()
                except ServiceError:  # a filter's custom field is gone: the first batch says so
                    return True
                run.total = db.session.scalar(select(func.count()).select_from(matching)) or 0
    return bool(claimed)


def run_batch(run_id: int, batch: int = BATCH, now: datetime | None = None) -> bool:
    """Enrol the next `batch` matching leads after the run's last one, and record the progress, in one
    transaction. Returns whether the run goes on (False: done, failed, gone, or overtaken)."""
    now = now or utcnow()
    try:
        with atomic():
            run = db.session.get(SequenceBulkRun, run_id, populate_existing=True)
            if run is None or run.state != "running":
                return False
            after = run.after_id
            ids = list(db.session.scalars(filtered(select(Lead.id), filters_of(run), run.actor_id)
                                          .where(Lead.id > after).order_by(Lead.id).limit(batch)))
            enrolled = sequences.enrol_many(ids, run.sequence_id, run.actor_id, how="bulk", now=now) if ids else 0
            values = {"done": SequenceBulkRun.done + len(ids), "enrolled": SequenceBulkRun.enrolled + enrolled,
                      "after_id": ids[-1] if ids else after, "heartbeat_at": utcnow()}
            finished = len(ids) < batch
            if finished:
                # Leads added while the run went through count too.
                values.update(state="done", finished_at=utcnow(), total=max(run.total, run.done + len(ids)))
            moved = db.session.execute(
                update(SequenceBulkRun).where(SequenceBulkRun.id == run_id, SequenceBulkRun.state == "running",
                                              SequenceBulkRun.after_id == after)
                .values(**values).execution_options(synchronize_session=False)).rowcount
            if not moved:
                raise _Overtaken()
    except _Overtaken:
        return False
    return not finished


def fail(run_id: int, now: datetime | None = None) -> None:
    with atomic():
        db.session.execute(update(SequenceBulkRun).where(SequenceBulkRun.id == run_id,
                                                         SequenceBulkRun.state == "running")
                           .values(state="failed", finished_at=now or utcnow())
                           .execution_options(synchronize_session=False))


def run(run_id: int, *, batch: int = BATCH, now: datetime | None = None) -> SequenceBulkRun | None:
    """The job: claim the run and go through it a batch at a time. Returns None (doing nothing) when
    another worker has it; a refusal (a custom field of the filters deleted, the sequence gone back
    to draft) marks it failed."""
    if not claim(run_id, now):
        return None
    try:
        while run_batch(run_id, batch, now):
            pass
    except ServiceError:
        db.session.rollback()
        fail(run_id, now)
    return db.session.get(SequenceBulkRun, run_id, populate_existing=True)


def requeue_lost_runs(now: datetime | None = None) -> int:
    """Queue again a run that Redis lost (queued a minute ago, not started) or whose worker died."""
    now = now or utcnow()
    lost = db.session.scalars(select(SequenceBulkRun.id).where(or_(
        (SequenceBulkRun.state == "queued") & (SequenceBulkRun.created_at < now - RUN_REQUEUE),
        (SequenceBulkRun.state == "running") & (SequenceBulkRun.heartbeat_at < now - RUN_STALE)))).all()
    db.session.rollback()
    for run_id in lost:
        _enqueue(run_id)
    return len(lost)


def sweep() -> None:
    """Housekeeping (worker.py)."""
    requeue_lost_runs()
