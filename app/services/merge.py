"""Merging two leads into one, and undoing a merge within 30 days.

A member compares two leads side by side (often a pair duplicates.likely_duplicates found) and
merges them, or leaves them be. A merge keeps everything: the loser's row is snapshotted into
LeadMerge, its timeline, notes, appointments, notifications and emails move to the survivor, and
undo_merge puts both leads back."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.filters import custom_value, money
from app.models import (Activity, Appointment, CaptureForm, ImportRow, Lead, LeadMerge, Note, Notification,
                        OutboxEmail, Stage, SequenceEnrolment, SequenceSend, SuppressedAddress, Task,
                        TimelineEntry, User)
from app.models.lead import EDITABLE_FIELDS
from app.services import Conflict, NotFound, ServiceError, atomic, custom_fields, search, sequences, utcnow
from app.services.capture import ORIGIN_FIELDS
from app.services.leads import FIELD_LABELS, LeadNotFound, StaleLead, json_value, note_reached
from app.services.scoring import rescore
from app.services.tags import fold_tags, tag_ids_of, unfold_tags
from app.services.tasks import refresh_next
from app.services.countries import country_name
from app.services.timeline import record

UNDO_WINDOW = timedelta(days=30)

# What a member chooses between when merging: the lead form's fields, stage, owner and origin.
MERGE_FIELDS = EDITABLE_FIELDS + ("stage_id", "owner_id") + ORIGIN_FIELDS
MERGE_LABELS = {**FIELD_LABELS, "stage_id": "Stage", "owner_id": "Owner", "utm_source": "UTM source",
                "utm_medium": "UTM medium", "utm_campaign": "UTM campaign", "referrer": "Referring page"}
# The survivor's columns a merge may change, recorded before and after so undo can put them back.
TRACKED_FIELDS = ("id",) + MERGE_FIELDS + ("position", "stage_entered_at", "first_response_at", "first_response_by_id",
                                           "first_response_seconds", "last_touch_at", "reached_stage_id")


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
    if python_type is date:
        return date.fromisoformat(value)
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
    if name == "country" and value:
        return country_name(value)  # "Germany", as the lead page says, not "DE"
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
    return MergePreview(survivor, loser, fields + _custom_choices(survivor.id, loser.id))


def _custom_choices(survivor_id: int, loser_id: int) -> list[FieldChoice]:
    """A choice per custom field either lead holds a value in (named custom_<key>), in the admins'
    order; as for built-in fields, the other lead's value fills an empty one by default."""
    defined = custom_fields.active_fields()
    values = custom_fields.values_for([survivor_id, loser_id], defined)
    mine, theirs = values[survivor_id], values[loser_id]
    return [FieldChoice(custom_fields.form_name(f.key), f.label, custom_fields.display(mine.get(f.key)),
                        custom_fields.display(theirs.get(f.key)), mine.get(f.key) == theirs.get(f.key),
                        "loser" if f.key not in mine else "survivor")
            for f in defined if f.key in mine or f.key in theirs]


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


def merged_into(lead_id: int, hops: int = 10) -> tuple[str, Lead] | None:
    """For a lead merged away: its name as it was and the lead it lives on in now (following a
    survivor that was itself merged later, a few hops at most); None for a lead never merged."""
    name, survivor = None, None
    for _ in range(hops):
        merge = db.session.scalars(select(LeadMerge).where(LeadMerge.loser_id == lead_id, LeadMerge.undone_at.is_(None))
                                   .order_by(LeadMerge.id.desc()).limit(1)).first()
        if merge is None:
            break
        name = name or loser_name(merge)
        survivor = db.session.get(Lead, merge.survivor_id)
        if survivor is not None:
            return name, survivor
        lead_id = merge.survivor_id
    return None


