"""The one way in for every captured lead: form, API, import and manual entry.

Emails are normalised and phones stored as E.164 before anything is compared, and identity.identify
decides who the person is (the rule lives there, and only there): a person who is already a lead
never gets a twin (the existing lead gets a "submitted again" entry and its empty fields filled),
and two people sharing a phone are never made one. Later issues (scoring, assignment, auto-emails)
hook in here, inside capture_lead's transaction."""
from __future__ import annotations

import enum
from types import SimpleNamespace
from dataclasses import dataclass, field
from datetime import datetime

from app.extensions import db
from app.models import Lead, TimelineEntry, User
from app.models.lead import EDITABLE_FIELDS, max_length
from app.services import ServiceError, atomic, closing, custom_fields, search, sequences, sla, utcnow
from app.services import consent, events, permissions
from app.services.assignment import Routed, route
from app.services.bulk import insert_many
from app.services.conditions import new_lead_facts, refresh_score
from app.services.countries import country_from_phone
from app.services.identity import hold, identify
from app.services.tags import add_tags, clean_tags, tag_new_lead
from app.services.leads import (FIELD_LABELS, POSITION_GAP, active_user, clean_fields, first_stage, insert_lead,
                                json_value, note_reached, tell_new_owner, top_position, touch, way_in)
from app.services.scoring import rescore, rules_read, score_new
from app.services.timeline import record

# Where a lead came from, kept beside the lead fields (and never compared for duplicates).
ORIGIN_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "referrer")
ORIGIN_LIMITS = {name: max_length(name) for name in ORIGIN_FIELDS}


# capture_lead's default scope: the actor's own (permissions.visible_to), so that a lead added by
# hand by a member who may not see a teammate's lead leaves that lead alone, whichever screen it came from.
ACTOR_SCOPE = object()


class OnDuplicate(str, enum.Enum):
    fill = "fill"  # the default: fill the existing lead's empty fields, note the resubmission
    skip = "skip"  # leave the existing lead alone
    update = "update"  # overwrite the existing lead's fields with the new non-empty values
    keep = "keep"  # create a second lead anyway


@dataclass
class Captured:
    lead: Lead
    created: bool
    matched_on: str | None = None  # "email", "phone", "name and company" or "company" when an existing lead was found
    changed: dict = field(default_factory=dict)
    same_phone: tuple[int, ...] = ()  # other people's leads sharing the new lead's phone
    routed: Routed | None = None  # the assignment rule that gave the new lead its owner, if one did
    custom_changed: dict = field(default_factory=dict)  # custom field label -> [old, new] on a known lead
    # A new lead's tags (tags_for's order) and custom values (values_for's), as written: its reply
    # need not read them again. None on a known lead.
    tags: list[str] | None = None
    custom: dict | None = None
    # A known lead outside the capturer's scope (capture_lead's visible_to): left as it is.
    hidden: bool = False


def clean_origin(origin: dict | None) -> dict:
    cleaned = {}
    for name in ORIGIN_FIELDS:
        value = ((origin or {}).get(name) or "").strip()
        if value:
            cleaned[name] = value[:ORIGIN_LIMITS[name]]
    return cleaned


@dataclass
class Prepared:
    """A capture's input as capture_lead writes it: checked and normalised, nothing read or written yet."""

    cleaned: dict  # lead fields (clean_fields), first and last name always present
    extra: dict  # origin (UTM, referrer) and the capture form
    tags: list[str]
    custom: dict


def prepare(data: dict, *, source: str | None = None, origin: dict | None = None, form_id: int | None = None,
            region: str | None = None, known: dict | None = None) -> Prepared:
    """capture_lead's reading of `data`, which a batch of captures (an import) shares: raises
    ServiceError naming the bad field. `known`: values the lead form's normalisers already returned
    for some fields (clean_fields' `known`), not checked again."""
    tags = clean_tags(data.get("tags"))
    cleaned = clean_fields({name: data.get(name) for name in EDITABLE_FIELDS if name in data}, region, known=known)
    custom = custom_fields.check_values(data["custom"], partial=True) if data.get("custom") else {}
    from app.services.erasure import refusal
    if (erased := refusal(cleaned.get("email"))) is not None:  # the person asked to be forgotten
        raise erased
    if not cleaned.get("country") and cleaned.get("phone"):
        cleaned["country"] = country_from_phone(cleaned["phone"])  # a phone's country, when none was given
    if source and not cleaned.get("source"):
        cleaned["source"] = source.strip()[:max_length("source")]
    for name in ("first_name", "last_name"):
        cleaned.setdefault(name, "")
    extra = clean_origin(origin)
    if form_id is not None:
        extra["capture_form_id"] = form_id
    return Prepared(cleaned, extra, tags, custom)


