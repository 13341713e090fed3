from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db


class Role(str, enum.Enum):
    admin = "admin"
    member = "member"


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.member.value)
    active: Mapped[bool] = mapped_column(default=True)
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the team's timezone
    # The last day (in the user's timezone) they are away: assignment skips them until the day after.
    away_until: Mapped[date | None]
    # The last day (theirs) a daily digest went to them: the worker's claim, so one goes out a day.
    digest_sent_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    sessions: Mapped[list[UserSession]] = relationship(back_populates="user", cascade="all, delete-orphan")
    working_hours: Mapped[list[WorkingHours]] = relationship(
        cascade="all, delete-orphan", order_by="WorkingHours.weekday", passive_deletes=True)

    # Flask-Login protocol. The cookie names a server-side session, not the user, so that
    # logging out or deactivating the user ends it at once; the loader sets session_token.
    session_token = None
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin.value

    @property
    def initials(self) -> str:
        parts = [p for p in self.name.split() if p]
        letters = "".join(p[0] for p in parts[:2]) if parts else self.email[:2]
        return letters.upper()

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class UserSession(db.Model):
    """A server-side record of one signed-in browser, so logout and deactivation end it at once."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship(back_populates="sessions")



class WorkingHours(db.Model):
    """One weekday's working hours of a user, as wall-clock times in the user's timezone.

    A user with no rows works at any time; a user with rows works only on those weekdays. A shift
    whose end is not after its start runs past midnight into the next day (Mon 22:00-06:00 covers
    Monday night to Tuesday morning)."""

    __tablename__ = "working_hours"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    weekday: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # 0 Monday .. 6 Sunday
    starts_at: Mapped[time]
    ends_at: Mapped[time]


class LoginThrottle(db.Model):
    """Failed sign-in counter for one key (an address, an account, or both)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime]


class KnownSignInAddress(db.Model):
    """An address this user has signed in from: a correct password from it skips the per-account delay."""

    __tablename__ = "known_sign_in_addresses"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_signed_in_at: Mapped[datetime]


class Invitation(db.Model):
    """An admin's invitation for someone to join the team by email. The emailed link names the row
    and its `version`: resending bumps the version (only the newest link works, for another week);
    accepting or revoking ends it. At most one pending invitation per address."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ux_invitations_pending_email", "email", unique=True,
              sqlite_where=text("accepted_at IS NULL AND revoked_at IS NULL"),
              postgresql_where=text("accepted_at IS NULL AND revoked_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(16), default=Role.member.value)
    version: Mapped[int] = mapped_column(default=1)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    invited_by: Mapped[User | None] = relationship()

    @property
    def pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None
