"""Likely duplicates: leads that may be one person, for a member to compare and merge or leave be.

Exact duplicates never get in: capture.capture_lead recognises them (identity.identify holds the
rule). What is left are people typed twice a little differently at the same company ("Jon Smith,
Acme Inc" and "John Smith, ACME"), and leads sharing a phone number that the rule keeps apart (a
household, a switchboard, or one person with two emails)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from rapidfuzz import fuzz, process
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Lead
from app.services import permissions
from app.services.identity import MATCH_THRESHOLD, company_key, name_key, name_score

GROUP_CAP = 1000  # leads compared pairwise in one block; bigger companies are split further
STREAM_BATCH = 5000
KEYS_PER_READ = 20  # company keys whose people are read in one query


# --- similar names ------------------------------------------------------------------------


Person = tuple[int, str, str]  # (lead id, first name key, last name key)


def similar_pairs(people: list[Person], threshold: float = MATCH_THRESHOLD) -> list[tuple[int, int, int]]:
    """Pairs (id, id, score) among `people` whose name_score is at least `threshold`, best first."""
    # rapidfuzz compares one name with all the rest in C. Whole names ("first last") scoring under
    # the threshold cannot have both parts above it (Indel distance adds up), so this loses nothing.
    straight = [f"{first} {last}".strip() for _, first, last in people]
    swapped = [f"{last} {first}".strip() for _, first, last in people]
    found = []
    for i, (lead_id, first, last) in enumerate(people):
        rest = straight[i + 1:]
        candidates = {j for query in (straight[i], swapped[i]) for _, _, j in process.extract(
            query, rest, scorer=fuzz.ratio, processor=None, score_cutoff=threshold, limit=None)}
        for j in candidates:
            other_id, other_first, other_last = people[i + 1 + j]
            score = name_score(first, last, other_first, other_last)
            if score >= threshold:
                found.append((lead_id, other_id, round(score)))
    return sorted(found, key=lambda p: (-p[2], p[0], p[1]))


def blocks(people: list[Person]) -> Iterator[list[Person]]:
    """One company's people, in blocks of at most GROUP_CAP compared pairwise.

    A bigger company is split by the first letter of the last name; a letter block still too big
    is cut to its newest GROUP_CAP leads."""
    if len(people) <= GROUP_CAP:
        yield people
        return
    by_letter: dict[str, list[Person]] = {}
    for person in people:
        by_letter.setdefault(person[2][:1], []).append(person)
    for block in by_letter.values():
        if len(block) > 1:
            yield block[-GROUP_CAP:]


def _visible(query, visible_to: int | None):
    """The query narrowed to the leads someone may see (permissions.visible_to; None: every lead)."""
    return query if visible_to is None else query.where(permissions.visible_clause(visible_to))


def _company_groups(after: str | None, visible_to: int | None = None) -> Iterator[tuple[str, list[Person]]]:
    """(company key, people) for every company key shared by two or more leads, in key order;
    with `visible_to`, only leads that person may see are counted and read.

    The database counts leads per company as typed (reading only the company index); those few
    rows are folded into keys here, and then only the people of the next few keys are read, so a
    page costs one small aggregate plus index lookups, whatever the number of leads."""
    spellings: dict[str, list[str]] = {}  # company key -> the company names as typed
    key_of: dict[str, str] = {}
    totals: dict[str, int] = {}
    counted = _visible(select(Lead.company, func.count()).where(Lead.company.is_not(None), Lead.deleted_at.is_(None)),
                       visible_to).group_by(Lead.company)
    for company, count in db.session.execute(counted, execution_options={"yield_per": STREAM_BATCH}):
        key = company_key(company)
        if key and (after is None or key > after):
            spellings.setdefault(key, []).append(company)
            key_of[company] = key
            totals[key] = totals.get(key, 0) + count
    keys = sorted(key for key, total in totals.items() if total > 1)
    for start in range(0, len(keys), KEYS_PER_READ):
        batch = keys[start:start + KEYS_PER_READ]
        names = [name for key in batch for name in spellings[key]]
        people: dict[str, list[Person]] = {key: [] for key in batch}
        for chunk in range(0, len(names), 500):
            query = _visible(select(Lead.id, Lead.first_name, Lead.last_name, Lead.company)
                             .where(Lead.company.in_(names[chunk:chunk + 500]), Lead.deleted_at.is_(None)),
                             visible_to).order_by(Lead.id)
            for row in db.session.execute(query):
                first, last = name_key(row.first_name), name_key(row.last_name)
                if first or last:
                    people[key_of[row.company]].append((row.id, first, last))
        for key in batch:
            group = sorted(people[key])
            if len(group) > 1:
                yield key, group


@dataclass
class DuplicatePair:
    a: Lead  # the older of the two: the default survivor
    b: Lead
    score: int  # name_score
    reason: str = "similar name"  # or "same phone"


@dataclass
class DuplicatePage:
    pairs: list[DuplicatePair]
    next_after: str | None  # pass as `after` for the next page; None on the last page
    same_phone: list[DuplicatePair] = field(default_factory=list)  # on the first page only


SAME_PHONE_PHONES = 50  # shared phone numbers listed (their pairs all shown)
SAME_PHONE_GROUP = 10  # leads per shared phone paired up; more is a switchboard, not a household


def same_phone_pairs(limit: int = SAME_PHONE_PHONES, visible_to: int | None = None) -> list[DuplicatePair]:
    """Pairs of leads sharing a phone number, newest shared number first: people the identity
    rule kept apart (different emails, or names too different), listed with the reason "same phone";
    with `visible_to` (permissions.visible_to), only pairs of leads that person may see."""
    shared = (_visible(select(Lead.phone, func.max(Lead.id).label("newest"))
                       .where(Lead.phone.is_not(None), Lead.deleted_at.is_(None)), visible_to)
              .group_by(Lead.phone).having(func.count() > 1).order_by(func.max(Lead.id).desc()).limit(limit))
    phones = [phone for phone, _ in db.session.execute(shared)]
    if not phones:
        return []
    by_phone: dict[str, list[Lead]] = {phone: [] for phone in phones}
    for lead in db.session.scalars(_visible(select(Lead).options(joinedload(Lead.owner), joinedload(Lead.stage))
                                            .where(Lead.phone.in_(phones), Lead.deleted_at.is_(None)), visible_to)
                                   .order_by(Lead.created_at, Lead.id)):
        by_phone[lead.phone].append(lead)
    pairs = []
    for phone in phones:
        group = by_phone[phone][:SAME_PHONE_GROUP]
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                score = name_score(name_key(a.first_name), name_key(a.last_name),
                                   name_key(b.first_name), name_key(b.last_name))
                pairs.append(DuplicatePair(a, b, round(score), "same phone"))
    return pairs


def likely_duplicates(limit: int = 25, after: str | None = None, threshold: float = MATCH_THRESHOLD,
                      visible_to: int | None = None) -> DuplicatePage:
    """About `limit` pairs of leads at the same company with similar names, companies in key order;
    the first page also lists the leads that share a phone number (same_phone_pairs).

    A page holds whole companies (so may run a little over `limit`) and starts after the company
    key `after`. Leads without a company or without a name are not compared: a shared name alone
    is too weak a sign (every "John Smith" would pair with every other), and it keeps pages cheap.
    With `visible_to` (permissions.visible_to), leads that person may not see are left out before
    pairing, so a page is as full as the pairs they may see allow."""
    found: list[tuple[int, int, int]] = []
    last_key, next_after = None, None
    for key, people in _company_groups(after, visible_to):
        pairs = [p for block in blocks(people) for p in similar_pairs(block, threshold)]
        if not pairs:
            continue
        if len(found) >= limit:
            next_after = last_key  # there is at least one more pair after this page
            break
        found.extend(pairs)
        last_key = key
    ids = {i for a, b, _ in found for i in (a, b)}
    leads = {lead.id: lead for lead in db.session.scalars(
        select(Lead).options(joinedload(Lead.owner), joinedload(Lead.stage)).where(Lead.id.in_(ids)))} if ids else {}
    result = []
    for a, b, score in found:
        first, second = sorted((leads[a], leads[b]), key=lambda lead: (lead.created_at, lead.id))
        result.append(DuplicatePair(first, second, score))
    return DuplicatePage(result, next_after, same_phone_pairs(visible_to=visible_to) if after is None else [])
