"""Assignment rules: groups of teammates, the ordered rules that route new leads to them, each rule's
round-robin turn, and a daily tally of who received how many leads by which rule."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.user import User


class Target(str, enum.Enum):
    person = "person"  # always one teammate
    round_robin = "round_robin"  # each member of a group in turn
    weighted = "weighted"  # in turn, each member as often as their weight says
    least_loaded = "least_loaded"  # the member with the fewest open leads


class AssignmentGroup(db.Model):
    """A named set of teammates a rule shares leads between."""

    __tablename__ = "assignment_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime]

    members: Mapped[list[AssignmentGroupMember]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="AssignmentGroupMember.user_id")


class AssignmentGroupMember(db.Model):
    __tablename__ = "assignment_group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("assignment_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    weight: Mapped[int] = mapped_column(Integer, default=1)  # weighted round-robin: turns per cycle, >= 1

    group: Mapped[AssignmentGroup] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class AssignmentRule(db.Model):
    """If a new lead matches `condition`, it goes to the rule's target; rules are tried in `position` order."""

    __tablename__ = "assignment_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(default=True)
    condition: Mapped[dict] = mapped_column(JSON, default=dict)  # conditions.check()'s form; {} matches every lead
    target: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("assignment_groups.id", ondelete="SET NULL"), index=True)
    cap: Mapped[int | None] = mapped_column(Integer)  # most open leads a member may hold to receive one more
    # Set the first time a capture found the rule unusable (admins are told then, once); cleared on save.
    broken_since: Mapped[datetime | None]
    broken_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]

    user: Mapped[User | None] = relationship()
    group: Mapped[AssignmentGroup | None] = relationship()


class AssignmentTurn(db.Model):
    """Whose turn it is on a round-robin rule: locked (FOR UPDATE) by each capture that routes by the
    rule, so simultaneous captures take turns one after the other, and kept across restarts."""

    __tablename__ = "assignment_turns"

    rule_id: Mapped[int] = mapped_column(ForeignKey("assignment_rules.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    turn: Mapped[int] = mapped_column(BigInteger, default=0)  # weighted: how many leads the rule has routed
    last_user_id: Mapped[int | None]  # round-robin: who had the last lead (the next member after them is next)


class AssignmentTally(db.Model):
    """How many leads a rule gave a member on one day (the team's timezone): the history reads a
    week of these, a few rows per rule and member, whatever the number of leads."""

    __tablename__ = "assignment_tallies"
    __table_args__ = (Index("ix_assignment_tallies_day", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("assignment_rules.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    count: Mapped[int] = mapped_column(Integer, default=0)
