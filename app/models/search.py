from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.engine import Engine

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class LeadSearchDocument(db.Model):
    """One lead's searchable text: name, company, email, phone, job title, tags, custom values and
    notes, normalised (lower case, no accents, punctuation as spaces) by services/search.py in the
    same transaction as each change. PostgreSQL indexes it with a GIN full-text index on the
    generated column search_vector = to_tsvector('simple', document), not mapped here; SQLite mirrors it into the FTS5 table lead_search_fts by
    triggers (migration a3f4a5b6c7d8)."""

    __tablename__ = "lead_search_documents"

    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    document: Mapped[str] = mapped_column(Text, default="")


class SavedView(db.Model):
    """A named pool or board filter (its query string), private to its owner or shared with the team."""

    __tablename__ = "saved_views"
    __table_args__ = (Index("ix_saved_views_shared_name", "shared", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    target: Mapped[str] = mapped_column(String(10))  # "pool" or "board"
    query: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime]


# One owner never has two views of one name in any case: the service checks, this settles a race.
Index("ix_saved_views_owner_lower_name", SavedView.owner_id, func.lower(SavedView.name), unique=True)


# --- the normaliser, which SQLite calls by name ----------------------------------------------

# Letters NFKD does not take apart ("ø" is not "o" plus a mark); PostgreSQL's unaccent folds them alike.
_FOLDS = str.maketrans({"ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l",
                        "đ": "d", "Đ": "d", "ð": "d", "þ": "th", "ı": "i"})
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str | None) -> str:
    """Lower case, accents off, every run of punctuation or space one space: "Fischer-Ayers, Zoë"
    reads "fischer ayers zoe". SQLite's lb_search_norm(); PostgreSQL does the same with unaccent."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", text.translate(_FOLDS))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return _NOT_WORD.sub(" ", plain).strip()


def has_words(document: str | None, groups: str | None) -> int:
    """Whether a normalised document holds every group of a search ("a|b c": groups by spaces,
    alternatives by bars) as the start of one of its words: FTS5's prefix match, for one row.
    SQLite's lb_search_has(): a board column asks it of each lead it walks, where an FTS5 MATCH
    constrained to one rowid would read the term's whole doclist for every lead."""
    if not document or not groups:
        return 0
    words = document.split()
    return int(all(any(word.startswith(tuple(group.split("|"))) for word in words) for group in groups.split()))


@event.listens_for(Engine, "connect")
def _sqlite_search_function(dbapi_connection, _record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.create_function("lb_search_norm", 1, normalise, deterministic=True)
        dbapi_connection.create_function("lb_search_has", 2, has_words, deterministic=True)
