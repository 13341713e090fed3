"""Likely duplicates, merging two leads into one, and undoing a merge within 30 days.

Exact duplicates never get in: capture.capture_lead recognises them (identity.identify holds the
rule). What is left are people typed twice a little differently at the same company ("Jon Smith,
Acme Inc" and "John Smith, ACME"), and leads sharing a phone number that the rule keeps apart (a
household, a switchboard, or one person with two emails); a member compares them side by side and
merges, or leaves them be. A merge keeps everything:
the loser's row is snapshotted into LeadMerge, its timeline, notes, appointments, notifications and
emails move to the survivor, and undo_merge puts both leads back."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Iterator

from rapidfuzz import fuzz, process
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.filters import money
from app.models import (Appointment, CaptureForm, Lead, LeadMerge, Note, Notification, OutboxEmail, Stage,
                        TimelineEntry, User)
from app.models.lead import EDITABLE_FIELDS
from app.services import Conflict, NotFound, ServiceError, atomic, utcnow
from app.services.capture import ORIGIN_FIELDS
from app.services.identity import MATCH_THRESHOLD, company_key, name_key, name_score
from app.services.leads import FIELD_LABELS, LeadNotFound, StaleLead, json_value
from app.services.timeline import record

UNDO_WINDOW = timedelta(days=30)
GROUP_CAP = 1000  # leads compared pairwise in one block; bigger companies are split further
STREAM_BATCH = 5000
KEYS_PER_READ = 20  # company keys whose people are read in one query

# What a member chooses between when merging: the lead form's fields, stage, owner and origin.
MERGE_FIELDS = EDITABLE_FIELDS + ("stage_id", "owner_id") + ORIGIN_FIELDS
MERGE_LABELS = {**FIELD_LABELS, "stage_id": "Stage", "owner_id": "Owner", "utm_source": "UTM source",
                "utm_medium": "UTM medium", "utm_campaign": "UTM campaign", "referrer": "Referring page"}
# The survivor's columns a merge may change, recorded before and after so undo can put them back.
TRACKED_FIELDS = ("id",) + MERGE_FIELDS + ("position", "stage_entered_at", "first_response_at")


class SelfMerge(ServiceError):
    def __init__(self):
        super().__init__("A lead cannot be merged with itself: pick two different leads.")


class AlreadyMerged(Conflict):
    def __init__(self, name: str, into: str):
        super().__init__(f"{name} was already merged into {into}, so these two can no longer be merged. "
                         f"Open {into} to see the result.")


class MergeNotFound(NotFound):
    def __init__(self):
        super().__init__("That merge does not exist (the lead it made may have been deleted).")


class MergeAlreadyUndone(Conflict):
    def __init__(self):
        super().__init__("This merge was already undone; both leads are back.")


class MergeExpired(Conflict):
    def __init__(self):
        super().__init__(f"This merge is more than {UNDO_WINDOW.days} days old, so it can no longer be undone. "
                         "Edit the lead instead.")


# --- likely duplicates ------------------------------------------------------------------------


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


def _blocks(people: list[Person]) -> Iterator[list[Person]]:
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


def _company_groups(after: str | None) -> Iterator[tuple[str, list[Person]]]:
    """(company key, people) for every company key shared by two or more leads, in key order.

    The database counts leads per company as typed (reading only the company index); those few
    rows are folded into keys here, and then only the people of the next few keys are read, so a
    page costs one small aggregate plus index lookups, whatever the number of leads."""
    spellings: dict[str, list[str]] = {}  # company key -> the company names as typed
    key_of: dict[str, str] = {}
    totals: dict[str, int] = {}
    counted = select(Lead.company, func.count()).where(Lead.company.is_not(None)).group_by(Lead.company)
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
            query = (select(Lead.id, Lead.first_name, Lead.last_name, Lead.company)
                     .where(Lead.company.in_(names[chunk:chunk + 500])).order_by(Lead.id))
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


def same_phone_pairs(limit: int = SAME_PHONE_PHONES) -> list[DuplicatePair]:
    """Pairs of leads sharing a phone number, newest shared number first: people the identity
    rule kept apart (different emails, or names too different), listed with the reason "same phone"."""
    shared = (select(Lead.phone, func.max(Lead.id).label("newest")).where(Lead.phone.is_not(None))
              .group_by(Lead.phone).having(func.count() > 1).order_by(func.max(Lead.id).desc()).limit(limit))
    phones = [phone for phone, _ in db.session.execute(shared)]
    if not phones:
        return []
    by_phone: dict[str, list[Lead]] = {phone: [] for phone in phones}
    for lead in db.session.scalars(select(Lead).options(joinedload(Lead.owner), joinedload(Lead.stage))
                                   .where(Lead.phone.in_(phones)).order_by(Lead.created_at, Lead.id)):
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


def likely_duplicates(limit: int = 25, after: str | None = None,
                      threshold: float = MATCH_THRESHOLD) -> DuplicatePage:
    """About `limit` pairs of leads at the same company with similar names, companies in key order;
    the first page also lists the leads that share a phone number (same_phone_pairs).

    A page holds whole companies (so may run a little over `limit`) and starts after the company
    key `after`. Leads without a company or without a name are not compared: a shared name alone
    is too weak a sign (every "John Smith" would pair with every other), and it keeps pages cheap."""
    found: list[tuple[int, int, int]] = []
    last_key, next_after = None, None
    for key, people in _company_groups(after):
        pairs = [p for block in _blocks(people) for p in similar_pairs(block, threshold)]
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
    return DuplicatePage(result, next_after, same_phone_pairs() if after is None else [])


# --- comparing and merging --------------------------------------------------------------------


def _jsonable(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return json_value(value)


def _from_json(name: str, value):
    if value is None:
        return None
    python_type = Lead.__table__.c[name].type.python_type
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if python_type is Decimal:
        return Decimal(value)
    return value


def _snapshot(lead: Lead, names) -> dict:
    return {name: _jsonable(getattr(lead, name)) for name in names}


def _empty(value) -> bool:
    return value is None or value == ""


@dataclass
class FieldChoice:
    name: str
    label: str
    survivor_text: str
    loser_text: str
    same: bool
    default: str  # "survivor" or "loser"


@dataclass
class MergePreview:
    survivor: Lead
    loser: Lead
    fields: list[FieldChoice]


def _display(lead: Lead, name: str) -> str:
    if name == "stage_id":
        return lead.stage.name
    if name == "owner_id":
        return lead.owner.name if lead.owner else "Shared pool (no owner)"
    value = getattr(lead, name)
    if name == "value":
        return money(value)
    return "" if value is None else str(value)


def _default_choice(name: str, survivor: Lead, loser: Lead) -> str:
    """The kept lead's value stays; the other's only fills a field the kept lead has empty.

    A merge joins a lead with its twin, often a misspelt or stale copy: preferring the more recently
    edited one renamed the kept lead to the misspelling, so the member has to pick the other on purpose."""
    mine, theirs = getattr(survivor, name), getattr(loser, name)
    if name != "stage_id" and _empty(mine) and not _empty(theirs):
        return "loser"
    return "survivor"


def merge_preview(a_id: int, b_id: int, survivor_id: int | None = None) -> MergePreview:
    """Two leads side by side with a default choice per field; the older survives unless told.

    Raises SelfMerge, LeadNotFound or AlreadyMerged."""
    if a_id == b_id:
        raise SelfMerge()
    a, b = _load_pair(a_id, b_id)
    if survivor_id not in (a.id, b.id):
        survivor_id = min((a, b), key=lambda lead: (lead.created_at, lead.id)).id
    survivor, loser = (a, b) if survivor_id == a.id else (b, a)
    fields = [FieldChoice(name, MERGE_LABELS[name], _display(survivor, name), _display(loser, name),
                          getattr(survivor, name) == getattr(loser, name), _default_choice(name, survivor, loser))
              for name in MERGE_FIELDS]
    return MergePreview(survivor, loser, fields)


def result_name(preview: MergePreview, choices: dict[str, str]) -> str:
    """The kept lead's name once the merge has taken the chosen first and last names."""
    def pick(name: str):
        return getattr(preview.loser if choices.get(name) == "loser" else preview.survivor, name)
    return Lead(first_name=pick("first_name") or "", last_name=pick("last_name") or "", email=pick("email"),
                company=pick("company")).full_name


