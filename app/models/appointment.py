"""Appointments booked on leads, the in-app notifications they cause, and team-wide settings."""
from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, false, true
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.extensions import db
from app.models.user import User


class AppointmentStatus(str, enum.Enum):
    awaiting = "awaiting"
    confirmed = "confirmed"
    cancelled = "cancelled"
    new_time_requested = "new_time_requested"


STATUS_LABELS = {
    "awaiting": "Awaiting answer",
    "confirmed": "Confirmed",
    "cancelled": "Cancelled",
    "new_time_requested": "New time asked",
}


class Appointment(db.Model):
    __tablename__ = "appointments"
    __table_args__ = (
        # The reminder sweep: confirmed appointments starting soon.
        Index("ix_appointments_status_starts", "status", "starts_at"),
        # A lead's appointments by start: the lead page's upcoming ones and its pages of past ones.
        Index("ix_appointments_lead_starts", "lead_id", "starts_at"),
        Index("ix_appointments_created", "created_at"),  # reports: bookings made in a date range
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uid: Mapped[str] = mapped_column(String(120), unique=True)  # the calendar UID, stable for life
    sequence: Mapped[int] = mapped_column(default=0)  # raised on every change the prospect is sent
    starts_at: Mapped[datetime]  # naive UTC
    duration_minutes: Mapped[int]
    location: Mapped[str] = mapped_column(String(500), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64))  # the prospect's, for showing them times
    status: Mapped[str] = mapped_column(String(20), default=AppointmentStatus.awaiting.value)
    prospect_message: Mapped[str | None] = mapped_column(Text)  # with a request for another time
    responded_at: Mapped[datetime | None]
    reminded_sequence: Mapped[int | None]  # the sequence a reminder went out for
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    booked_by: Mapped[User | None] = relationship()

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_open(self) -> bool:
        """Still something the prospect can answer and a member can change."""
        return self.status != AppointmentStatus.cancelled.value


class Notification(db.Model):
    """Something a teammate should know about: shown in the app until they have read it."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),
                      # The notifications page: a person's newest first, a keyset page at a time.
                      Index("ix_notifications_user_created", "user_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    # Set on "a submission was held" notices, so a form raises at most one unread notice per person.
    capture_form_id: Mapped[int | None] = mapped_column(ForeignKey("capture_forms.id", ondelete="CASCADE"),
                                                        index=True)
    message: Mapped[str] = mapped_column(String(500))
    # What it is about (services/notifications.py KINDS): each person picks which kinds also email them.
    kind: Mapped[str] = mapped_column(String(32), default="notice", server_default="notice")
    # Where it leads in the app: a path (as url_for gives it), or None to link the lead or the form.
    url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class NotificationPreference(db.Model):
    """A person's choice for one kind of notification: also by email, or in the app only. A kind
    with no row takes its default (services/notifications.py KINDS)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[bool]


class TeamSettings(db.Model):
    """One row (id 1) of team-wide choices admins make."""

    __tablename__ = "team_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Where booking an appointment moves a lead that sits earlier in the pipeline (None: nowhere).
    appointment_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    # The most open leads a member may hold and still claim one from the pool (None: no cap).
    pool_claim_cap: Mapped[int | None]
    # Won and lost: whether a lost lead needs a reason, and how long closed leads stay on the board.
    lost_reason_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    board_closed_days: Mapped[int] = mapped_column(default=30, server_default="30")
    # Completing a task shows the new-task form for the same lead, prefilled, so leads don't go quiet.
    ask_next_task: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Sequences enrol only leads that gave marketing consent (services/consent.py).
    sequences_need_consent: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The team's identity in emails and on the pages prospects see (None: MAIL_FROM's name, our colour).
    team_name: Mapped[str | None] = mapped_column(String(100))
    accent_colour: Mapped[str | None] = mapped_column(String(7))  # "#1d4ed8"
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")  # ISO 4217
    mail_from: Mapped[str | None] = mapped_column(String(320))  # the From address; None: MAIL_FROM's
    # The logo as re-encoded bytes, read only by its own route (deferred: every page loads this row).
    logo: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    logo_type: Mapped[str | None] = mapped_column(String(20))  # image/png, image/jpeg, image/webp
    logo_version: Mapped[str | None] = mapped_column(String(16))  # a digest of the bytes: the URL's cache key
    # What members may do (services/permissions.py reads them; admins may everything). Each defaults to
    # what members could do before the switches existed.
    member_see_all_leads: Mapped[bool] = mapped_column(default=True, server_default=true())
    member_reassign: Mapped[bool] = mapped_column(default=True, server_default=true())
    member_merge: Mapped[bool] = mapped_column(default=True, server_default=true())
    member_import: Mapped[bool] = mapped_column(default=True, server_default=true())
    member_export: Mapped[bool] = mapped_column(default=True, server_default=true())
    member_delete: Mapped[bool] = mapped_column(default=False, server_default=false())  # deleting was admins' only
