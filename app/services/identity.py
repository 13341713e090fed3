"""What identifies a person: the one rule capture_lead applies on every way in, and the keys the
duplicates list compares with.

- The same normalised email is the same person.
- The same phone with a different email is a different person (the two are listed on
  /leads/duplicates as "same phone"; nothing is skipped or overwritten).
- The same phone with no email on one side or both is the same person only if the names are
  similar (similar_names: the duplicate finder's score, or one side has no name, or the name parts
  both gave agree); otherwise a different person (again a "same phone" pair).
- No email and no phone: the same normalised name and company is the same lead, so importing a
  file twice creates nothing new.
- A business with no person (a company and no name, email or phone) is the same lead as the oldest
  other such business lead with that company name in any case (same_company): two rows of one file
  naming "ACME GmbH" and "Acme GmbH" are one lead. It never matches a lead that names a person or
  has an email or phone, nor a different company ("Acme" is not "Acme GmbH": no suffix is dropped).

What identifies a lead at all is one of IDENTIFYING_FIELDS: a person's name, a company, an email or
a phone (identifies); every way in refuses a lead with none of them, saying NOTHING_IDENTIFIES.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from rapidfuzz import fuzz, utils
from sqlalchemy import func, or_, select, text

from app.extensions import db
from app.models import Lead

MATCH_THRESHOLD = 85  # name_score, 0-100

IDENTIFYING_FIELDS = ("first_name", "last_name", "company", "email", "phone")
NOTHING_IDENTIFIES = "Give the lead a name, a company, an email address or a phone number."


def identifies(values: dict) -> bool:
    """Whether lead fields (raw or cleaned) hold something that tells which lead they are."""
    return any(str(values.get(name) or "").strip() for name in IDENTIFYING_FIELDS)

# Company suffixes that do not tell two companies apart ("Acme Inc" is "ACME"). One is stripped.
COMPANY_SUFFIXES = ("incorporated", "corporation", "limited", "company", "gmbh", "corp", "inc", "llc",
                    "ltd", "plc", "co")


def company_key(company: str | None) -> str:
    """A company name as duplicates compare it: trimmed, lower-cased, one legal suffix dropped."""
    base = (company or "").strip().lower().rstrip(" ,.")
    for suffix in COMPANY_SUFFIXES:
        if base.endswith(" " + suffix):
            return base[:-len(suffix) - 1].rstrip(" ,")
    return base


def name_key(name: str | None) -> str:
    """A first or last name lower-cased, punctuation as spaces, single-spaced."""
    return " ".join(utils.default_process(name or "").split())


def name_score(a_first: str, a_last: str, b_first: str, b_last: str) -> float:
    """How alike two people's names are, 0-100: the weaker of the first-name and last-name matches
    (either way round, for names typed into the wrong boxes), so a shared surname alone or a
    shared first name alone never makes a match. Without both parts on both sides, whole names."""
    if not (a_first and a_last and b_first and b_last):
        whole = f"{a_first} {a_last}".strip()
        return max(fuzz.ratio(whole, f"{b_first} {b_last}".strip()),
                   fuzz.ratio(whole, f"{b_last} {b_first}".strip()))
    return max(min(fuzz.ratio(a_first, b_first), fuzz.ratio(a_last, b_last)),
               min(fuzz.ratio(a_first, b_last), fuzz.ratio(a_last, b_first)))


def similar_names(a_first: str | None, a_last: str | None, b_first: str | None, b_last: str | None) -> bool:
    """True when two names may be one person's: alike by name_score, or one side has no name, or the
    parts both sides gave agree ("Bo" and "Bo Lead"; "Ada" and "Lovelace" have nothing to agree on)."""
    a = (name_key(a_first), name_key(a_last))
    b = (name_key(b_first), name_key(b_last))
    if not any(a) or not any(b):
        return True
    if name_score(*a, *b) >= MATCH_THRESHOLD:
        return True
    if all(a) and all(b):
        return False
    given = [(x, y) for x, y in zip(a, b) if x and y]
    return bool(given) and min(fuzz.ratio(x, y) for x, y in given) >= MATCH_THRESHOLD


@dataclass(frozen=True)
class Match:
    lead: Lead | None  # the person we already have, or None: a new lead
    matched_on: str | None = None  # "email", "phone", "name and company" or "company"
    same_phone: tuple[int, ...] = ()  # leads sharing the phone that are other people


def identify(cleaned: dict) -> Match:
    """Who these cleaned lead fields (normalised email, E.164 phone) belong to, by the rule above.

    The oldest matching lead wins; same_phone names the leads that share the phone but are
    other people (the new lead and each of them make a "same phone" pair)."""
    email, phone = cleaned.get("email"), cleaned.get("phone")
    first, last = cleaned.get("first_name"), cleaned.get("last_name")
    if not email and not phone:
        if not (name_key(first) or name_key(last)):
            lead = same_company(cleaned.get("company"))
            return Match(lead, "company") if lead else Match(None)
        lead = _same_name_and_company(first, last, cleaned.get("company"))
        return Match(lead, "name and company") if lead else Match(None)
    # One query for both (an import row costs one lookup), oldest first.
    clauses = ([Lead.email == email] if email else []) + ([Lead.phone == phone] if phone else [])
    return _by_email_or_phone(cleaned, db.session.scalars(select(Lead).where(or_(*clauses), Lead.deleted_at.is_(None)).order_by(Lead.id)).all())


def _by_email_or_phone(cleaned: dict, candidates) -> Match:
    """The rule for a lead with an email or a phone, among the leads (oldest first) that share one."""
    email, first, last = cleaned.get("email"), cleaned.get("first_name"), cleaned.get("last_name")
    for lead in candidates:
        if email and lead.email == email:
            return Match(lead, "email")
    others = []
    for lead in candidates:  # all share the phone now
        both_have_email = bool(email) and bool(lead.email)
        if not both_have_email and similar_names(first, last, lead.first_name, lead.last_name):
            return Match(lead, "phone")
        others.append(lead.id)
    return Match(None, same_phone=tuple(others))


@dataclass(frozen=True)
class Known:
    """What `Batch` compares: a lead's id (None for one not written yet) and identifying fields."""

    id: int | None
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None


