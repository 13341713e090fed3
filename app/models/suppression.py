"""The suppression list: addresses no email but the ones a person asked for may go to."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db


class SuppressionReason(str, enum.Enum):
    unsubscribed = "unsubscribed"  # the person pressed the link, or their mail client's one-click button
    bounced = "bounced"  # the relay refused the address for good (5xx)
    admin = "admin"  # an admin added it by hand
    erased = "erased"  # the person's data was erased at their request; the row holds a digest, not the address


# Compared byte by byte on PostgreSQL as on SQLite, so a prefix search is one index range on both.
ADDRESS = String(254).with_variant(postgresql.VARCHAR(254, collation="C"), "postgresql")


class SuppressedAddress(db.Model):
    """One time an address was put on the list. Lifting it fills in the removal (who, when, why) and
    keeps the row, so the list is also its own history; putting it back later adds a new row. At most
    one row per address is in force (removed_at IS NULL): a partial unique index says so."""

    __tablename__ = "suppressed_addresses"
    __table_args__ = (
        # is_suppressed and suppressed_among: the rows in force, by address.
        Index("ux_suppressed_addresses_active_address", "address", unique=True,
              sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),
        # The admin page's search: an address prefix, every row (history included), in address order.
        Index("ix_suppressed_addresses_address", "address", "id"),
        # The admin page: newest first (services/keyset.py).
        Index("ix_suppressed_addresses_created", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(ADDRESS)  # normalised: trimmed, lower-case
    reason: Mapped[str] = mapped_column(String(16))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    removed_reason: Mapped[str | None] = mapped_column(String(500))

    lead = relationship("Lead")
    created_by = relationship("User", foreign_keys=[created_by_id])
    removed_by = relationship("User", foreign_keys=[removed_by_id])

    @property
    def shown(self) -> str:
        """The address as the admin pages show it: an erased person's is only a digest."""
        return "An erased person's address" if self.reason == SuppressionReason.erased.value else self.address

    def __repr__(self) -> str:
        return f"<SuppressedAddress {self.id} {self.address} {self.reason}>"


class InstallationSecret(db.Model):
    """A random key this installation made for itself, by name (not SECRET_KEY, which an operator
    may rotate: what a secret here keys must stay readable). "erasure_digest" keys the digests an
    erased person's address is kept as on the suppression list (services/suppression.py)."""

    __tablename__ = "installation_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))  # hex
    created_at: Mapped[datetime]
