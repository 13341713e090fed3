"""Applying an automation to the leads that already exist ("turning one on can be applied to existing
leads that match"), as a job with progress, built like sequence_bulk: an `AutomationBackfill` row,
and the worker walks every live lead by id (keyset), BATCH at a time. For each batch it reads the
leads' facts once, keeps those the trigger's options fit (a capture trigger's form or source; the
other triggers describe a moment, not a lead, so they match every lead) and whose conditions hold,
and runs the automation's steps on them (automations.run_rule: each run its own savepoint, on the
timeline and in the run history as "applied to existing leads"; a lead it already ran on, on an
event or an earlier application, is passed over, so applying again reaches only the others). The runs and the progress commit
together, and a batch commits only if the row is still where it was read (after_id), so a worker
killed mid-run leaves it where its last batch ended, the sweep queues it again, and no lead is
acted on twice."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from app.extensions import db
from app.models import Automation, AutomationBackfill, AutomationRun, Lead
from app.services import Conflict, NotFound, ServiceError, atomic, audit, automations, conditions, utcnow

BATCH = 200
EVENT = "applied"  # automation_runs.event of these runs
RUN_STALE = timedelta(minutes=5)  # a running backfill without a batch for this long lost its worker
RUN_REQUEUE = timedelta(minutes=1)  # a queued one not started this long after (Redis was away)
JOB_TIMEOUT = 6 * 3600
JOB = "app.jobs.automations.apply_to_existing"


class BackfillNotFound(NotFound):
    def __init__(self):
        super().__init__("That run no longer exists (its automation may have been deleted).")


class _Overtaken(Exception):
    """Another delivery of the job committed this batch first: roll ours back and stop."""


def live_leads() -> int:
    """How many leads an application would look at (every lead not in the trash)."""
    return db.session.scalar(select(func.count()).select_from(Lead).where(Lead.deleted_at.is_(None))) or 0


def current(automation_id: int) -> AutomationBackfill | None:
    """The automation's latest application (queued, running or ended), or None."""
    return db.session.scalar(select(AutomationBackfill).where(AutomationBackfill.automation_id == automation_id)
                             .order_by(AutomationBackfill.id.desc()).limit(1))


def start(automation_id: int, actor_id: int | None, now: datetime | None = None) -> AutomationBackfill:
    """Queue applying the automation to every existing lead it fits. Raises NotFound, ServiceError
    (paused: resume it first), or Conflict (one is under way already)."""
    now = now or utcnow()
    with atomic():
        row = automations.get(automation_id)
        # The automation's row held (PostgreSQL; SQLite writes one at a time): of two applies at once,
        # the second finds the first queued.
        db.session.execute(select(Automation.id).where(Automation.id == row.id).with_for_update())
        if not row.active:
            raise ServiceError("This automation is paused: resume it before applying it to existing leads.",
                               field="apply")
        under_way = current(row.id)
        if under_way is not None and under_way.state in ("queued", "running"):
            raise Conflict("This automation is being applied to existing leads already; see its progress below.",
                           field="apply")
        backfill = AutomationBackfill(automation_id=row.id, actor_id=actor_id, total=0, done=0, acted=0, after_id=0,
                                      state="queued", detail="", created_at=now)
        db.session.add(backfill)
        audit.record(actor_id, "automation.applied", row.name, {"leads": live_leads()})
        db.session.flush()
    _enqueue(backfill.id)
    return backfill


def _enqueue(backfill_id: int) -> None:
    """Queue the job after commit; with Redis away the sweep queues it once Redis is back."""
    from app.queue import QueueUnavailable, enqueue  # noqa: PLC0415 (the queue needs an app)
    try:
        enqueue(JOB, backfill_id, job_id=f"automation-backfill-{backfill_id}", job_timeout=JOB_TIMEOUT)
    except QueueUnavailable:
        pass


def get(backfill_id: int) -> AutomationBackfill:
    row = db.session.get(AutomationBackfill, backfill_id) if isinstance(backfill_id, int) else None
    if row is None:
        raise BackfillNotFound()
    return row


