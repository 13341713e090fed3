"""The record that a person's data was erased on request: when, by whom, which lead id it was, how
many rows went; never who the person was (services/erasure.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class Erasure(db.Model):
    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(index=True)  # the id the erased lead had (no foreign key: it is gone)
    erased_at: Mapped[datetime]
    erased_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    erased_by_name: Mapped[str] = mapped_column(String(120))
    removed: Mapped[dict | None] = mapped_column(JSON, default=dict)  # {"notes": 2, "emails": 3, ...}: counts only