def undoable(entries, now: datetime | None = None) -> set[int]:
    """The ids of the "merged" timeline entries among these whose merge can still be undone
    (not undone yet, and within UNDO_WINDOW): the lead page offers undo on exactly those."""
    now = now or utcnow()
    return {e.id for e in entries if e.kind == "merged" and (e.data or {}).get("merge_id")
            and not e.data.get("undone") and now - e.created_at < UNDO_WINDOW}


def loser_name(merge: LeadMerge) -> str:
    """The merged-away lead's name as it was, by the same rule as Lead.full_name."""
    return Lead(**{k: merge.loser_snapshot.get(k) for k in ("first_name", "last_name", "email", "company")}).full_name


def _missing(lead_id: int) -> ServiceError:
    merge = db.session.scalars(select(LeadMerge).where(LeadMerge.loser_id == lead_id, LeadMerge.undone_at.is_(None))
                               .order_by(LeadMerge.id.desc()).limit(1)).first()
    if merge is None:
        return LeadNotFound()
    survivor = db.session.get(Lead, merge.survivor_id)
    return AlreadyMerged(loser_name(merge), survivor.full_name if survivor else "another lead")


def _load_pair(a_id: int, b_id: int, *, lock: bool = False) -> tuple[Lead, Lead]:
    query = (select(Lead).options(joinedload(Lead.owner), joinedload(Lead.stage))
             .where(Lead.id.in_((a_id, b_id))).order_by(Lead.id))
    if lock:  # in id order, so two merges of overlapping pairs cannot deadlock
        query = query.with_for_update(of=Lead).execution_options(populate_existing=True)
    found = {lead.id: lead for lead in db.session.scalars(query).unique()}
    for lead_id in (a_id, b_id):
        if lead_id not in found:
            raise _missing(lead_id)
    return found[a_id], found[b_id]


