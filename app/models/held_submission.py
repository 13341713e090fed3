"""Web-form submissions held for an admin's review instead of captured (sent faster than a person types)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class HeldSubmission(db.Model):
    """What the prospect sent and where from, kept until an admin releases (captures) or discards it."""

    __tablename__ = "held_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("capture_forms.id", ondelete="CASCADE"), index=True)
    values: Mapped[dict] = mapped_column(JSON, default=dict)  # the asked fields, as checked by the entry form
    origin: Mapped[dict] = mapped_column(JSON, default=dict)  # utm_*, referrer
    reason: Mapped[str] = mapped_column(String(40))  # "too fast"
    created_at: Mapped[datetime]