def id_reused(lead: Lead) -> tuple[str, Lead] | None:
    """For a lead whose id belonged to a lead merged away before it was created (SQLite gives the
    highest id again): that lead's name and the lead it lives on in now, so a page opened from an
    old link can say whom it was meant for. None otherwise (one indexed read)."""
    merge = db.session.scalars(select(LeadMerge).where(LeadMerge.loser_id == lead.id, LeadMerge.undone_at.is_(None),
                                                       LeadMerge.merged_at <= lead.created_at)
                               .order_by(LeadMerge.id.desc()).limit(1)).first()
    if merge is None:
        return None
    found = merged_into(lead.id)
    return found if found is not None and found[1].id != lead.id else None


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
        if lead_id not in found or found[lead_id].deleted_at is not None:  # in the trash: not merged into or away
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
        if name not in MERGE_FIELDS and not name.startswith(CUSTOM_CHOICE):
            raise ServiceError(f"{name} cannot be chosen in a merge.", field=name)
        if side not in ("survivor", "loser"):
            what = MERGE_LABELS.get(name, "value").lower()
            raise ServiceError(f"Choose which lead's {what} to keep.", field=name)
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
        # Custom values: per field, the chosen lead's value (custom_<key>: "loser" or "survivor"; a
        # field not named keeps the survivor's, filled from the loser's when empty). The loser's are
        # kept for an undo, the survivor's before and after too. The other lead's values the kept lead
        # does not end up with (built-in ones too, _not_kept) are named on the "merged" entry, so
        # they are not seen only by undoing the merge.
        custom_not_kept = _merge_custom(survivor, loser, choices, before, loser_snapshot, actor_id, now)
        other_name = loser.full_name
        for name, side in choices.items():
            if name in MERGE_FIELDS and side == "loser" and getattr(survivor, name) != getattr(loser, name):
                _take(survivor, loser, name)
        not_kept = _not_kept(survivor, loser) + custom_not_kept
        # The earlier first response stands, with who gave it; the later last touch.
        responses = [lead for lead in (survivor, loser) if lead.first_response_at is not None]
        first = min(responses, key=lambda lead: lead.first_response_at) if responses else None
        survivor.first_response_at = first.first_response_at if first else None
        survivor.first_response_by_id = first.first_response_by_id if first else None
        survivor.first_response_seconds = first.first_response_seconds if first else None
        touched = [t for t in (survivor.last_touch_at, loser.last_touch_at) if t is not None]
        survivor.last_touch_at = max(touched) if touched else None
        # The one person got as far along the pipeline as either lead did (the funnel's "Reached").
        for stage_id in (before["stage_id"], loser.stage_id, loser.reached_stage_id):  # empty: where it is
            if stage_id is not None:
                note_reached(survivor, db.session.get(Stage, stage_id))

        # The loser's sequences stop (the survivor is the one lead now; its own go on); their
        # history follows it to the survivor, and back on undo.
        sequences.stop_lead([loser.id], "merged", now)
        moved = {table: list(db.session.scalars(select(model.id).where(model.lead_id == loser.id).order_by(model.id)))
                 for table, model in MOVABLE.items()}
        _move(moved, loser.id, survivor.id)
        refresh_next([survivor.id])  # the loser's open tasks now count on the survivor's card
        # Tags are not rows with ids: the loser's join the survivor's, and the snapshot keeps both
        # lists so that undo gives the loser its own back and takes from the survivor what it gained.
        loser_snapshot["tag_ids"] = tag_ids_of(loser.id)
        loser_snapshot["survivor_gained_tag_ids"] = fold_tags(loser.id, survivor.id)
        _show_latest_appointment(survivor)
        # Merges the loser absorbed would be cascade-deleted with it: they follow their timeline.
        db.session.execute(update(LeadMerge).where(LeadMerge.survivor_id == loser.id)
                           .values(survivor_id=survivor.id).execution_options(synchronize_session=False))
        db.session.delete(loser)
        survivor.version += 1
        survivor.updated_at = now
        db.session.flush()
        merge = LeadMerge(survivor_id=survivor.id, loser_id=loser_id, loser_snapshot=loser_snapshot,
                          survivor_before=before, survivor_after=_after_snapshot(survivor, before),
                          moved_timeline_ids=moved.pop("timeline_entries"), moved_note_ids=moved.pop("notes"),
                          moved_ids=moved, merged_by_id=actor_id, merged_at=now)
        db.session.add(merge)
        db.session.flush()
        record(survivor.id, "merged", actor_id, {"other": other_name, "merge_id": merge.id, "undone": False,
                                                 **({"not_kept": not_kept} if not_kept else {})}, now)
        rescore(survivor, now, actor_id=actor_id)  # the merged data and timeline ("submitted again") count now
    return merge


CUSTOM_CHOICE = "custom_"  # a merge choice naming a custom field: custom_<key> (custom_fields.form_name)


def _not_kept(survivor: Lead, loser: Lead) -> list[list[str]]:
    """[label, text] of the other lead's values (stage and owner included) the kept lead does not
    end up with: what the "merged" entry names, so they are not seen only by undoing the merge."""
    return [[MERGE_LABELS[name], _display(loser, name)] for name in MERGE_FIELDS
            if not _empty(getattr(loser, name)) and getattr(survivor, name) != getattr(loser, name)]


