"""Automations: when/if/then rules admins build (services/automations.py runs them), the history of
their runs, the waits ("wait 3 days, then ...") the worker picks up when they fall due, and what
time-based triggers (no activity for N days, a task overdue, a date reached) have fired."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class Automation(db.Model):
    """One rule: a trigger (and its options), conditions (all or any), and ordered actions, each plain
    JSON that the registries in services/automations.py check, describe and run."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    trigger: Mapped[str] = mapped_column(String(40), index=True)
    trigger_options: Mapped[dict] = mapped_column(JSON, default=dict)
    match: Mapped[str] = mapped_column(String(3), default="all")  # all | any
    conditions: Mapped[list] = mapped_column(JSON, default=list)
    actions: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AutomationRun(db.Model):
    """What one automation did (or why it did not) for one lead on one event: the run history."""

    __tablename__ = "automation_runs"
    __table_args__ = (Index("ix_automation_runs_automation_at", "automation_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))  # ok | failed | skipped | loop (stopped by the loop guard)
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


class AutomationWait(db.Model):
    """The rest of a run, waiting: at due_at the worker claims the row and runs the automation's
    actions from `next_action` on (done_at set in the same transaction, so each runs once)."""

    __tablename__ = "automation_waits"
    __table_args__ = (Index("ix_automation_waits_due", "due_at", postgresql_where=text("done_at IS NULL"),
                            sqlite_where=text("done_at IS NULL")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    next_action: Mapped[int]
    # A digest of the automation's steps when the wait was left: if an edit changed them meanwhile,
    # `next_action` may point at another step, so the run stops (recorded) instead. None: a wait
    # left before digests were kept, carried on as before.
    actions_digest: Mapped[str | None] = mapped_column(String(16))
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class AutomationOccurrence(db.Model):
    """A time-based trigger that fired for a lead: one row per (automation, lead, occurrence key), the
    key naming the occurrence ("idle:<last activity>", "task:<id>:<due>", "date:<field>:<day>"). The
    unique constraint is the claim: of two workers sweeping the same window, one inserts the row
    and runs the automation, the other's insert does nothing."""

    __tablename__ = "automation_occurrences"
    __table_args__ = (UniqueConstraint("automation_id", "lead_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]


class AutomationCursor(db.Model):
    """How far the sweep has looked for a time-based automation's occurrences: everything due at or
    before (after_at, after_id) was seen. Started at the moment the automation was saved with this
    trigger (or resumed), so the backlog of leads already past the point never fires at once."""

    __tablename__ = "automation_cursors"

    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"), primary_key=True,
                                               autoincrement=False)
    after_at: Mapped[datetime]
    after_id: Mapped[int] = mapped_column(default=0)
    swept_at: Mapped[datetime]


class AutomationBackfill(db.Model):
    """Applying an automation to the leads that already exist (as a job with progress): the worker
    walks every live lead by id (keyset, after_id), and runs the automation's steps on those its
    trigger options and conditions fit, a batch per transaction with the progress."""

    __tablename__ = "automation_backfills"

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    total: Mapped[int] = mapped_column(default=0)  # leads to look at (counted by the worker's first claim)
    done: Mapped[int] = mapped_column(default=0)  # leads looked at
    acted: Mapped[int] = mapped_column(default=0)  # leads the steps ran on
    after_id: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)  # queued, running, done, failed
    detail: Mapped[str] = mapped_column(Text, default="")  # why it failed
    created_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