def merge_leads(survivor_id: int, loser_id: int, choices: dict[str, str], actor_id: int | None, *,
                expected_versions: dict[int, int] | None = None, now: datetime | None = None) -> LeadMerge:
    """Fold the loser into the survivor with the chosen field values, in one transaction.

    `choices` maps a MERGE_FIELDS name to "survivor" or "loser" (unnamed fields keep the survivor's
    value). The loser's timeline entries, notes, appointments, notifications and emails move to the
    survivor, its row is deleted and kept whole in LeadMerge.loser_snapshot, and the survivor gets a
    "merged" entry offering undo. The survivor keeps the earlier first response of the two, and its
    board badge shows whichever of their appointments changed last; merges the loser had absorbed
    move to the survivor with its timeline (and can still be undone). Raises SelfMerge,
    LeadNotFound, AlreadyMerged, StaleLead (a lead changed since `expected_versions`), or
    ServiceError for a bad choice or an owner who is no longer active."""
    if survivor_id == loser_id:
        raise SelfMerge()
    for name, side in choices.items():
        if name not in MERGE_FIELDS:
            raise ServiceError(f"{name} cannot be chosen in a merge.", field=name)
        if side not in ("survivor", "loser"):
            raise ServiceError(f"Choose which lead's {MERGE_LABELS[name].lower()} to keep.", field=name)
    now = now or utcnow()
    with atomic():
        survivor, loser = _load_pair(survivor_id, loser_id, lock=True)
        for lead in (survivor, loser):
            expected = (expected_versions or {}).get(lead.id)
            if expected is not None and lead.version != expected:
                raise StaleLead(lead, f"{lead.full_name} changed since you compared the two leads, so nothing "
                                      "was merged. Check the values again and merge.")
        _refuse_unmovable(loser)
        before = _snapshot(survivor, TRACKED_FIELDS)
        loser_snapshot = _snapshot(loser, [c.key for c in Lead.__table__.columns])
        other_name = loser.full_name
        for name, side in choices.items():
            if side == "loser" and getattr(survivor, name) != getattr(loser, name):
                _take(survivor, loser, name)
        responses = [t for t in (survivor.first_response_at, loser.first_response_at) if t is not None]
        survivor.first_response_at = min(responses) if responses else None

        moved = {table: list(db.session.scalars(select(model.id).where(model.lead_id == loser.id).order_by(model.id)))
                 for table, model in MOVABLE.items()}
        _move(moved, loser.id, survivor.id)
        _show_latest_appointment(survivor)
        # Merges the loser absorbed would be cascade-deleted with it: they follow their timeline.
        db.session.execute(update(LeadMerge).where(LeadMerge.survivor_id == loser.id)
                           .values(survivor_id=survivor.id).execution_options(synchronize_session=False))
        db.session.delete(loser)
        survivor.version += 1
        survivor.updated_at = now
        db.session.flush()
        merge = LeadMerge(survivor_id=survivor.id, loser_id=loser_id, loser_snapshot=loser_snapshot,
                          survivor_before=before, survivor_after=_snapshot(survivor, TRACKED_FIELDS),
                          moved_timeline_ids=moved.pop("timeline_entries"), moved_note_ids=moved.pop("notes"),
                          moved_ids=moved, merged_by_id=actor_id, merged_at=now)
        db.session.add(merge)
        db.session.flush()
        record(survivor.id, "merged", actor_id, {"other": other_name, "merge_id": merge.id, "undone": False}, now)
    return merge


