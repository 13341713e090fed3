"""Finding leads by any text they hold: the navigation's search box.

Each lead has one search document (lead_search_documents): its name, company, email, phone, job
title, city, website (so "acme.com" finds it by its domain, as it does by an email's), tags, custom-field values and notes, normalised (lower case, accents off, punctuation as
spaces). A change marks its leads with `changed()` (ORM writes to leads, notes, tags and values are
noticed by themselves), and the marked documents are rebuilt from the rows by one set-based
statement just before the transaction commits, so a document is never older than its lead.

PostgreSQL reads the documents through a GIN index on search_vector, a stored generated column
to_tsvector('simple', document) (so a walk along the newest leads tests each without parsing); SQLite
through the FTS5 table lead_search_fts, kept by triggers. Both answer prefix queries: every word
typed must begin a word of the document. Results are newest lead first, a page at a time by keyset
on the lead's id, so a page costs the same however many leads match."""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from sqlalchemy import bindparam, event, false, select, text
from sqlalchemy.orm import Session, joinedload

from app.extensions import db
from app.models import Lead, LeadFieldChoice, LeadFieldValue, LeadTag, Note
from app.services import ServiceError

QUERY_LIMIT = 200  # characters a search may hold
MAX_TERMS = 8
MIN_TERM = 2  # a single letter matches nearly everything: such words are left out
PER_PAGE = 25
DOCUMENT_LIMIT = 200_000  # characters kept per lead: a lead's notes beyond that (the oldest) are not searched
CHUNK = 500
# Leads' columns a document holds: an ORM change to one of these marks the lead.
SEARCHED_COLUMNS = ("first_name", "last_name", "company", "email", "phone", "job_title", "city", "website")
DIRTY = "leadboard_search_dirty"
_PHONE_LIKE = re.compile(r"[\d\s+().\-/]+")


# --- keeping the documents ---------------------------------------------------------------------


def _norm(dialect: str, expression: str) -> str:
    if dialect == "postgresql":
        return f"trim(regexp_replace(lower(unaccent({expression})), '[^[:alnum:]]+', ' ', 'g'))"
    return f"lb_search_norm({expression})"


def document_select(dialect: str) -> str:
    """SELECT (lead id, document) for every lead, as SQL text: the one definition of a document,
    which the migration's backfill copies. Add a WHERE on `l.id` to narrow it."""
    if dialect == "postgresql":
        parts = ("concat_ws(' ', l.first_name, l.last_name, l.company, l.email, l.phone, l.job_title, l.city, l.website, "
                 "(SELECT string_agg(t.name, ' ') FROM lead_tags lt JOIN tags t ON t.id = lt.tag_id "
                 " WHERE lt.lead_id = l.id), "
                 "(SELECT string_agg(concat_ws(' ', v.value_text, v.value_long, trim_scale(v.value_number)::text, "
                 "  v.value_date::text), ' ') FROM lead_field_values v WHERE v.lead_id = l.id), "
                 "(SELECT string_agg(c.choice, ' ') FROM lead_field_choices c WHERE c.lead_id = l.id), "
                 "(SELECT string_agg(n.body, ' ' ORDER BY n.created_at DESC, n.id DESC) FROM notes n "
                 " WHERE n.lead_id = l.id))")
        return f"SELECT l.id, left({_norm(dialect, parts)}, {DOCUMENT_LIMIT}) FROM leads l"
    pieces = ["l.first_name", "l.last_name", "l.company", "l.email", "l.phone", "l.job_title", "l.city", "l.website",
              "(SELECT group_concat(t.name, ' ') FROM lead_tags lt JOIN tags t ON t.id = lt.tag_id "
              " WHERE lt.lead_id = l.id)",
              "(SELECT group_concat(coalesce(v.value_text, '') || ' ' || coalesce(v.value_long, '') || ' ' || "
              "  coalesce(CAST(v.value_number AS TEXT), '') || ' ' || coalesce(v.value_date, ''), ' ') "
              " FROM lead_field_values v WHERE v.lead_id = l.id)",
              "(SELECT group_concat(c.choice, ' ') FROM lead_field_choices c WHERE c.lead_id = l.id)",
              "(SELECT group_concat(body, ' ') FROM (SELECT n.body FROM notes n WHERE n.lead_id = l.id "
              " ORDER BY n.created_at DESC, n.id DESC))"]
    joined = " || ' ' || ".join(f"coalesce({p}, '')" for p in pieces)
    return f"SELECT l.id, substr({_norm(dialect, joined)}, 1, {DOCUMENT_LIMIT}) FROM leads l"


def _upsert(dialect: str, where: str) -> str:
    # A lead in the trash has no document (trash.trash deletes it; restoring rebuilds it).
    return (f"INSERT INTO lead_search_documents (lead_id, document) {document_select(dialect)} "
            f"WHERE l.deleted_at IS NULL AND ({where}) "
            "ON CONFLICT (lead_id) DO UPDATE SET document = excluded.document")


