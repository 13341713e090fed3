"""Mentions in notes: `@name` tells a teammate.

A mention is `@` then letters, digits, `.`, `_`, `-` or `'` (not after a letter or digit, so an
email address in a note mentions nobody), trailing punctuation dropped. It names every active
teammate whose first name (the first word of their name) or whose email address before the `@`
is that word, ignoring case: `@ann` reaches every teammate called Ann and the one whose
address is ann@…; `@ann.lee` reaches ann.lee@…. Two teammates sharing a first name are both told
(the email form names one). The writer is never told."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import User

MENTION = re.compile(r"(?<![\w@])@([\w][\w.'\-]*)")
MAX_MENTIONS = 20  # people told about one note at the most (not @words read: "@all @the @things" is prose)


def mentioned_words(body: str) -> set[str]:
    """The words `@`-mentioned in a note, lower-cased (a note's length bounds how many)."""
    words = []
    for match in MENTION.finditer(body or ""):
        word = match.group(1).rstrip(".'-").casefold()
        if word and word not in words:
            words.append(word)
    return set(words)


def mentioned_user_ids(body: str, author_id: int | None) -> list[int]:
    """The active teammates a note mentions (see the module's rule), the author left out."""
    words = mentioned_words(body)
    if not words:
        return []
    # The team is small (a sales team, tens of people): one query for id, name and email.
    people = db.session.execute(select(User.id, User.name, User.email).where(User.active.is_(True))).all()
    found = []
    for uid, name, email in people:
        first = (name or "").split()[0].casefold() if (name or "").split() else ""
        local = email.rpartition("@")[0].casefold()
        if uid != author_id and (first in words or local in words):
            found.append(uid)
    return sorted(found)[:MAX_MENTIONS]