def capture_lead(data: dict, *, via: str, actor_id: int | None = None, stage_id: int | None = None,
                 owner_id: int | None = None, source: str | None = None, origin: dict | None = None,
                 form_id: int | None = None, on_duplicate: OnDuplicate = OnDuplicate.fill,
                 region: str | None = None, now: datetime | None = None, apply_rules: bool = True,
                 sla_clock: bool = True, consent_form=None, visible_to: int | None | object = ACTOR_SCOPE) -> Captured:
    """Capture one lead, or recognise it as one we have (identity.identify); one transaction, or a
    savepoint inside the caller's. A new lead without an owner goes where the assignment rules
    say (apply_rules=False: it stays in the pool), and its first-response clock starts (sla_clock=False:
    none, for leads a CSV import brings in from elsewhere).

    `data["custom"]`: custom field values by key (custom_fields.check_values; a new lead gets them,
    a known one has its empty ones filled, or all overwritten with on_duplicate=update).

    `data["tags"]` (as tags.clean_tags takes them) are put on the lead, new or recognised (unless
    on_duplicate is skip). `consent_form`: the capture form whose marketing consent box the person
    ticked (services/consent.py), recorded before any sequence looks at the lead. `visible_to`: the
    capturer's scope (permissions.visible_to; by default the actor's, and everything without an
    actor); a known lead outside it (a teammate's the capturer may not see) is left entirely as it
    is, no field filled and no timeline entry either, and the reply says so (hidden).
    Raises ServiceError naming the bad field; nothing is saved then."""
    ready = prepare(data, source=source, origin=origin, form_id=form_id, region=region)
    tags, cleaned, custom, extra = ready.tags, ready.cleaned, ready.custom, ready.extra
    now = now or utcnow()
    if visible_to is ACTOR_SCOPE:
        visible_to = permissions.visible_to(db.session.get(User, actor_id)) if actor_id is not None else None
    with atomic():
        if on_duplicate != OnDuplicate.keep:
            hold(cleaned)  # a capture of the same person at this moment commits first, and is found
        match = identify(cleaned) if on_duplicate != OnDuplicate.keep else None
        existing, matched_on = (match.lead, match.matched_on) if match else (None, None)
        if existing is not None and not permissions.sees(visible_to, existing.owner_id):
            # Not the capturer's to change, nor to leave a mark on: the caller says why (permissions.hidden_lead).
            return Captured(lead=existing, created=False, matched_on=matched_on, hidden=True)
        if existing is None:
            lead = insert_lead(cleaned, actor_id, stage_id=stage_id, owner_id=owner_id, via=via, extra=extra, now=now)
            if consent_form is not None:
                consent.given(lead, consent_form, now)
            values = custom_fields.write_new(lead.id, custom)
            lead_tags = tag_new_lead(lead.id, tags, actor_id, now) if tags else []
            # One set of facts for scoring and routing, from what was just written (a new lead has no events).
            facts = new_lead_facts(lead, now, tags=lead_tags, custom=values)
            rescore(lead, now, actor_id=actor_id, facts=facts)  # after the values and tags it may count
            routed = route(lead, now, actor_id, facts=refresh_score(facts, lead)) \
                if apply_rules and owner_id is None else None
            if routed is not None and rules_read("owner"):
                rescore(lead, now, actor_id=actor_id)  # a rule counts the owner routing just gave it
            if sla_clock:
                sla.start_clock(lead, now)  # after scoring and routing: a target may depend on the band
            if apply_rules:
                sequences.on_captured(lead, now)  # a form's or source's nurture sequence
            if owner_id is not None and via == "manual entry":  # a teammate picked as owner hears of it
                tell_new_owner(lead.owner, actor_id, [lead])
            return Captured(lead=lead, created=True, same_phone=match.same_phone if match else (), routed=routed,
                            tags=lead_tags, custom=values)
        changed = _apply_duplicate(existing, cleaned, extra, on_duplicate)
        if consent_form is not None:
            consent.given(existing, consent_form, now)
        custom_changed = {} if on_duplicate == OnDuplicate.skip else custom_fields.set_values(
            existing, custom, actor_id, now, fill_only=on_duplicate != OnDuplicate.update, record_entry=False,
            touch_lead=not changed)
        refused = _tag_if_room(existing.id, tags, actor_id, now) if on_duplicate != OnDuplicate.skip else None
        record(existing.id, "resubmitted", actor_id,
               {"via": via, "matched_on": matched_on, "changes": changed,
                "ignored": on_duplicate == OnDuplicate.skip, **({"custom": custom_changed} if custom_changed else {}),
                **({"tags_refused": refused} if refused else {})},
               now)
        if changed or custom_changed:  # a known lead's fields filled or overwritten by the new capture
            events.emit("lead.updated", lead_id=existing.id, now=now,
                        data={"changed": sorted(changed), "custom_fields_changed": bool(custom_changed)})
        rescore(existing, now, actor_id=actor_id)
        return Captured(lead=existing, created=False, matched_on=matched_on, changed=changed,
                        custom_changed=custom_changed)


