"""Outgoing webhooks: endpoints admins register, and one delivery row per event and endpoint,
written in the same transaction as the event (services/webhooks.py)."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class DeliveryState(str, enum.Enum):
    queued = "queued"  # waiting for a worker (until next_attempt_at after a failed attempt)
    sending = "sending"  # claimed by one worker until lease_until
    delivered = "delivered"  # the endpoint answered 2xx
    failed = "failed"  # every attempt failed; an admin can resend it


# A delivery in these states holds back later deliveries for the same endpoint and lead.
PENDING_STATES = (DeliveryState.queued.value, DeliveryState.sending.value)


class WebhookEndpoint(db.Model):
    """A URL that receives the events it subscribes to, signed with its own secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The events, comma-separated with a comma at each end (",lead.created,task.completed,"), so one
    # LIKE finds the endpoints of an event on SQLite and PostgreSQL alike.
    events: Mapped[str] = mapped_column(String(400))
    secret: Mapped[str] = mapped_column(String(80))  # kept to sign with; admins may reveal it
    enabled: Mapped[bool] = mapped_column(default=True)
    # An admin's explicit choice: deliveries may go to loopback, private and link-local addresses.
    allow_private: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Health, written by the worker: the first failure since the last success; past a day, disabled.
    failing_since: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(300))

    @property
    def event_list(self) -> list[str]:
        return [name for name in self.events.split(",") if name]


class WebhookDelivery(db.Model):
    """One event for one endpoint, and how its latest attempt went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The delivery log of an endpoint, newest first, a page at a time by id.
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # In order per lead: is an earlier delivery of this lead to this endpoint still pending?
        Index("ix_webhook_deliveries_endpoint_lead_id", "endpoint_id", "lead_id", "id"),
        # The sweeper: which rows are due and waiting, or sending past their lease?
        Index("ix_webhook_deliveries_state_next_attempt", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_lead_id", "lead_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(36))  # the same for every endpoint, and for a resend
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    subject_id: Mapped[int | None]  # the appointment or task the event is about
    data: Mapped[dict | None] = mapped_column(JSON)  # what the event adds to the representation
    body: Mapped[str | None] = mapped_column(Text)  # the JSON sent, fixed at the first attempt
    state: Mapped[str] = mapped_column(String(12), default=DeliveryState.queued.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    response_status: Mapped[int | None]
    response_ms: Mapped[int | None]
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(String(500))
    resent_from_id: Mapped[int | None]