def percent_done(row: AutomationBackfill) -> int:
    if row.state == "done":
        return 100
    return min(99, row.done * 100 // row.total) if row.total else 0


def claim(backfill_id: int, now: datetime | None = None) -> bool:
    """Take a queued backfill, or a running one whose worker went silent (no batch for RUN_STALE);
    the first claim counts the leads to look at."""
    now = now or utcnow()
    with atomic():
        claimed = db.session.execute(
            update(AutomationBackfill).where(AutomationBackfill.id == backfill_id, or_(
                AutomationBackfill.state == "queued",
                (AutomationBackfill.state == "running") & (AutomationBackfill.heartbeat_at < now - RUN_STALE)))
            .values(state="running", heartbeat_at=now).execution_options(synchronize_session=False)).rowcount
        if claimed:
            row = db.session.get(AutomationBackfill, backfill_id, populate_existing=True)
            if not row.total:
                row.total = live_leads()
    return bool(claimed)


def _rule(automation_id: int) -> automations.Rule | None:
    return next((rule for rule in automations.active_rules() if rule.id == automation_id), None)


def _fitting(rule: automations.Rule, leads: list[Lead], now: datetime) -> list[int]:
    """The ids of the leads the rule's trigger options and conditions fit, their facts read once."""
    trigger = automations.TRIGGERS[rule.trigger]
    if rule.trigger == "lead_captured":  # its options (way in, form, source) are about the lead itself
        captured = automations.as_captured([lead.id for lead in leads], now)
        leads = [lead for lead in leads if trigger.fires(rule.opts, captured[lead.id], lead)]
    if not rule.conditions or not leads:
        return [lead.id for lead in leads]
    facts = conditions.facts_for(leads, now, {c["field"] for c in rule.conditions})
    return [lead.id for lead in leads if automations.answer(rule, conditions.refresh_score(facts[lead.id], lead))]


def run_batch(backfill_id: int, batch: int = BATCH, now: datetime | None = None) -> bool:
    """Look at the next `batch` leads after the last one, run the automation on those it fits, and
    record the progress, in one transaction. Returns whether it goes on (False: done, failed, gone
    or overtaken). Raises ServiceError when the automation was paused, deleted or broken meanwhile."""
    now = now or utcnow()
    try:
        with atomic():
            row = db.session.get(AutomationBackfill, backfill_id, populate_existing=True)
            if row is None or row.state != "running":
                return False
            rule = _rule(row.automation_id)
            if rule is None:
                raise ServiceError("The automation was paused or deleted, so it stopped.")
            problem = automations.broken(rule)
            if problem:
                raise ServiceError(f"A condition cannot be checked: {problem}")
            after = row.after_id
            leads = list(db.session.scalars(select(Lead).where(Lead.id > after, Lead.deleted_at.is_(None))
                                            .order_by(Lead.id).limit(batch)))
            acted = 0
            fitting = _fitting(rule, leads, now)
            done_before = set(db.session.scalars(select(AutomationRun.lead_id).where(
                AutomationRun.automation_id == rule.id, AutomationRun.status.in_(("ok", "failed")),
                AutomationRun.lead_id.in_(fitting)))) if fitting else set()
            for lead_id in fitting:
                if lead_id in done_before:  # it ran on this lead already (an event, an earlier application)
                    continue
                if automations.run_rule(rule, lead_id, EVENT, now, checked=True) is not None:
                    acted += 1
            values = {"done": AutomationBackfill.done + len(leads), "acted": AutomationBackfill.acted + acted,
                      "after_id": leads[-1].id if leads else after, "heartbeat_at": utcnow()}
            finished = len(leads) < batch
            if finished:
                values.update(state="done", finished_at=utcnow(), total=max(row.total, row.done + len(leads)))
            moved = db.session.execute(
                update(AutomationBackfill).where(AutomationBackfill.id == backfill_id,
                                                 AutomationBackfill.state == "running",
                                                 AutomationBackfill.after_id == after)
                .values(**values).execution_options(synchronize_session=False)).rowcount
            if not moved:
                raise _Overtaken()
    except _Overtaken:
        return False
    return not finished


def fail(backfill_id: int, reason: str, now: datetime | None = None) -> None:
    with atomic():
        db.session.execute(update(AutomationBackfill).where(AutomationBackfill.id == backfill_id,
                                                            AutomationBackfill.state == "running")
                           .values(state="failed", detail=reason[:1000], finished_at=now or utcnow())
                           .execution_options(synchronize_session=False))


def run(backfill_id: int, *, batch: int = BATCH, now: datetime | None = None) -> AutomationBackfill | None:
    """The job: claim it and go through the leads a batch at a time. None when another worker has
    it; the automation paused, deleted or broken meanwhile marks it failed, saying why."""
    if not claim(backfill_id, now):
        return None
    try:
        while run_batch(backfill_id, batch, now):
            pass
    except ServiceError as exc:
        db.session.rollback()
        fail(backfill_id, exc.message, now)
    return db.session.get(AutomationBackfill, backfill_id, populate_existing=True)


def requeue_lost(now: datetime | None = None) -> int:
    """Queue again a backfill that Redis lost (queued a minute ago, not started) or whose worker died."""
    now = now or utcnow()
    lost = db.session.scalars(select(AutomationBackfill.id).where(or_(
        (AutomationBackfill.state == "queued") & (AutomationBackfill.created_at < now - RUN_REQUEUE),
        (AutomationBackfill.state == "running") & (AutomationBackfill.heartbeat_at < now - RUN_STALE)))).all()
    db.session.rollback()
    for backfill_id in lost:
        _enqueue(backfill_id)
    return len(lost)


def sweep() -> None:
    """Housekeeping (worker.py)."""
    requeue_lost()