class Batch:
    """The leads a batch of captures (an import's rows) may be, read in one query instead of one per
    row, to tell which rows are surely new people by the rule above (`surely_new`). It knows only
    leads with an email or a phone: a row with neither is never surely new here, and goes through
    identify. A lead the batch writes (or changes) is told to `know`, so later rows compare with it."""

    IN_CHUNK = 500

    def __init__(self):
        self.by_email: dict[str, list[Known]] = {}
        self.by_phone: dict[str, list[Known]] = {}

    def load(self, rows: list[dict]) -> Batch:
        """Read the leads sharing an email or a phone with these cleaned rows (call after hold_many)."""
        emails = sorted({row["email"] for row in rows if row.get("email")})
        phones = sorted({row["phone"] for row in rows if row.get("phone")})
        columns = (Lead.id, Lead.email, Lead.phone, Lead.first_name, Lead.last_name)
        for column, values in ((Lead.email, emails), (Lead.phone, phones)):
            for start in range(0, len(values), self.IN_CHUNK):
                for found in db.session.execute(select(*columns).where(column.in_(values[start:start + self.IN_CHUNK]),
                                                                             Lead.deleted_at.is_(None))):
                    self.know(Known(*found))
        return self

    def know(self, lead) -> None:
        known = lead if isinstance(lead, Known) else Known(lead.id, lead.email, lead.phone, lead.first_name,
                                                           lead.last_name)
        if known.email:
            self.by_email.setdefault(known.email, []).append(known)
        if known.phone:
            self.by_phone.setdefault(known.phone, []).append(known)

    def match(self, cleaned: dict) -> Known | None:
        """Whom identify would find for these cleaned fields among what the batch knows (leads not
        written yet come last, as the newest): None for someone new. A stale entry (a lead changed
        since) only ever makes a row go through identify, which decides.
        Raises ValueError for a row with no email and no phone (ask identify)."""
        email, phone = cleaned.get("email"), cleaned.get("phone")
        if not email and not phone:
            raise ValueError("only rows with an email or a phone can be matched in a batch")
        candidates = [*self.by_email.get(email, ()), *self.by_phone.get(phone, ())] if email else \
            list(self.by_phone.get(phone, ()))
        candidates.sort(key=lambda known: (known.id is None, known.id or 0))  # stable: unwritten in order
        return _by_email_or_phone(cleaned, candidates).lead


