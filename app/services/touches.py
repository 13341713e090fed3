"""Touches: a person doing something toward a lead (a logged call, email or meeting, a note, a stage
move, a booked appointment; closing it, a touch but never its first response). The one home of what
a touch changes on the lead: when it was last touched, and its first response (the owner's first
touch), set once; and of when a lead is stale.

Every way in calls touch() inside its own atomic(), so the touch lands in the same transaction as
the change it stands for."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models import Lead, Stage, User
from app.services import sla

KINDS = ("call", "email", "meeting", "note", "stage_move", "closing", "appointment")
# Moving a lead to a won or lost stage touches it but answers no one: closing a lead the owner never
# contacted is not a first response (closing.apply stops its SLA clock instead: nothing left to answer).
NOT_RESPONSES = frozenset({"closing"})


def response_seconds(lead: Lead, at: datetime) -> int:
    """How long the first response took, in the team's business time since the lead was captured
    (services/sla.py; a team without business hours counts every hour)."""
    return sla.response_seconds(lead, at)


def touch(lead: Lead, user_id: int | None, kind: str, at: datetime) -> bool:
    """Record that `user_id` touched the lead at `at` (call inside atomic()); returns True when it was
    the lead's first response. No one (the system, the prospect, an API call naming nobody) touches.

    The first response is the owner's first touch, or anyone's while the lead sits in the shared
    pool. It is set by a conditional update, so of two simultaneous first touches exactly one
    counts (PostgreSQL: the other waits for the row lock, then matches no row)."""
    if kind not in KINDS:
        raise ValueError(f"unknown touch {kind!r}")
    if user_id is None:
        return False
    if lead.last_touch_at is None or at > lead.last_touch_at:
        lead.last_touch_at = at
    if kind in NOT_RESPONSES or lead.first_response_at is not None or lead.owner_id not in (None, user_id):
        return False
    seconds = response_seconds(lead, at)
    first = db.session.execute(
        update(Lead).where(Lead.id == lead.id, Lead.first_response_at.is_(None))
        .values(first_response_at=at, first_response_by_id=user_id, first_response_seconds=seconds,
                sla_next_at=None)  # answered: nothing left to escalate
        .execution_options(synchronize_session=False)).rowcount
    if first:
        set_committed_value(lead, "first_response_at", at)
        set_committed_value(lead, "first_response_by_id", user_id)
        set_committed_value(lead, "first_response_seconds", seconds)
        set_committed_value(lead, "sla_next_at", None)
    return bool(first)


def describe_first_response(lead: Lead) -> str | None:
    """"4 min by Ana": how long the first response took and who gave it, or None before one."""
    if lead.first_response_at is None:
        return None
    seconds = lead.first_response_seconds
    if seconds is None:  # answered before the figure was stored (demo data): the plain wall-clock time,
        # so showing a lead never reads the business calendar
        seconds = max(int((lead.first_response_at - lead.created_at).total_seconds()), 0)
    who = db.session.get(User, lead.first_response_by_id) if lead.first_response_by_id else None
    return duration_words(seconds) + (f" by {who.name}" if who else "")


def duration_words(seconds: int) -> str:
    """A short, rounded duration: "under a minute", "4 min", "2 h 5 min", "3 days"."""
    if seconds < 60:
        return "under a minute"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def is_stale(lead: Lead, stage: Stage, now: datetime) -> bool:
    """Whether the lead has gone `stage.stale_days` without a touch in its stage (the badge)."""
    if not stage.stale_days:
        return False
    cutoff = now - timedelta(days=stage.stale_days)
    return lead.stage_entered_at < cutoff and (lead.last_touch_at is None or lead.last_touch_at < cutoff)


def stale_clause(now: datetime):
    """The WHERE clause of the stale filter: for each stage with a setting, its leads untouched since
    its cutoff and in it since before then. Each arm is a range of ix_leads_stage_touch
    (stage_id, last_touch_at, stage_entered_at): the touched ones below the cutoff, and the never
    touched ones, whose entry time the index holds too. So the cost follows the stale leads (and a
    stage's untouched newcomers), not all leads."""
    arms = []
    for stage_id, days in db.session.execute(select(Stage.id, Stage.stale_days).where(Stage.stale_days.is_not(None))):
        cutoff = now - timedelta(days=days)
        # Two arms, not one with an OR inside, so each is an index range the planner can OR together.
        arms.append(and_(Lead.stage_id == stage_id, Lead.last_touch_at < cutoff, Lead.stage_entered_at < cutoff))
        arms.append(and_(Lead.stage_id == stage_id, Lead.last_touch_at.is_(None), Lead.stage_entered_at < cutoff))
    return or_(*arms) if arms else false()
