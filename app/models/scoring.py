"""Scoring: the rules admins write, the bands they name, and the runs that re-score every lead."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class ScoringRule(db.Model):
    """A condition (services/conditions.py) and the points a lead gets while it holds."""

    __tablename__ = "scoring_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(index=True)
    label: Mapped[str] = mapped_column(String(80))  # what the reasons say: "+20 business email"
    condition: Mapped[dict] = mapped_column(JSON)
    points: Mapped[int]
    fade_days: Mapped[int | None]  # the points count for this many days after the event, then stop
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ScoreBand(db.Model):
    """A named range of scores: from min_score (None: the lowest band, from any score) up to the
    next band's min_score."""

    __tablename__ = "score_bands"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    min_score: Mapped[int | None] = mapped_column(unique=True)
    colour: Mapped[str] = mapped_column(String(7), default="#64748b")


class ScoringRun(db.Model):
    """One re-scoring of every lead after the rules changed: the job's claim and progress bar.

    A newer run supersedes an older one that has not finished; a job delivered twice finds the
    run claimed (or done) and stops; `after_id` lets a run picked up again carry on."""

    __tablename__ = "scoring_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)  # queued running done superseded
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    after_id: Mapped[int] = mapped_column(default=0)  # the last lead id scored
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