class NewLeads:
    """New leads captured together (an import's batch), written set-based: what capture_lead writes
    for a new lead that identify has ruled out as anyone known (identity.Batch), with no tags or
    custom values (`takes`), no assignment rules or sequences to apply and no first-response clock
    (an import's default): one executemany of the leads with their ids back, one of their 'created'
    entries, scores from the rows in memory (scoring.score_new), search documents marked.

    `add` keeps a lead in memory; `write` inserts every lead added since the last write (call it
    before anything else reads or writes leads in the transaction: another capture, a lookup).
    Raises ServiceError as insert_lead does (the stage deleted, the owner deactivated)."""

    SET = {"id", "stage_id", "owner_id", "position", "version", "created_at", "updated_at", "stage_entered_at",
           "score", "score_reasons"}  # what add() sets itself

    def __init__(self, *, via: str, actor_id: int | None, stage_id: int | None, owner_id: int | None,
                 now: datetime):
        self.via, self.actor_id, self.now = via, actor_id, now
        self.stage = first_stage(stage_id)
        self.owner = active_user(owner_id) if owner_id is not None else None
        self.pending: list[SimpleNamespace] = []
        self._top: int | None = None
        # Every column but the id, empty: each row inserted names them all (one statement for the lot).
        self._blank = {column.key: None for column in Lead.__table__.columns if column.key not in self.SET}

    @staticmethod
    def takes(ready: Prepared) -> bool:
        return not ready.tags and not ready.custom

    def add(self, ready: Prepared) -> SimpleNamespace:
        """A new lead (a plain object with the lead's columns, its id set by `write`)."""
        # The first of a run goes on top of the stage, the next above it, as one capture after another would.
        self._top = top_position(self.stage.id) if self._top is None else self._top - POSITION_GAP
        now = self.now
        # A plain object with every column (as the ORM's would read): what closing and scoring read and
        # set, and the row inserted. An ORM object costs more to build than the rest of the row.
        lead = SimpleNamespace(**{**self._blank, **ready.cleaned, **ready.extra}, stage_id=self.stage.id,
                               owner_id=self.owner.id if self.owner else None, position=self._top, version=1,
                               created_at=now, updated_at=now, stage_entered_at=now, score=0, score_reasons=[])
        closing.apply(lead, self.stage, None, now, require_reason=False)
        note_reached(lead, self.stage)
        self.pending.append(lead)
        return lead

    def write(self) -> list:
        """Insert the leads added since the last write; returns them, their ids set."""
        leads, self.pending, self._top = self.pending, [], None
        if not leads:
            return []
        # Only the columns some row fills (the rest are empty for all): a statement as short as the rows.
        used = [key for key in leads[0].__dict__ if any(getattr(lead, key) is not None for lead in leads)]
        rows = [{key: getattr(lead, key) for key in used} for lead in leads]
        ids = insert_many(Lead.__table__, rows, ids=True)
        for lead, lead_id in zip(leads, ids):
            lead.id = lead_id
        created = {"via": self.via, "stage": self.stage.name, "owner": self.owner.name if self.owner else None}
        insert_many(TimelineEntry.__table__, [
            {"lead_id": lead_id, "kind": "created", "actor_id": self.actor_id, "data": created, "created_at": self.now}
            for lead_id in ids])
        search.changed(ids)
        score_new(leads, self.now, self.actor_id)
        events.emit_many("lead.created", ids, self.now, {"way": way_in(self.via)})  # set-based: one insert
        return leads


def _tag_if_room(lead_id: int, tags: list[str], actor_id: int | None, now: datetime) -> str | None:
    """Add a resubmission's tags; a lead with no room left for them is still captured, and the
    refusal (returned) goes on its timeline instead."""
    if not tags:
        return None
    try:
        add_tags(lead_id, tags, actor_id, now, score=False)  # the caller rescores after
    except ServiceError as exc:  # add_tags' savepoint has undone its part
        return exc.message
    return None


def _apply_duplicate(lead: Lead, cleaned: dict, extra: dict, mode: OnDuplicate) -> dict:
    if mode == OnDuplicate.skip:
        return {}
    changed = {}
    for name, value in {**cleaned, **extra}.items():
        current = getattr(lead, name)
        if value in (None, "") or current == value:
            continue
        if mode == OnDuplicate.update or current in (None, ""):
            changed[name] = [json_value(current), json_value(value)]
            setattr(lead, name, value)
    if changed:
        touch(lead)
    return changed


def require_fields(data: dict, required: list[str]) -> None:
    """Raise ServiceError for the first required field left empty."""
    for name in required:
        if not str(data.get(name) or "").strip():
            raise ServiceError(f"{FIELD_LABELS.get(name, name)} is required.", field=name)