# Rows that follow the loser to the survivor, and back on undo, by table. Timeline entries and notes
# are recorded in LeadMerge.moved_timeline_ids and moved_note_ids, the others in moved_ids.
MOVABLE = {model.__tablename__: model for model in (TimelineEntry, Note, Appointment, Notification, OutboxEmail)}
MOVED_TABLES = {*MOVABLE, "lead_merges"}


def _refuse_unmovable(loser: Lead) -> None:
    """Refuse rather than lose rows that point at the loser in tables a merge does not move yet
    (a table added later, until merge_leads learns to move and undo it: add its model to MOVABLE)."""
    for table in db.metadata.sorted_tables:
        if table.name in MOVED_TABLES:
            continue
        for fk in table.foreign_keys:
            if fk.column is Lead.__table__.c.id and db.session.scalar(
                    select(func.count()).select_from(table).where(fk.parent == loser.id)):
                raise Conflict(f"{loser.full_name} has {table.name.replace('_', ' ')} that merging cannot "
                               "move yet, so nothing was merged.")


def _take(survivor: Lead, loser: Lead, name: str) -> None:
    if name == "owner_id" and loser.owner_id is not None and not (loser.owner and loser.owner.active):
        raise ServiceError(f"{loser.owner.name if loser.owner else 'That owner'} is no longer an active user; "
                           "keep the other lead's owner.", field="owner_id")
    if name == "stage_id":  # the card takes the loser's place in the loser's column
        survivor.stage, survivor.position = loser.stage, loser.position
        survivor.stage_entered_at = loser.stage_entered_at
    if name == "owner_id":
        survivor.owner = loser.owner
    setattr(survivor, name, getattr(loser, name))


def _move(moved: dict[str, list[int]], from_id: int, to_id: int) -> None:
    """Move these rows (ids by table name), where they still sit on `from_id`, to `to_id`."""
    for table, ids in moved.items():
        model = MOVABLE[table]
        for start in range(0, len(ids), 500):
            db.session.execute(update(model).where(model.id.in_(ids[start:start + 500]), model.lead_id == from_id)
                               .values(lead_id=to_id).execution_options(synchronize_session=False))


def _show_latest_appointment(lead: Lead) -> None:
    """Set the board badge as appointments._mirror would have: from the lead's appointment that
    changed last (every change that mirrors also stamps updated_at), or none."""
    latest = db.session.execute(select(Appointment.status, Appointment.starts_at)
                                .where(Appointment.lead_id == lead.id)
                                .order_by(Appointment.updated_at.desc(), Appointment.id.desc()).limit(1)).first()
    lead.appointment_status, lead.appointment_starts_at = latest if latest else (None, None)


# --- undoing a merge --------------------------------------------------------------------------