def _merge_custom(survivor: Lead, loser: Lead, choices: dict[str, str], before: dict, loser_snapshot: dict,
                  actor_id: int | None, now: datetime) -> list[list[str]]:
    """Give the survivor the chosen custom values; returns [label, text] of the other lead's values
    the survivor does not end up with (its own replaced values are not named: they were its own)."""
    defined = custom_fields.active_fields()
    values = custom_fields.values_for([survivor.id, loser.id], defined)
    mine, theirs = values[survivor.id], values[loser.id]
    if not mine and not theirs:
        return []
    taken = {}
    for custom in defined:
        side = choices.get(custom_fields.form_name(custom.key)) or ("survivor" if custom.key in mine else "loser")
        if side == "loser" and theirs.get(custom.key) != mine.get(custom.key):
            taken[custom.key] = theirs.get(custom.key)
    custom_fields.set_values(survivor, taken, actor_id, now, record_entry=False, touch_lead=False)
    after = {key: value for key, value in {**mine, **taken}.items() if value not in (None, [])}
    not_kept = [[f.label, custom_value(theirs[f.key], f.kind)] for f in defined
                if f.key in theirs and theirs[f.key] not in (None, []) and after.get(f.key) != theirs[f.key]]
    as_json = custom_fields.json_value
    loser_snapshot["custom_fields"] = {k: as_json(v) for k, v in theirs.items()}
    before["custom_fields"] = {k: as_json(v) for k, v in mine.items()}
    return not_kept


# Rows that follow the loser to the survivor, and back on undo, by table. Timeline entries and notes
# are recorded in LeadMerge.moved_timeline_ids and moved_note_ids, the others in moved_ids.
# An import's ledger rows follow too: the row that created the loser then names the survivor (an
# undo of that import keeps it, since another lead was merged into it), and comes back on undo.
MOVABLE = {model.__tablename__: model for model in (TimelineEntry, Note, Activity, Appointment, Notification,
                                                    OutboxEmail, Task, SuppressedAddress, SequenceEnrolment,
                                                    SequenceSend, ImportRow)}
# Custom field values are not moved but copied: they fill the survivor's empty fields and are kept in
# the loser's snapshot, from which an undo restores them.
# A lead's search document is not moved but rebuilt from the rows it is made of (services/search.py).
MOVED_TABLES = {*MOVABLE, "lead_merges", "lead_tags", "lead_field_values", "lead_field_choices",
                "lead_search_documents"}


def _after_snapshot(survivor: Lead, before: dict) -> dict:
    after = _snapshot(survivor, TRACKED_FIELDS)
    if "custom_fields" in before:
        after["custom_fields"] = _custom_json(survivor.id)
    return after


def _custom_json(lead_id: int) -> dict:
    return {k: custom_fields.json_value(v) for k, v in custom_fields.values_for([lead_id])[lead_id].items()}


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
    search.changed([from_id, to_id])  # notes move with the rest
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
        unfold_tags(survivor.id, loser.id, merge.loser_snapshot.get("tag_ids", []),
                    merge.loser_snapshot.get("survivor_gained_tag_ids", []))
        custom_fields.restore_values(loser, merge.loser_snapshot.get("custom_fields") or {})
        _move({"timeline_entries": merge.moved_timeline_ids, "notes": merge.moved_note_ids, **merge.moved_ids},
              survivor.id, loser.id)
        refresh_next([survivor.id, loser.id])
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
            _restore_survivor_custom(survivor, merge.survivor_before, merge.survivor_after)
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
        rescore([survivor, loser], now, actor_id=actor_id)
    return merge


def _restore_survivor_custom(survivor: Lead, before: dict, after: dict) -> None:
    """Give the survivor back each custom value the merge changed, unless it was changed again since."""
    if "custom_fields" not in before:
        return  # a merge from before custom choices: it only filled empty values, which stay
    was, became, now_holds = before["custom_fields"], after.get("custom_fields") or {}, _custom_json(survivor.id)
    back = {key: was.get(key) for key in {*was, *became}
            if was.get(key) != became.get(key) and now_holds.get(key) == became.get(key)}
    if back:
        custom_fields.restore_values(survivor, back)


def _restore_loser(snapshot: dict) -> Lead:
    values = {name: _from_json(name, value) for name, value in snapshot.items() if name in Lead.__table__.c}
    if db.session.get(Lead, values["id"]) is not None:  # SQLite reuses the highest id once deleted
        del values["id"]
    # What the snapshot points at may be gone by now: a deleted stage, form or user.
    if db.session.get(Stage, values["stage_id"]) is None:
        values["stage_id"] = db.session.scalar(select(Stage.id).order_by(Stage.position, Stage.id).limit(1))
    if values.get("reached_stage_id") is not None and db.session.get(Stage, values["reached_stage_id"]) is None:
        values["reached_stage_id"] = None  # the funnel then counts it from the stage it is in
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
    if restore.get("reached_stage_id") is not None and db.session.get(Stage, restore["reached_stage_id"]) is None:
        del restore["reached_stage_id"]  # deleted since: what it handed on stays
    for name, value in restore.items():
        setattr(survivor, name, _from_json(name, value))
    survivor.stage = db.session.get(Stage, survivor.stage_id)
    survivor.owner = db.session.get(User, survivor.owner_id) if survivor.owner_id is not None else None
