"""First-response SLA settings: the team's business hours and holidays (in the team timezone), and
the ordered target rules (services/sla.py)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class BusinessHours(db.Model):
    """One opening range of a weekday, in minutes after local midnight (end up to 1440); a day with
    none is closed, and a team with none at all counts every hour."""

    __tablename__ = "business_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    weekday: Mapped[int]  # 0 Monday .. 6 Sunday
    start_minute: Mapped[int]
    end_minute: Mapped[int]


class Holiday(db.Model):
    __tablename__ = "holidays"

    day: Mapped[date] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), default="")


class SlaRule(db.Model):
    """A first-response target for the leads it matches: the first rule in `position` order wins."""

    __tablename__ = "sla_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    match: Mapped[str] = mapped_column(String(8))  # source, form, band, any
    value: Mapped[str] = mapped_column(String(100), default="")  # the source, form id or band name
    target_minutes: Mapped[int]
    business_time: Mapped[bool] = mapped_column(default=True)
    on_breach: Mapped[str] = mapped_column(String(8), default="nothing")  # nothing, pool, next