def undo_merge(merge_id: int, actor_id: int | None, *, now: datetime | None = None) -> LeadMerge:
    """Put both leads back as they were before the merge, keeping what happened since; one transaction.

    The loser comes back from its snapshot with every column (and its id, unless SQLite has
    given that id to a newer lead), with the timeline entries, notes, appointments, notifications
    and emails that moved; each lead's board badge follows the appointments it now has. The survivor
    gets back each field the merge changed, unless that field was changed again after the merge:
    then the newer value stays (the stage, its position and its entry time count as one field).
    Rows added to the survivor since the merge stay on it. If the survivor was itself
    merged away since, the same rule applies to it inside that later merge's snapshot, so undoing
    both merges in either order gives back all three leads. Raises MergeNotFound,
    MergeAlreadyUndone, or MergeExpired after UNDO_WINDOW."""
    now = now or utcnow()
    with atomic():
        merge = db.session.get(LeadMerge, merge_id, with_for_update=True, populate_existing=True)
        if merge is None:
            raise MergeNotFound()
        if merge.undone_at is not None:
            raise MergeAlreadyUndone()
        if now - merge.merged_at >= UNDO_WINDOW:
            raise MergeExpired()
        claimed = db.session.execute(update(LeadMerge).where(LeadMerge.id == merge.id, LeadMerge.undone_at.is_(None))
                                     .values(undone_at=now).execution_options(synchronize_session=False)).rowcount
        if not claimed:  # another undo committed first
            raise MergeAlreadyUndone()
        survivor = db.session.get(Lead, merge.survivor_id, with_for_update=True, populate_existing=True)
        loser = _restore_loser(merge.loser_snapshot)
        _move({"timeline_entries": merge.moved_timeline_ids, "notes": merge.moved_note_ids, **merge.moved_ids},
              survivor.id, loser.id)
        for lead in (survivor, loser):
            _show_latest_appointment(lead)
        # Merges the loser had absorbed (moved to the survivor by this merge) go back to it.
        for absorbed in db.session.scalars(select(LeadMerge).where(LeadMerge.survivor_id == survivor.id,
                                                                   LeadMerge.id != merge.id)):
            if absorbed.survivor_before.get("id") == merge.loser_id:
                absorbed.survivor_id = loser.id
        original_id = merge.survivor_before.get("id")
        if original_id == survivor.id:
            _restore_survivor(survivor, merge.survivor_before, merge.survivor_after)
        else:  # the survivor was itself merged away since: put its fields back in that merge's snapshot
            absorbing = db.session.scalars(select(LeadMerge).where(LeadMerge.loser_id == original_id,
                                                                   LeadMerge.undone_at.is_(None))
                                           .order_by(LeadMerge.id.desc()).limit(1)).first()
            if absorbing is not None:
                absorbing.loser_snapshot = {**absorbing.loser_snapshot, **_fields_to_restore(
                    absorbing.loser_snapshot, merge.survivor_before, merge.survivor_after)}
        survivor.version += 1
        survivor.updated_at = now
        for entry in db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == survivor.id,
                                                                    TimelineEntry.kind == "merged")):
            if (entry.data or {}).get("merge_id") == merge.id:
                entry.data = {**entry.data, "undone": True}  # a new dict, so the JSON change is saved
        record(survivor.id, "merge_undone", actor_id, {"other": loser.full_name}, now)
        record(loser.id, "merge_undone", actor_id, {"other": survivor.full_name}, now)
    return merge


def _restore_loser(snapshot: dict) -> Lead:
    values = {name: _from_json(name, value) for name, value in snapshot.items() if name in Lead.__table__.c}
    if db.session.get(Lead, values["id"]) is not None:  # SQLite reuses the highest id once deleted
        del values["id"]
    # What the snapshot points at may be gone by now: a deleted stage, form or user.
    if db.session.get(Stage, values["stage_id"]) is None:
        values["stage_id"] = db.session.scalar(select(Stage.id).order_by(Stage.position, Stage.id).limit(1))
    if values.get("owner_id") is not None and db.session.get(User, values["owner_id"]) is None:
        values["owner_id"] = None
    if values.get("capture_form_id") is not None and db.session.get(CaptureForm, values["capture_form_id"]) is None:
        values["capture_form_id"] = None
    lead = Lead(**values)
    db.session.add(lead)
    db.session.flush()
    return lead


def _fields_to_restore(current: dict, before: dict, after: dict) -> dict:
    """The survivor's fields (JSON values) to put back: those the merge changed and nobody changed since."""
    groups = [("stage_id", "position", "stage_entered_at")] + \
             [(name,) for name in TRACKED_FIELDS if name not in ("id", "stage_id", "position", "stage_entered_at")]
    restore = {}
    for names in groups:
        changed_by_merge = any(before.get(n) != after.get(n) for n in names)
        untouched_since = all(current.get(n) == after.get(n) for n in names)
        if changed_by_merge and untouched_since:
            restore.update({n: before.get(n) for n in names})
    return restore


def _restore_survivor(survivor: Lead, before: dict, after: dict) -> None:
    restore = _fields_to_restore(_snapshot(survivor, TRACKED_FIELDS), before, after)
    if "stage_id" in restore and db.session.get(Stage, restore["stage_id"]) is None:
        for name in ("stage_id", "position", "stage_entered_at"):  # that stage was deleted since
            del restore[name]
    for name, value in restore.items():
        setattr(survivor, name, _from_json(name, value))
    survivor.stage = db.session.get(Stage, survivor.stage_id)
    survivor.owner = db.session.get(User, survivor.owner_id) if survivor.owner_id is not None else None
