"""Nurture sequences (services/sequences.py): ordered steps, the rules that enrol leads, each lead's
enrolment and every step it ran."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db

ENROLMENT_ID = BigInteger().with_variant(Integer(), "sqlite")


class SequenceStatus(str, enum.Enum):
    draft = "draft"  # being written: nobody can be enrolled yet
    active = "active"
    paused = "paused"  # enrolments wait; nothing is sent until it is resumed


class StepKind(str, enum.Enum):
    email = "email"  # an email template sent to the lead
    task = "task"  # a task for the lead's owner ("Call")


class EnrolmentStatus(str, enum.Enum):
    active = "active"
    paused = "paused"  # its sequence is paused
    finished = "finished"  # every step ran
    stopped = "stopped"  # see stop_reason


class Sequence(db.Model):
    __tablename__ = "sequences"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default=SequenceStatus.draft.value)
    # Enrolling a lead in another sequence stops its enrolment in this one.
    stop_on_other: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    steps: Mapped[list[SequenceStep]] = relationship(
        order_by="SequenceStep.position", primaryjoin="and_(Sequence.id == SequenceStep.sequence_id, "
        "SequenceStep.removed_at.is_(None))", viewonly=True)


# Two sequences never share a name in any case.
Index("ux_sequences_lower_name", func.lower(Sequence.name), unique=True)


class SequenceStep(db.Model):
    """One step. A removed step keeps its row (removed_at) so what it sent stays on record; editing a
    step changes only what is sent after (a send reads the step when it runs)."""

    __tablename__ = "sequence_steps"
    __table_args__ = (Index("ix_sequence_steps_sequence", "sequence_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"))
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(String(10))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("email_templates.id", ondelete="RESTRICT"), index=True)
    task_title: Mapped[str | None] = mapped_column(String(200))
    delay_days: Mapped[int] = mapped_column(default=0)  # after enrolment (first step) or the step before
    business_days: Mapped[bool] = mapped_column(Boolean, default=False)  # count only the team's working days
    # The send window, in the lead's timezone: weekdays as digits (0 = Monday; "" = every day) and
    # minutes after midnight (None: any time of day).
    window_days: Mapped[str] = mapped_column(String(7), default="")
    window_start: Mapped[int | None]
    window_end: Mapped[int | None]
    removed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    template = relationship("EmailTemplate")


class SequenceRule(db.Model):
    """Enrol a lead when this happens: captured from a form (value: form id) or a source, lost with a
    reason (value: lost reason id), or its score reaches a band (value: band name)."""

    __tablename__ = "sequence_rules"
    __table_args__ = (Index("ux_sequence_rules", "kind", "value", "sequence_id", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class SequenceEnrolment(db.Model):
    """A lead going through a sequence. At most one current (not ended) enrolment per lead and
    sequence; the worker's tick reads only active ones with a step due (ix_sequence_enrolments_due)."""

    __tablename__ = "sequence_enrolments"
    __table_args__ = (
        Index("ux_sequence_enrolments_current", "sequence_id", "lead_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
        Index("ix_sequence_enrolments_due", "next_at", sqlite_where=text("status = 'active'"),
              postgresql_where=text("status = 'active'")),
        Index("ix_sequence_enrolments_lead", "lead_id", "ended_at"),
        Index("ix_sequence_enrolments_figures", "sequence_id", "status", "stop_reason"),
        Index("ix_sequence_enrolments_enrolled", "enrolled_at"),  # reports: enrolments in a date range
    )

    id: Mapped[int] = mapped_column(ENROLMENT_ID, primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    step_id: Mapped[int | None]  # the next step to run; None when ended (kept when stopped by a delete: a restore resumes there)
    next_at: Mapped[datetime | None]  # when it is due (None: ended)
    enrolled_at: Mapped[datetime]
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    how: Mapped[str] = mapped_column(String(10))  # hand, bulk, rule
    ended_at: Mapped[datetime | None]
    stop_reason: Mapped[str | None] = mapped_column(String(20))
    sent: Mapped[int] = mapped_column(default=0)  # emails sent so far

    sequence: Mapped[Sequence] = relationship()


class SequenceSend(db.Model):
    """One step run for one enrolment: sent (an outbox row), a task made, or skipped with the reason.
    Unique per (enrolment, step): a step never runs twice for a lead."""

    __tablename__ = "sequence_sends"
    __table_args__ = (
        Index("ux_sequence_sends_step", "enrolment_id", "step_id", unique=True),
        Index("ix_sequence_sends_figures", "sequence_id", "step_id", "outcome"),
    )

    id: Mapped[int] = mapped_column(ENROLMENT_ID, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("sequence_enrolments.id", ondelete="CASCADE"))
    sequence_id: Mapped[int]
    step_id: Mapped[int]
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(10))  # sent, task, skipped
    reason: Mapped[str | None] = mapped_column(String(40))
    outbox_id: Mapped[int | None]
    task_id: Mapped[int | None]
    at: Mapped[datetime]


class SequenceBulkRun(db.Model):
    """Enrolling many leads at once (from the pool's filters or a saved view), as a job with progress."""

    __tablename__ = "sequence_bulk_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(ForeignKey("sequences.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    query: Mapped[str] = mapped_column(String(2000))  # the pool's filters, as a query string
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    enrolled: Mapped[int] = mapped_column(default=0)
    after_id: Mapped[int] = mapped_column(BigInteger, default=0)  # keyset: leads up to here are done
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)  # queued, running, done, failed
    created_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime | None]  # each batch's commit: a running run silent too long lost its worker
    finished_at: Mapped[datetime | None]
