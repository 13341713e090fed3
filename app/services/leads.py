"""Leads: creating, editing, claiming, assigning and moving them (timeline.record writes down each change)."""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.config import Settings
from app.extensions import db
from app.models import Lead, Note, Stage, StageKind, User
from app.models.lead import EDITABLE_FIELDS, max_length
from app.services import Conflict, NotFound, ServiceError, atomic, in_atomic, team_settings, utcnow
from app.services import events
from app.services import closing, custom_fields
from app.services import tags as tag_service
from app.services.scoring import rescore
from app.services.availability import open_lead_counts
from app.services.countries import normalize_country
from app.services.identity import IDENTIFYING_FIELDS, NOTHING_IDENTIFIES, identifies
from app.services.stages import get_stage, lock_stage
from app.services.timeline import record
from app.services import sequences, sla, touches

POSITION_GAP = 1024
MAX_BULK = 500
NOTE_LIMIT = 10_000  # the most characters of a note, on a lead or on a logged activity
MAX_VALUE = Decimal("1000000000000")
FIELD_LABELS = {
    "first_name": "First name", "last_name": "Last name", "email": "Email", "phone": "Phone",
    "company": "Company", "job_title": "Job title", "source": "Source", "value": "Deal value",
    "country": "Country", "region": "Region", "street": "Street", "city": "City", "postal_code": "Postal code",
    "website": "Website", "description": "Description", "expected_close_on": "Expected close date",
}
# The days an expected close date may fall on: a forecast month, not a typo's year 20265 or 1926.
CLOSE_DATE_MIN, CLOSE_DATE_MAX = date(2000, 1, 1), date(2100, 12, 31)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class LeadNotFound(NotFound):
    def __init__(self):
        super().__init__("That lead does not exist (it may have been deleted or merged).")


class LeadAlreadyClaimed(Conflict):
    def __init__(self, owner_name: str):
        super().__init__(f"{owner_name} claimed this lead first.")
        self.owner_name = owner_name


class ClaimCapReached(Conflict):
    """Claiming would take a person past the team's pool claim cap."""

    def __init__(self, held: int, cap: int, adding: int = 1):
        leads = f"{held} open lead{'s' if held != 1 else ''}"
        if adding == 1:
            message = (f"You hold {leads}, and the most a member may hold when claiming from the pool is {cap}. "
                       "Close or hand on a lead first, or ask an admin to assign this one to you.")
        else:
            room = max(cap - held, 0)
            message = (f"You hold {leads}; claiming these {adding} would make {held + adding}, and the most a "
                       f"member may hold when claiming from the pool is {cap}. "
                       + (f"Select at most {room}." if room else "Close or hand on a lead first."))
        super().__init__(message)
        self.held, self.cap, self.adding = held, cap, adding


class StaleLead(Conflict):
    """The lead changed since the page showing it was drawn."""

    def __init__(self, lead: Lead | None = None, message: str | None = None):
        super().__init__(message or "Someone else changed this lead a moment ago, so your change was not saved. "
                         "The board now shows where it is.")
        self.lead = lead


class UnknownUser(NotFound):
    def __init__(self):
        super().__init__("That teammate is not an active user.", field="owner")


# --- normalising input ------------------------------------------------------------------------