def hold(cleaned: dict) -> None:
    """Inside the capture's transaction, before identify: wait for any other transaction capturing
    the same person to commit, so that it finds that one's lead instead of making a twin.

    PostgreSQL: a transaction-scoped advisory lock per key the rule above compares (the email, the
    phone, the name and company, the company of a business lead), taken in one statement in key
    order, so two captures sharing two keys cannot deadlock. SQLite writes one transaction at a time
    (capture begins with BEGIN IMMEDIATE), so nothing is needed there."""
    hold_many([cleaned])


def hold_many(rows: list[dict]) -> None:
    """hold() for a batch of captures at once: every row's keys locked in one statement, in key order."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    keys = set()
    for cleaned in rows:
        email, phone = cleaned.get("email"), cleaned.get("phone")
        if email:
            keys.add(f"email:{email}")
        if phone:
            keys.add(f"phone:{phone}")
        if email or phone:
            continue
        first, last = name_key(cleaned.get("first_name")), name_key(cleaned.get("last_name"))
        if first or last:
            keys.add(f"name:{first}|{last}|{company_key(cleaned.get('company'))}")
        elif (cleaned.get("company") or "").strip():
            keys.add(f"company:{cleaned['company'].strip().casefold()}")
    numbers = sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big", signed=True)
                      for k in keys})
    if numbers:
        db.session.execute(text("SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k "
                                "ORDER BY 1) AS ordered"), {"keys": numbers})


def _same_name_and_company(first: str | None, last: str | None, company: str | None) -> Lead | None:
    keys = (name_key(first), name_key(last))
    if not any(keys):
        return None
    # The names lower-cased by the database narrow it down (ix_leads_lower_last_name); the keys then
    # decide. Both sides go through the database's lower(), which on SQLite folds only ASCII.
    query = select(Lead).where(func.lower(Lead.last_name) == func.lower((last or "").strip()),
                               func.lower(Lead.first_name) == func.lower((first or "").strip()),
                               Lead.deleted_at.is_(None)).order_by(Lead.id)
    wanted = company_key(company)
    for lead in db.session.scalars(query):
        if (name_key(lead.first_name), name_key(lead.last_name)) == keys and company_key(lead.company) == wanted:
            return lead
    return None


def same_company(company: str | None) -> Lead | None:
    """The oldest business lead (a company, and no name, email or phone) whose company is `company`
    in any case; None for none or an empty company. Only such leads: a business row is
    never folded into a person's lead at that company."""
    wanted = (company or "").strip().casefold()
    if not wanted:
        return None
    # lower(company) = the name lower-cased here narrows it down through ix_leads_lower_company; the
    # casefolded comparison then decides. SQLite's lower() folds only ASCII, so there a stored
    # "MÜLLER GMBH" is not found by "Müller GmbH" (the other way round it is).
    # Lowered by the database on both sides too: Python's lower() differs from PostgreSQL's for a few
    # letters (a final sigma, a dotted capital I), and a company typed the same way twice must be found.
    typed = (company or "").strip()
    query = (select(Lead).where(or_(func.lower(Lead.company) == func.lower(typed),
                                    func.lower(Lead.company) == typed.lower()),
                                Lead.email.is_(None), Lead.phone.is_(None), Lead.deleted_at.is_(None),
                                func.coalesce(Lead.first_name, "") == "", func.coalesce(Lead.last_name, "") == "")
             .order_by(Lead.id))
    for lead in db.session.scalars(query):
        if (lead.company or "").strip().casefold() == wanted:
            return lead
    return None