def changed(lead_ids) -> None:
    """Mark leads whose searchable text a statement changed (call inside the change's atomic());
    their documents are rebuilt just before it commits."""
    db.session.info.setdefault(DIRTY, set()).update(int(i) for i in lead_ids if i is not None)


def refresh(lead_ids) -> None:
    """Rebuild these leads' documents now, in the current transaction (set-based, CHUNK at a time)."""
    _refresh(db.session(), set(lead_ids))


def refresh_all() -> None:
    """Rebuild every lead's document in one statement (after a bulk load, such as the demo data)."""
    session = db.session()
    session.execute(text(_upsert(session.get_bind().dialect.name, "true" if _pg(session) else "1")))


def _pg(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _refresh(session: Session, ids: set[int]) -> None:
    dialect = session.get_bind().dialect.name
    ordered = sorted(ids)
    statement = text(_upsert(dialect, "l.id IN :ids")).bindparams(bindparam("ids", expanding=True))
    for start in range(0, len(ordered), CHUNK):
        session.execute(statement, {"ids": ordered[start:start + CHUNK]})


@event.listens_for(Session, "after_flush")
def _notice_orm_changes(session, _context) -> None:
    ids = set()
    for obj in (*session.new, *session.deleted):
        if isinstance(obj, Lead) and obj in session.new:
            ids.add(obj.id)
        elif isinstance(obj, (Note, LeadTag, LeadFieldValue, LeadFieldChoice)):
            ids.add(obj.lead_id)
    for obj in session.dirty:
        if isinstance(obj, Lead):
            state = db.inspect(obj)
            if any(state.attrs[name].history.has_changes() for name in SEARCHED_COLUMNS):
                ids.add(obj.id)
        elif isinstance(obj, Note):
            ids.add(obj.lead_id)
    if ids:
        session.info.setdefault(DIRTY, set()).update(i for i in ids if i is not None)


@event.listens_for(Session, "before_commit")
def _refresh_before_commit(session) -> None:
    if session.info.get(DIRTY) or session.new or session.dirty or session.deleted:
        session.flush()
    ids = session.info.pop(DIRTY, None)
    if ids:
        _refresh(session, ids)


@event.listens_for(Session, "after_transaction_end")
def _forget_marks(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(DIRTY, None)


# --- searching ---------------------------------------------------------------------------------


@dataclass
class Results:
    leads: list[Lead]
    query: str  # the search as read (normalised words), "" when nothing searchable was typed
    next_after: int | None  # the id the next page starts after, or None on the last page


def _groups(raw: str) -> list[list[str]]:
    """What to look for: one group per word typed, each a list of alternatives (any one will do),
    every alternative letters and digits only. A phone number in any format is one group: its
    digits, and its E.164 digits in the team's default region ("(555) 010-2000" also finds
    "+15550102000")."""
    if _PHONE_LIKE.fullmatch(raw):
        digits = "".join(ch for ch in raw if ch.isdigit())
        if len(digits) >= 5:
            alternatives = [digits]
            from app.services.leads import default_phone_region  # noqa: PLC0415 (leads -> custom_fields -> search)
            try:
                number = phonenumbers.parse(raw, default_phone_region())
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
                if e164 != digits:
                    alternatives.append(e164)
            except phonenumbers.NumberParseException:
                pass
            return [alternatives]
    normalised = db.session.scalar(select(text(_norm(db.session.get_bind().dialect.name, ":q"))),
                                   {"q": raw}) or ""
    words = [w for w in re.split(r"[\W_]+", normalised) if len(w) >= MIN_TERM]
    return [[w] for w in dict.fromkeys(words)][:MAX_TERMS]


def _read(raw: str) -> list[list[str]]:
    """The groups of a search as typed; raises ServiceError(field="q") past QUERY_LIMIT."""
    raw = (raw or "").replace("\x00", "").strip()
    if len(raw) > QUERY_LIMIT:
        raise ServiceError(f"Search for at most {QUERY_LIMIT} characters.", field="q")
    return _groups(raw) if raw else []


def _matching(groups: list[list[str]]) -> tuple[str, str]:
    """SQL selecting the ids of the leads whose document holds every group (as the start of a word),
    and its :match parameter."""
    if _pg(db.session()):
        match = " & ".join("(" + " | ".join(f"'{alt}':*" for alt in group) + ")" for group in groups)
        return "SELECT lead_id FROM lead_search_documents WHERE search_vector @@ to_tsquery('simple', :match)", match
    match = " AND ".join("(" + " OR ".join(f'"{alt}"*' for alt in group) + ")" for group in groups)
    return "SELECT rowid FROM lead_search_fts WHERE lead_search_fts MATCH :match", match


def searchable(raw: str) -> bool:
    """Whether a search holds anything to look for (not one letter, not punctuation alone)."""
    try:
        return bool(_read(raw))
    except ServiceError:
        return True  # too long: the box says so itself


FEW = 1000  # a search matching at most this many leads hands the pool their ids


def pool_clause(raw: str):
    """A WHERE clause on leads for the pool's own search box (one rule for both boxes): the leads
    this search finds. Nothing searchable typed matches no lead. Raises ServiceError(field="q").

    Up to FEW matches are read from the index once and the pool sorts just those. A search matching
    more reads its matches into a list once (the index's cost, a few microseconds a match) and the
    pool walks its own order, testing each lead against the list, until the page is full: the
    unary + keeps SQLite from looking each match up by primary key and sorting them all instead."""
    groups = _read(raw)
    if not groups:
        return false()
    sql, match = _matching(groups)
    ids = list(db.session.scalars(text(f"{sql} LIMIT :n"), {"match": match, "n": FEW + 1}))
    if len(ids) <= FEW:
        return Lead.id.in_(ids) if ids else false()
    if _pg(db.session()):
        probe = ("leads.id IN (SELECT lead_id FROM lead_search_documents "
                 "WHERE search_vector @@ to_tsquery('simple', :pool_match))")
    else:
        probe = "+leads.id IN (SELECT rowid FROM lead_search_fts WHERE lead_search_fts MATCH :pool_match)"
    return text(probe).bindparams(pool_match=match)


def row_clause(raw: str) -> tuple[object, bool]:
    """(WHERE clause on leads, tested per row) for a list that walks its own index a bounded way (a
    board column): up to FEW matches are read from the index once and named by id, as pool_clause
    does; a search matching more is asked of each lead the walk reaches, by one probe of that lead's
    own document by its primary key (its stored tsvector on PostgreSQL, models/search.has_words on SQLite),
    never by reading every match first, so its cost follows the rows walked, not how many leads match.
    Nothing searchable typed matches no lead. Raises ServiceError(field="q")."""
    groups = _read(raw)
    if not groups:
        return false(), False
    sql, match = _matching(groups)
    ids = list(db.session.scalars(text(f"{sql} LIMIT :n"), {"match": match, "n": FEW + 1}))
    if len(ids) <= FEW:
        return (Lead.id.in_(ids) if ids else false()), False
    if _pg(db.session()):
        # A scalar subquery, not EXISTS: PostgreSQL cannot turn it into a join that reads every match
        # through the GIN index first; it stays one primary-key probe per lead walked.
        probe = ("(SELECT d.search_vector FROM lead_search_documents AS d WHERE d.lead_id = leads.id) "
                 "@@ to_tsquery('simple', :row_match)")
        return text(probe).bindparams(row_match=match), True
    # SQLite: the lead's document by its primary key, tested in Python (models/search.has_words).
    words = " ".join("|".join(group) for group in groups)
    probe = ("EXISTS (SELECT 1 FROM lead_search_documents AS d WHERE d.lead_id = leads.id "
             "AND lb_search_has(d.document, :row_words))")
    return text(probe).bindparams(row_words=words), True


def search(raw: str, *, after: int | None = None, per_page: int = PER_PAGE, visible_to: int | None = None) -> Results:
    """The leads whose document holds every word of `raw` (as the start of a word), newest first,
    `per_page` after the lead `after`; with `visible_to` (permissions.visible_to) only that person's
    and the pool's. Nothing searchable typed ("%", quotes) gives no leads.
    Raises ServiceError(field="q") for a search longer than QUERY_LIMIT."""
    groups = _read(raw)
    if not groups:
        return Results(leads=[], query="", next_after=None)
    session = db.session()
    sql, match = _matching(groups)
    key = "lead_id" if sql.startswith("SELECT lead_id") else "rowid"
    params = {"match": match, "after": after or 2**63 - 1, "n": per_page + 1}
    if visible_to is not None:  # one primary-key probe per match walked, in the same query
        table = "lead_search_documents" if key == "lead_id" else "lead_search_fts"  # named: leads has a rowid too
        sql += (f" AND EXISTS (SELECT 1 FROM leads AS v WHERE v.id = {table}.{key}"
                " AND (v.owner_id IS NULL OR v.owner_id = :visible_to))")
        params["visible_to"] = visible_to
    matching = f"{sql} AND {key} < :after ORDER BY {key} DESC LIMIT :n"
    ids = list(session.scalars(text(matching), params))
    page = ids[:per_page]
    rows = {lead.id: lead for lead in session.scalars(
        select(Lead).options(joinedload(Lead.owner), joinedload(Lead.stage))
        .where(Lead.id.in_(page), Lead.deleted_at.is_(None)))} if page else {}
    return Results(leads=[rows[i] for i in page if i in rows], query=" ".join(g[0] for g in groups),
                   next_after=page[-1] if len(ids) > per_page else None)