def normalize_email(raw: str | None) -> str | None:
    """Trimmed and lower-cased, or None if empty; raises ServiceError if not a deliverable-looking address."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ServiceError(f"Enter a valid email address. {exc}", field="email") from None


def default_phone_region() -> str:
    """The country of numbers typed without a +code: the DEFAULT_PHONE_REGION setting."""
    if has_app_context():
        return current_app.config["DEFAULT_PHONE_REGION"]
    return Settings.model_fields["DEFAULT_PHONE_REGION"].default  # a script or unit test without an app


def normalize_phone(raw: str | None, region: str | None = None) -> str | None:
    """E.164 (+14155550123), or None if empty; raises ServiceError if it cannot be a phone number.

    `region` (default: the DEFAULT_PHONE_REGION setting) is the country of a number without +code."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        number = phonenumbers.parse(raw, region or default_phone_region())
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise ServiceError("Enter a phone number with its area code, e.g. +1 415 555 0123.", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_value(raw) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        raise ServiceError("Enter the deal value as a number, e.g. 2500 or 2500.50.", field="value") from None
    if not value.is_finite() or value < 0:
        raise ServiceError("The deal value cannot be negative.", field="value")
    value = value.quantize(Decimal("0.01")) if value < MAX_VALUE else value
    if value >= MAX_VALUE:  # checked after rounding too: .995 can carry past what NUMERIC(14, 2) holds
        raise ServiceError("That deal value is too large.", field="value")
    return value


def normalize_website(raw: str | None) -> str | None:
    """A web address ("acme.com" -> "https://acme.com"), or None if empty; raises ServiceError if
    it is not one or is too long."""
    raw = (raw or "").strip()
    if not raw:
        return None
    address = custom_fields.web_address(raw)
    if address is None:
        raise ServiceError("Enter the website as a web address, e.g. acme.com or https://acme.com.", field="website")
    if len(address) > max_length("website"):
        raise ServiceError(f"Website must be at most {max_length('website')} characters.", field="website")
    return address


def normalize_close_date(raw) -> date | None:
    """An expected close date: a date, or its text as YYYY-MM-DD (what a date input sends); None if
    empty. Raises ServiceError naming expected_close_on if it is not one, or not in 2000-2100."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        day = raw
    else:
        text = str(raw).strip()
        try:
            day = date.fromisoformat(text) if _ISO_DAY.fullmatch(text) else None
        except ValueError:  # 2026-02-30
            day = None
        if day is None:
            raise ServiceError("Enter the expected close date as a day, YYYY-MM-DD, e.g. 2026-12-31.",
                               field="expected_close_on")
    if not CLOSE_DATE_MIN <= day <= CLOSE_DATE_MAX:
        raise ServiceError("Pick an expected close date between 2000 and 2100.", field="expected_close_on")
    return day


def phone_region(country: str | None, region: str | None = None) -> str | None:
    """The country a phone number without +code is read in: the lead's, if it names one, else `region`."""
    try:
        return normalize_country(country) or region
    except ServiceError:
        return region


_NAMES = frozenset({"first_name", "last_name"})


def clean_field(name: str, raw, region: str | None = None):
    """One editable field's value trimmed and normalised (a phone read in `region` when it has no
    +code); raises ServiceError naming the field. clean_fields' rule for each field."""
    if name == "email":
        return normalize_email(raw)
    if name == "phone":
        return normalize_phone(raw, region)
    if name == "value":
        return normalize_value(raw)
    if name == "country":
        return normalize_country(raw)
    if name == "website":
        return normalize_website(raw)
    if name == "expected_close_on":
        return normalize_close_date(raw)
    text = (raw or "").strip()  # line breaks inside are kept as given (a description, a street)
    limit = max_length(name)
    if len(text) > limit:
        raise ServiceError(f"{FIELD_LABELS[name]} must be at most {limit} characters.", field=name)
    return text if name in _NAMES else (text or None)


def clean_fields(data: dict, region: str | None = None, *, known: dict | None = None) -> dict:
    """The editable fields, trimmed and normalised; raises ServiceError naming the first bad field.

    A phone without its +code is read as a number of the lead's country when the data names one
    (an export from Germany: "Deutschland", "030 1234567"), else of `region`. `known`: what this
    function already returned for some of data's fields (an import reads each cell once)."""
    cleaned = {}
    for name in EDITABLE_FIELDS:
        if name not in data:
            continue
        if known and name in known:
            cleaned[name] = known[name]
        else:
            cleaned[name] = clean_field(name, data[name], phone_region(data.get("country"), region)
                                        if name == "phone" else region)
    # A change that touches what identifies a lead must leave something that does (identity.identifies).
    if cleaned.keys() & set(IDENTIFYING_FIELDS) and not identifies(cleaned):
        raise ServiceError(NOTHING_IDENTIFIES, field="first_name")
    return cleaned


# --- reading ----------------------------------------------------------------------------------


# Inside a transaction a lead is read FOR KEY SHARE: nothing else waits for that lock but a merge
# deleting the lead, so a change racing a merge waits for it and then finds the lead gone
# (LeadNotFound, a 404) instead of writing rows that point at a deleted lead.
KEEP_ROW = {"read": True, "key_share": True, "of": Lead}


def get_lead(lead_id: int) -> Lead:
    writing = in_atomic()
    lead = db.session.get(Lead, lead_id, options=[joinedload(Lead.owner), joinedload(Lead.stage)],
                          with_for_update=KEEP_ROW if writing else None, populate_existing=writing)
    if lead is None or lead.deleted_at is not None:  # in the trash (services/trash.py): nothing changes it
        raise LeadNotFound()
    return lead


def active_user(user_id: int) -> User:
    """The user with this id if they may be given leads; raises UnknownUser if missing or deactivated."""
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise UnknownUser()
    return user


# --- writing ----------------------------------------------------------------------------------


def top_position(stage_id: int) -> int:
    """A free place above every card of the stage; locks the stage row until the transaction ends
    so that two writers never pick the same place (positions are unique per stage)."""
    lock_stage(stage_id)
    top = db.session.scalar(select(func.min(Lead.position)).where(Lead.stage_id == stage_id))
    return (top if top is not None else 0) - POSITION_GAP


def json_value(value):
    """A field's value as a timeline entry stores it (JSON): a Decimal as text, a day as YYYY-MM-DD,
    anything else as is."""
    if isinstance(value, Decimal):
        return str(value)
    return value.isoformat() if isinstance(value, date) else value


def first_stage(stage_id: int | None) -> Stage:
    """The stage a new lead goes into: this one, or the pipeline's first. Raises ServiceError."""
    stage = get_stage(stage_id) if stage_id is not None else db.session.scalar(
        select(Stage).order_by(Stage.position, Stage.id).limit(1))
    if stage is None:
        raise ServiceError("Add a pipeline stage before adding leads.")
    return stage


WAYS_IN = {"form": "through a capture form", "api": "through the API", "import": "by an import",
           "hand": "by hand"}


def way_in(via: str) -> str:
    """Which way in a capture's `via` names (a key of WAYS_IN): what lead.created events carry."""
    if via == "CSV import":  # imports.VIA (imports imports this module)
        return "import"
    if via.startswith("API key"):
        return "api"
    if via.startswith("web form"):
        return "form"
    return "hand"


def insert_lead(cleaned: dict, actor_id: int | None, *, stage_id: int | None = None, owner_id: int | None = None,
                via: str = "manual entry", extra: dict | None = None, now: datetime | None = None) -> Lead:
    """Add a lead with its 'created' entry to the current transaction (call inside atomic()); the
    caller scores it (scoring.rescore) once everything else about it is written."""
    now = now or utcnow()
    stage = first_stage(stage_id)
    owner = active_user(owner_id) if owner_id is not None else None
    lead = Lead(**cleaned, **(extra or {}), stage_id=stage.id, owner_id=owner.id if owner else None,
                position=top_position(stage.id), version=1, created_at=now, updated_at=now, stage_entered_at=now)
    closing.apply(lead, stage, None, now, require_reason=False)  # a lead added straight into a won or lost stage closes today
    note_reached(lead, stage)
    db.session.add(lead)
    db.session.flush()
    record(lead.id, "created", actor_id, {"via": via, "stage": stage.name, "owner": owner.name if owner else None}, now)
    events.emit("lead.created", lead_id=lead.id, data={"way": way_in(via)}, now=now)
    return lead


def create_lead(data: dict, actor_id: int | None, *, stage_id: int | None = None, owner_id: int | None = None,
                via: str = "manual entry", region: str | None = None, now: datetime | None = None) -> Lead:
    """Add one lead as given, without duplicate checks (capture.capture_lead is the way in that checks)."""
    cleaned = clean_fields({name: data.get(name) for name in EDITABLE_FIELDS}, region)
    with atomic():
        lead = insert_lead(cleaned, actor_id, stage_id=stage_id, owner_id=owner_id, via=via, now=now)
        rescore(lead, now, actor_id=actor_id)
        sla.start_clock(lead, now or utcnow())  # after scoring: a target may depend on the band
        return lead


def update_lead(lead_id: int, data: dict, actor_id: int | None, *, expected_version: int | None = None,
                region: str | None = None, custom: dict | None = None, custom_partial: bool = False) -> Lead:
    """Save edited fields with one 'updated' entry listing old and new values; raises StaleLead.

    `custom`: custom field values by key (the lead form sends all of them, required ones required;
    custom_partial=True, as the API does, changes only the keys sent)."""
    cleaned = clean_fields(data, region)
    custom_cleaned = custom_fields.check_values(custom, partial=custom_partial, required=not custom_partial) \
        if custom is not None else {}
    with atomic():
        lead = get_lead(lead_id)
        stale = StaleLead(lead, "Someone else edited this lead while you were typing. "
                                "Their changes are shown; re-apply yours.")
        if expected_version is not None and lead.version != expected_version:
            raise stale
        version = lead.version
        changes = {name: [json_value(getattr(lead, name)), json_value(value)]
                   for name, value in cleaned.items() if getattr(lead, name) != value}
        custom_changes = custom_fields.set_values(lead, custom_cleaned, actor_id, record_entry=False,
                                                  touch_lead=False)
        if changes or custom_changes:
            if not bump_version(lead, version):
                raise stale
            for name in changes:
                setattr(lead, name, cleaned[name])
            if "email" in changes:  # a new address has not bounced (services/bounces.py)
                lead.email_undeliverable_at = lead.email_undeliverable_reason = None
            record(lead.id, "updated", actor_id, {"changes": changes, **({"custom": custom_changes} if custom_changes else {})})
            events.emit("lead.updated", lead_id=lead.id,
                        data={"changed": sorted(changes), "custom_fields_changed": bool(custom_changes),
                              "custom_changed": sorted(custom_changes)})
            rescore(lead, actor_id=actor_id)
    return lead


def bump_version(lead: Lead, version: int) -> bool:
    """Raise the lead's version from `version` by a conditional update; False if it is no longer
    that version. Of simultaneous changes based on one version exactly one gets True: on
    PostgreSQL the others wait for its row lock, then match no row."""
    now = utcnow()
    bumped = db.session.execute(
        update(Lead).where(Lead.id == lead.id, Lead.version == version)
        .values(version=version + 1, updated_at=now).execution_options(synchronize_session=False)).rowcount
    if bumped:
        set_committed_value(lead, "version", version + 1)
        set_committed_value(lead, "updated_at", now)
    return bool(bumped)


def add_note(lead_id: int, body: str, actor_id: int) -> Note:
    """Log a note on a lead; a lead's first note by a person counts as its first response."""
    body = (body or "").strip()
    if not body:
        raise ServiceError("Write something in the note first.", field="body")
    if len(body) > NOTE_LIMIT:
        raise ServiceError(f"Keep a note under {NOTE_LIMIT:,} characters.", field="body")
    with atomic():
        lead = get_lead(lead_id)
        now = utcnow()
        note = Note(lead_id=lead.id, author_id=actor_id, body=body, created_at=now)
        db.session.add(note)
        touch(lead)
        touches.touch(lead, actor_id, "note", now)
        record(lead.id, "note", actor_id, {"body": body}, now)
        rescore(lead, actor_id=actor_id)
        _tell_mentioned(lead, note, actor_id, now)
    return note


def _tell_mentioned(lead: Lead, note: Note, actor_id: int | None, now: datetime) -> None:
    """A "mention" notice for each teammate the note names with `@name` (services/mentions.py)."""
    from app.services.mentions import mentioned_user_ids
    from app.services.notifications import app_path, notify
    people = mentioned_user_ids(note.body, actor_id)
    if not people:
        return
    author = db.session.get(User, actor_id) if actor_id is not None else None
    excerpt = note.body if len(note.body) <= 200 else note.body[:199] + "…"
    db.session.flush()  # the note's id, for the link
    notify(people, "mention", f"{author.name if author else 'Someone'} mentioned you in a note on "
                              f"{lead.full_name}: “{excerpt}”", lead_id=lead.id,
           url=app_path("leads.show", lead_id=lead.id) + f"#note-{note.id}", now=now)


def touch(lead: Lead) -> None:
    """Mark the lead changed now (version and updated_at). (A person's touch, which may be the first
    response, is services/touches.touch.)"""
    lead.updated_at = utcnow()
    lead.version = Lead.version + 1  # in SQL, so simultaneous changes never lose an increment


def enforce_claim_cap(user_id: int, claimed: int) -> None:
    """After `claimed` pool leads became the user's in this transaction: raise ClaimCapReached if they
    now hold more open leads than the team's pool claim cap allows (call inside atomic()).

    Locks the user's row (FOR NO KEY UPDATE on PostgreSQL, which a lead's owner foreign key does not
    wait for) before counting, so simultaneous claims by one person are counted one after another."""
    cap = team_settings.pool_claim_cap()
    if cap is None or not claimed:
        return
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
    held = open_lead_counts([user_id])[user_id]
    if held > cap:
        raise ClaimCapReached(max(held - claimed, 0), cap, claimed)


def claim_lead(lead_id: int, actor_id: int) -> Lead:
    """Make an unowned lead the actor's; raises LeadAlreadyClaimed if someone else got there first,
    ClaimCapReached if the actor already holds as many open leads as the pool claim cap allows."""
    with atomic():
        active_user(actor_id)
        # Conditional update: of two simultaneous claims exactly one matches the row.
        claimed = db.session.execute(
            update(Lead).where(Lead.id == lead_id, Lead.owner_id.is_(None))
            .values(owner_id=actor_id, version=Lead.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)).rowcount
        if not claimed:
            lead = get_lead(lead_id)
            db.session.refresh(lead)
            if lead.owner_id == actor_id:
                return lead
            raise LeadAlreadyClaimed(lead.owner.name if lead.owner else "Someone")
        enforce_claim_cap(actor_id, 1)
        record(lead_id, "claimed", actor_id)
        events.emit("lead.assigned", lead_id=lead_id, data={"previous_owner_id": None, "owner_id": actor_id})
        rescore(lead_id, actor_id=actor_id)
        sla.owner_changed(db.session.get(Lead, lead_id, populate_existing=True), utcnow())
    lead = get_lead(lead_id)
    db.session.refresh(lead)
    return lead


def _assign(lead: Lead, owner: User | None, actor_id: int) -> bool:
    if lead.owner_id == (owner.id if owner else None):
        return False
    before = lead.owner.name if lead.owner else None
    events.emit("lead.assigned", lead_id=lead.id,
                data={"previous_owner_id": lead.owner_id, "owner_id": owner.id if owner else None})
    lead.owner_id = owner.id if owner else None
    lead.owner = owner
    touch(lead)
    record(lead.id, "assigned", actor_id, {"from": before, "to": owner.name if owner else None})
    rescore(lead, actor_id=actor_id)
    sla.owner_changed(lead, utcnow())
    return True


def _claims(owner: User | None, actor_id: int, taken: int) -> int:
    """How many of the leads just assigned count as claims: a member (not an admin) taking leads
    for themselves is claiming, however they ask."""
    if owner is None or owner.id != actor_id or owner.is_admin:
        return 0
    return taken


def assign_lead(lead_id: int, owner_id: int | None, actor_id: int) -> Lead:
    """Give a lead to a teammate, or back to the pool (owner_id None). A member taking a lead for
    themselves (from the pool, or from a teammate) is claiming it: raises ClaimCapReached past the
    cap (admins are never capped). Counting a teammate's lead too closes a detour: hand pool leads
    to a teammate, then take them back."""
    with atomic():
        lead = get_lead(lead_id)
        owner = active_user(owner_id) if owner_id is not None else None
        if _assign(lead, owner, actor_id):
            db.session.flush()
            enforce_claim_cap(actor_id, _claims(owner, actor_id, 1))
            tell_new_owner(owner, actor_id, [lead])
    return lead


def tell_new_owner(owner: User | None, actor_id: int | None, leads: list[Lead]) -> None:
    """One "assigned" notice for the new owner (one for a whole bulk assign); none for the pool, and
    none for someone taking leads themselves."""
    from app.services.notifications import app_path, notify
    if owner is None or owner.id == actor_id or not leads:
        return
    actor = db.session.get(User, actor_id) if actor_id is not None else None
    by = actor.name if actor else "Someone"
    if len(leads) == 1:
        notify([owner.id], "assigned", f"{by} assigned {leads[0].full_name} to you.", lead_id=leads[0].id)
    else:
        notify([owner.id], "assigned", f"{by} assigned {len(leads)} leads to you.",
               url=app_path("leads.index", owner="me"))


def _many(lead_ids: list[int]) -> list[Lead]:
    if not lead_ids:
        raise ServiceError("Select at least one lead first.", field="lead_ids")
    if len(lead_ids) > MAX_BULK:
        raise ServiceError(f"Select at most {MAX_BULK} leads at a time.", field="lead_ids")
    leads = list(db.session.scalars(select(Lead).options(joinedload(Lead.owner), joinedload(Lead.stage))
                                    .where(Lead.id.in_(set(lead_ids))).order_by(Lead.id)
                                    .with_for_update(**KEEP_ROW).execution_options(populate_existing=True)))
    if len(leads) != len(set(lead_ids)):
        raise LeadNotFound()
    return leads


def bulk_assign(lead_ids: list[int], owner_id: int | None, actor_id: int) -> int:
    """Assign many leads at once; returns how many changed owner. A member taking leads for
    themselves (from the pool or a teammate) is claiming them: raises ClaimCapReached past the cap,
    and then none change."""
    with atomic():
        owner = active_user(owner_id) if owner_id is not None else None
        leads = _many(lead_ids)
        given = [lead for lead in leads if _assign(lead, owner, actor_id)]
        if given:
            db.session.flush()
            enforce_claim_cap(actor_id, _claims(owner, actor_id, len(given)))
            tell_new_owner(owner, actor_id, given)
        return len(given)


def note_reached(lead, stage: Stage) -> None:
    """Keep on the lead the furthest open stage it has been in (Lead.reached_stage_id, what the
    funnel counts as reached): `stage`, if it is open and further along the pipeline (position, then
    id: pipeline()'s order) than the one kept. A move back or into won or lost never lowers it.
    `lead` may be a Lead or an import's plain row (capture.NewLeads)."""
    if stage.kind != StageKind.open.value:
        return
    kept = db.session.get(Stage, lead.reached_stage_id) if lead.reached_stage_id is not None else None
    if kept is None or (stage.position, stage.id) > (kept.position, kept.id):
        lead.reached_stage_id = stage.id


def change_stage(lead: Lead, stage: Stage, actor_id: int | None, position: int, now: datetime,
                 closing_details: closing.Closing | None = None) -> None:
    """Put the lead at `position` in `stage`, recording the stage change (a person's move is a touch,
    perhaps the first response, unless it closes the lead) if it moves; into or out of a won or lost stage, what closing or
    reopening it records (services/closing.py)."""
    if lead.stage_id != stage.id:
        closed = closing.apply(lead, stage, closing_details, now)
        record(lead.id, "stage_changed", actor_id, {"from": lead.stage.name, "to": stage.name, **closed}, now)
        events.emit("lead.stage_changed", lead_id=lead.id,
                    data={"previous_stage_id": lead.stage_id, "stage_id": stage.id}, now=now)
        lead.stage_entered_at = now
        note_reached(lead, lead.stage)  # where it was counts too, should a reorder have put it further along
        note_reached(lead, stage)
        touches.touch(lead, actor_id, "closing" if closing.is_closed(stage) else "stage_move", now)
        sequences.on_stage_change(lead, stage, now)  # won or lost stops its sequences; a lost reason may enrol it
    lead.stage_id, lead.stage, lead.position = stage.id, stage, position


def bulk_move(lead_ids: list[int], stage_id: int, actor_id: int,
              closing_details: closing.Closing | None = None) -> int:
    """Move many leads to the top of one stage (closing each with the same details, if it is a won or
    lost stage); returns how many changed stage."""
    with atomic():
        stage = get_stage(stage_id)
        leads = [lead for lead in _many(lead_ids) if lead.stage_id != stage.id]
        top, now = top_position(stage.id), utcnow()
        for offset, lead in enumerate(leads):
            change_stage(lead, stage, actor_id, top - offset * POSITION_GAP, now, closing_details)
            touch(lead)
        rescore(leads, now, actor_id=actor_id)
        return len(leads)


def _position_after(stage_id: int, moving_id: int, after: Lead | None) -> int | None:
    """A position between `after` (None = the top) and the card below it, or None if there is no gap."""
    below_q = select(func.min(Lead.position)).where(Lead.stage_id == stage_id, Lead.id != moving_id)
    if after is None:
        below = db.session.scalar(below_q)
        return (below if below is not None else 0) - POSITION_GAP
    below = db.session.scalar(below_q.where(Lead.position > after.position))
    if below is None:
        return after.position + POSITION_GAP
    return (after.position + below) // 2 if below - after.position > 1 else None


ROOM_WINDOWS = (16, 128, 1024, 8192)  # how many cards below a full gap a move may spread, tried in turn


def _make_room(stage_id: int, moving_id: int, after: Lead) -> int:
    """A position just below `after` when the card below it leaves no gap.

    The cards below are spread out, up to the first gap wide enough for them and the moving card
    (or the column's end), so a move rewrites a small handful of positions, never the whole column.
    A spread leaves gaps of two or more, so a region only packs again after as many moves into it
    as it has cards, and each wider window is tried only then: the rewrites stay few on average."""
    for window in ROOM_WINDOWS:
        below = db.session.execute(
            select(Lead.id, Lead.position).where(Lead.stage_id == stage_id, Lead.id != moving_id,
                                                 Lead.position > after.position)
            .order_by(Lead.position, Lead.id).limit(window)).all()
        room = next((k for k in range(1, len(below)) if below[k].position - after.position >= 2 * (k + 2)), None)
        if room is not None:
            k, step = room, (below[room].position - after.position) // (room + 2)
            break
        if len(below) < window:  # the column ends within the window: there is room below its last card
            k, step = len(below), POSITION_GAP
            break
    else:  # 8,192 cards packed without a gap: never seen, but stay correct
        _renumber(stage_id)
        db.session.refresh(after)
        return _position_after(stage_id, moving_id, after)
    db.session.execute(update(Lead), [{"id": row.id, "position": after.position + step * (n + 2)}
                                      for n, row in enumerate(below[:k])])
    return after.position + step


def _renumber(stage_id: int) -> None:
    """Spread a whole column's positions out again (the last resort of _make_room)."""
    ids = db.session.scalars(select(Lead.id).where(Lead.stage_id == stage_id).order_by(Lead.position, Lead.id)).all()
    if not ids:
        return
    above = db.session.scalar(select(func.max(Lead.position)).where(Lead.stage_id == stage_id)) + 1
    db.session.execute(update(Lead), [{"id": i, "position": above + n} for n, i in enumerate(ids)])
    db.session.execute(update(Lead), [{"id": i, "position": above - (len(ids) - n) * POSITION_GAP}
                                      for n, i in enumerate(ids)])


def move_lead(lead_id: int, stage_id: int, after_id: int | None, expected_version: int | None,
              actor_id: int, closing_details: closing.Closing | None = None) -> Lead:
    """Put a card in a stage just below `after_id` (None: at the top).

    Raises StaleLead when the card or its new neighbour moved since the mover's board was drawn,
    so two people moving one card never overwrite each other silently."""
    with atomic():
        lead = get_lead(lead_id)
        stage = lock_stage(stage_id)  # UnknownStage if it is gone (or being deleted right now)
        if expected_version is not None and lead.version != expected_version:
            raise StaleLead(lead)
        after = None
        if after_id is not None:
            after = db.session.get(Lead, after_id)
            if after is None or after.stage_id != stage.id or after.id == lead.id:
                raise StaleLead(lead, "The board changed while you were dragging, so the card was not moved. "
                                      "The columns are refreshed; try again.")
        position = _position_after(stage.id, lead.id, after)
        if position is None:
            position = _make_room(stage.id, lead.id, after)
        if not bump_version(lead, lead.version):  # someone else's change committed since our read
            raise StaleLead(lead)
        db.session.refresh(lead)
        change_stage(lead, stage, actor_id, position, lead.updated_at, closing_details)
        rescore(lead, lead.updated_at, actor_id=actor_id)
    return lead


def change_lead(lead_id: int, changes: dict, actor_id: int | None, *, region: str | None = None) -> Lead:
    """Apply a partial change in one transaction: the editable fields sent (custom ones by key in
    `custom_fields`, only those sent), then `stage_id` (to the top of that stage), then `owner_id`
    (None: back to the pool), then `tags` (the lead's whole set of tags, as tags.set_tags takes
    them). Each step records its own timeline
    entry; if any step fails nothing of the change is kept. Raises what update_lead, move_lead and
    assign_lead raise (LeadNotFound, UnknownStage, UnknownUser, StaleLead, ServiceError)."""
    with atomic():
        lead = get_lead(lead_id)
        fields = {name: changes[name] for name in EDITABLE_FIELDS if name in changes}
        custom = changes.get("custom_fields")
        if fields or custom:
            if fields.keys() & set(IDENTIFYING_FIELDS):
                # What identifies a lead is checked on what the lead will be, not only on what is sent.
                fields = {**{name: getattr(lead, name) for name in IDENTIFYING_FIELDS}, **fields}
            update_lead(lead.id, fields, actor_id, region=region, custom=custom, custom_partial=True)
        if changes.get("stage_id") is not None and changes["stage_id"] != lead.stage_id:
            move_lead(lead.id, changes["stage_id"], None, None, actor_id, changes.get("closing"))
        if "owner_id" in changes and changes["owner_id"] != lead.owner_id:
            assign_lead(lead.id, changes["owner_id"], actor_id)
        if "tags" in changes:
            tag_service.set_tags(lead.id, changes["tags"] or [], actor_id)
    return lead
