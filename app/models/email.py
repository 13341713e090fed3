"""The outbox: every email is a row first, written in the same transaction as the event behind it."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class EmailState(str, enum.Enum):
    queued = "queued"  # waiting for a worker (possibly until next_attempt_at, after a failure)
    sending = "sending"  # claimed by one worker until lease_until
    sent = "sent"
    failed = "failed"  # every attempt failed; an admin can retry it
    cancelled = "cancelled"  # withdrawn before it went out (a reminder for a cancelled appointment)
    suppressed = "suppressed"  # never sent: its address is on the suppression list (last_error says why)


class OutboxEmail(db.Model):
    __tablename__ = "outbox_emails"
    __table_args__ = (
        # The sweeper's question: which rows are due and waiting, or sending past their lease?
        Index("ix_outbox_emails_state_next_attempt", "state", "next_attempt_at"),
        # The outbox page: newest first, all or one state.
        Index("ix_outbox_emails_created", "created_at"),
        Index("ix_outbox_emails_state_created", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # appointment_invite, appointment_reminder, owner_notice ...
    state: Mapped[str] = mapped_column(String(12), default=EmailState.queued.value)
    sender: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(254))  # an address: a member's email to the lead
    to_address: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    # [{"filename": "invite.ics", "content_type": "text/calendar; method=REQUEST", "content": "..."}]
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    message_id: Mapped[str] = mapped_column(String(255))
    date_header: Mapped[str] = mapped_column(String(64))
    # Headers beyond the ones build_message writes, e.g. List-Unsubscribe: {"List-Unsubscribe": "<https://...>"}
    extra_headers: Mapped[dict | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    transport: Mapped[str | None] = mapped_column(String(16))  # "smtp" or "local", once sent
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id", ondelete="SET NULL"),
                                                       index=True)
