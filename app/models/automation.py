"""Automations: when/if/then rules admins build (services/automations.py runs them), the history of
their runs, and the waits ("wait 3 days, then ...") the worker picks up when they fall due."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, text
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
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


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
