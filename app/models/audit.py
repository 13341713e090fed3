"""The audit log: what admins changed, who and when. Rows are only ever added."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db


class AuditEntry(db.Model):
    """One admin action. `actor_name` keeps the name the person had then (and "Command line" for an
    operator's command); `target` says what was changed in words, never by id; `details` holds the
    few values worth keeping (a new role, an export's row filters)."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        # /settings/audit: newest first (id order: rows are only added), all, by kind or by person.
        Index("ix_audit_entries_kind_id", "kind", "id"),
        Index("ix_audit_entries_actor_id_id", "actor_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))  # settings, users, rules, deletions, exports
    action: Mapped[str] = mapped_column(String(40))  # a key of services.audit.ACTIONS
    target: Mapped[str] = mapped_column(String(300))
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    actor = relationship("User", lazy="raise")
