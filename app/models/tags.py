from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class Tag(db.Model):
    """A free label on leads. The same words in any case are one tag: name_key is the case-folded
    name and is unique; name is how it was first written (or renamed to)."""

    __tablename__ = "tags"
    # The tag box's suggestions: the most used tags first, read in index order and cut at a page.
    __table_args__ = (Index("ix_tags_lead_count", "lead_count"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    # casefold() may lengthen a name ("ß" -> "ss"), so the key has room to grow.
    name_key: Mapped[str] = mapped_column(String(120), unique=True)
    # How many leads carry it, kept by services/tags.py in the same transaction as each change.
    lead_count: Mapped[int] = mapped_column(BigInteger, default=0)

    def __repr__(self) -> str:
        return f"<Tag {self.id} {self.name}>"


class LeadTag(db.Model):
    """One tag on one lead. The (tag_id, lead_id) index makes "leads with this tag" an index scan."""

    __tablename__ = "lead_tags"
    __table_args__ = (Index("ix_lead_tags_tag_lead", "tag_id", "lead_id"),)

    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
