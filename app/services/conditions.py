"""Conditions on a lead, shared by scoring and assignment rules.

A condition is plain JSON, {"field": ..., "op": ..., "value": ...}, stored inside a rule:
- check(raw) validates what an admin typed and returns the normalised condition (or raises
  ServiceError naming condition_field, condition_op or condition_value);
- facts_for(leads, now) reads everything conditions can ask about, for a batch of leads, in a
  fixed number of queries (never one per lead);
- matches(cond, facts) / explain(cond, facts) / describe(cond) answer and say why;
- changes_at(cond, facts) says when the answer flips by the clock alone (idle, "within N days",
  a date), so the worker re-checks only those leads then.

Text comparisons ignore case and surrounding spaces. A condition whose field has since been
deleted (a custom field, a stage, a form) no longer passes check(): rules call broken(cond) and
skip it instead of failing a capture.

Fields come from three places: the lead's own columns (BUILTIN), events on its timeline and
appointments (EVENTS), and what admins add (custom fields "custom.<key>", tags). Another rule
engine may add fields: put a FieldSpec in BUILTIN and its fact in _base_facts."""
from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import func, select

from app.extensions import db
from app.models import Appointment, AppointmentStatus, CaptureForm, Lead, LostReason, Stage, TimelineEntry, User
from app.services import ServiceError, settings_cache
from app.services.countries import country_choices

MAX_TEXT = 200
MAX_LIST = 100
MAX_DAYS = 3650
MAX_NUMBER = Decimal("1000000000000")


# --- fields and operators ---------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    key: str  # what a condition stores in "field"
    label: str  # what people read ("Email")
    kind: str  # text | email | number | date | choice | tags | multi | checkbox | event | stage | idle
    choices: tuple[tuple[Any, str], ...] = ()  # (stored value, label) for choice / multi / stage fields


OPS: dict[str, str] = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "not_contains": "does not contain",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "in_list": "is one of",
    "not_in_list": "is none of",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "before": "is before",
    "after": "is after",
    "within_days": "is within the last N days",
    "older_than_days": "is more than N days ago",
    "is_free_mail": "is a free-mail address",
    "is_not_free_mail": "is a business address",
    "is_checked": "is ticked",
    "is_not_checked": "is not ticked",
    "happened": "happened",
    "not_happened": "never happened",
    "happened_within_days": "happened within the last N days",
    "reached": "reached",
    "not_reached": "not reached",
    "at_least_days": "for at least N days",
}

_TEXT_OPS = ("equals", "not_equals", "contains", "not_contains", "in_list", "not_in_list", "is_empty", "is_not_empty")
KIND_OPS: dict[str, tuple[str, ...]] = {
    "text": _TEXT_OPS,
    "email": ("is_free_mail", "is_not_free_mail") + _TEXT_OPS,
    "number": ("gt", "gte", "lt", "lte", "equals", "not_equals", "is_empty", "is_not_empty"),
    "date": ("within_days", "older_than_days", "before", "after", "is_empty", "is_not_empty"),
    "choice": ("equals", "not_equals", "in_list", "not_in_list", "is_empty", "is_not_empty"),
    "multi": ("contains", "not_contains", "in_list", "is_empty", "is_not_empty"),
    "tags": ("contains", "not_contains", "in_list", "is_empty", "is_not_empty"),
    "checkbox": ("is_checked", "is_not_checked"),
    "event": ("happened", "not_happened", "happened_within_days"),
    "stage": ("reached", "not_reached"),
    "idle": ("at_least_days",),
}
NO_VALUE = {"is_empty", "is_not_empty", "is_free_mail", "is_not_free_mail", "is_checked", "is_not_checked",
            "happened", "not_happened"}
DAY_OPS = {"within_days", "older_than_days", "happened_within_days", "at_least_days"}
LIST_OPS = {"in_list", "not_in_list"}
NUMBER_OPS = {"gt", "gte", "lt", "lte"}

BUILTIN: tuple[FieldSpec, ...] = (
    FieldSpec("email", "Email", "email"),
    FieldSpec("first_name", "First name", "text"),
    FieldSpec("last_name", "Last name", "text"),
    FieldSpec("phone", "Phone", "text"),
    FieldSpec("company", "Company", "text"),
    FieldSpec("job_title", "Job title", "text"),
    FieldSpec("source", "Source", "text"),
    FieldSpec("country", "Country", "choice"),
    FieldSpec("region", "Region", "text"),
    FieldSpec("value", "Deal value", "number"),
    FieldSpec("utm_source", "UTM source", "text"),
    FieldSpec("utm_medium", "UTM medium", "text"),
    FieldSpec("utm_campaign", "UTM campaign", "text"),
    FieldSpec("referrer", "Referring page", "text"),
    FieldSpec("created_at", "Captured", "date"),
    FieldSpec("owner", "Owner", "choice"),
    FieldSpec("form", "Capture form", "choice"),
    FieldSpec("stage", "Stage", "choice"),
    FieldSpec("lost_reason", "Lost reason", "choice"),
    FieldSpec("tags", "Tags", "tags"),
)
EVENTS: tuple[FieldSpec, ...] = (
    FieldSpec("event.submitted_again", "Submitted again", "event"),
    FieldSpec("event.appointment_booked", "Appointment booked", "event"),
    FieldSpec("event.appointment_confirmed", "Appointment confirmed", "event"),
    FieldSpec("event.appointment_cancelled", "Appointment cancelled", "event"),
    FieldSpec("event.stage_reached", "Stage reached", "stage"),
    FieldSpec("event.idle", "No activity", "idle"),
)
# Only assignment rules may ask for the score: a scoring rule that did would depend on its own result.
SCORE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("score", "Score", "number"),
    FieldSpec("score_band", "Score band", "choice"),
)
CUSTOM_PREFIX = "custom."
# A custom field's type (helper "fields") as a condition kind.
CUSTOM_KINDS = {"text": "text", "long_text": "text", "url": "text", "number": "number", "money": "number",
                "date": "date", "choice": "choice", "single_choice": "choice", "multi": "multi",
                "multiple_choice": "multi", "multi_choice": "multi", "checkbox": "checkbox"}


def custom_field_specs() -> list[FieldSpec]:
    """HOOK for custom fields (helper "fields", app/services/custom_fields.py): the fields that
    exist now, as condition fields "custom.<key>". Empty until that module is merged."""
    try:
        from app.services import custom_fields  # noqa: PLC0415 (optional until merged)
    except ImportError:
        return []
    specs = []
    for field in custom_fields.definitions():
        choices = tuple((c, c) for c in (getattr(field, "choices", None) or ()))
        specs.append(FieldSpec(CUSTOM_PREFIX + field.key, field.label, CUSTOM_KINDS.get(field.kind, "text"), choices))
    return specs


def custom_values_for(lead_ids: list[int]) -> dict[int, dict[str, Any]]:
    """HOOK: {lead_id: {key: value}} from custom_fields.values_for; empty until merged."""
    try:
        from app.services import custom_fields  # noqa: PLC0415
    except ImportError:
        return {}
    return custom_fields.values_for(lead_ids)


def tags_for(lead_ids: list[int]) -> dict[int, Iterable[str]]:
    """HOOK: {lead_id: tag names} from tags.tags_for (helper "tags"); empty until merged."""
    try:
        from app.services import tags  # noqa: PLC0415
    except ImportError:
        return {}
    return tags.tags_for(lead_ids)


def fields(*, with_score: bool = False) -> dict[str, FieldSpec]:
    """Every field a condition may name right now, by key (a few small queries: stages, forms, owners).

    with_score=True (assignment rules): the lead's score and score band too. Read once per
    transaction at most, and kept between transactions while the settings are unchanged
    (services.settings_cache): scoring and routing a capture both ask."""
    by_key = dict(settings_cache("conditions.fields", _read_fields))
    if with_score:
        from app.services.scoring import bands  # noqa: PLC0415 (scoring builds on this module)
        names = tuple((band.name, band.name) for band in bands())
        by_key["score"] = SCORE_FIELDS[0]
        by_key["score_band"] = FieldSpec("score_band", "Score band", "choice", names)
    return by_key


def _stage_rows() -> list[tuple[int, str, int]]:
    """(id, name, position) of every stage in order (services.settings_cache): the condition
    fields list them and facts compare their positions."""
    return settings_cache("conditions.stages", lambda: tuple(tuple(row) for row in db.session.execute(
        select(Stage.id, Stage.name, Stage.position).order_by(Stage.position, Stage.id))))


def _stage_positions() -> dict[int, int]:
    return {stage_id: position for stage_id, _, position in _stage_rows()}


def _read_fields() -> dict[str, FieldSpec]:
    stages = tuple((stage_id, name) for stage_id, name, _ in _stage_rows())
    # Plain rows, not models: a capture reads these once, and loading every form's settings and
    # every user as objects cost more than the rest of scoring.
    forms = tuple(tuple(row) for row in db.session.execute(
        select(CaptureForm.id, CaptureForm.name).order_by(CaptureForm.name).limit(500)))
    owners = tuple(tuple(row) for row in db.session.execute(select(User.id, User.name).order_by(User.name).limit(500)))
    reasons = tuple(tuple(row) for row in db.session.execute(
        select(LostReason.id, LostReason.name).order_by(LostReason.position, LostReason.id).limit(500)))
    by_key: dict[str, FieldSpec] = {}
    for spec in (*BUILTIN, *EVENTS, *custom_field_specs()):
        if spec.key in ("stage", "event.stage_reached"):
            spec = FieldSpec(spec.key, spec.label, spec.kind, stages)
        elif spec.key == "form":
            spec = FieldSpec(spec.key, spec.label, spec.kind, forms)
        elif spec.key == "owner":
            spec = FieldSpec(spec.key, spec.label, spec.kind, owners)
        elif spec.key == "lost_reason":  # archived reasons too: leads lost for them still carry them
            spec = FieldSpec(spec.key, spec.label, spec.kind, reasons)
        elif spec.key == "country":  # typed as a name or a code, stored as the code leads hold ("DE")
            spec = FieldSpec(spec.key, spec.label, spec.kind, tuple(country_choices()))
        by_key[spec.key] = spec
    return by_key


def field_choices(*, with_score: bool = False) -> list[tuple[str, str, str]]:
    """(value, label, kind) of every field, for an editor's field select: lead fields, then custom
    fields, then events (with_score: then score and band)."""
    specs = fields(with_score=with_score).values()
    return [(s.key, s.label, s.kind) for s in specs]


def op_choices() -> list[tuple[str, str]]:
    """(value, label) of every operator, for an editor's operator select."""
    return list(OPS.items())


def kind_ops() -> dict[str, list[str]]:
    """Which operators fit which kind of field (the editor narrows its operator select with it)."""
    return {kind: list(ops) for kind, ops in KIND_OPS.items()}


# --- checking what an admin typed -------------------------------------------------------------


def check(raw: dict, *, known: dict[str, FieldSpec] | None = None, with_score: bool = False) -> dict:
    """The condition normalised ({"field", "op", "value"}), or ServiceError naming condition_field,
    condition_op or condition_value with a message to show beside it. `known`: fields() if the
    caller already has it (checking many rules at once)."""
    known = fields(with_score=with_score) if known is None else known
    key = str((raw or {}).get("field") or "").strip()
    spec = known.get(key)
    if not key:
        raise ServiceError("Choose a field for the condition.", field="condition_field")
    if spec is None:
        if key.startswith(CUSTOM_PREFIX):
            raise ServiceError("That custom field was deleted; choose another field.", field="condition_field")
        raise ServiceError("Choose one of the listed fields.", field="condition_field")
    op = str(raw.get("op") or "").strip()
    if op not in KIND_OPS[spec.kind]:
        allowed = ", ".join(f"“{OPS[o]}”" for o in KIND_OPS[spec.kind])
        raise ServiceError(f"{spec.label} can be checked with: {allowed}.", field="condition_op")
    return {"field": key, "op": op, "value": _clean_value(spec, op, raw.get("value"))}


def _bad(message: str) -> ServiceError:
    return ServiceError(message, field="condition_value")


def _text(raw) -> str:
    text = str(raw if raw is not None else "").strip()
    if len(text) > MAX_TEXT:
        raise _bad(f"Keep the value under {MAX_TEXT} characters.")
    return text


def _clean_value(spec: FieldSpec, op: str, raw):
    if op in NO_VALUE:
        return None
    if op in DAY_OPS:
        days = _text(raw)
        if not (days.isascii() and days.isdigit()) or not 1 <= int(days) <= MAX_DAYS:
            raise _bad(f"Enter a number of days from 1 to {MAX_DAYS}.")
        return int(days)
    if spec.kind == "date":
        try:
            return date.fromisoformat(_text(raw)).isoformat()
        except ValueError:
            raise _bad("Enter a date as YYYY-MM-DD, e.g. 2026-01-31.") from None
    if spec.kind == "number":
        try:
            number = Decimal(_text(raw).replace(",", ""))
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite() or abs(number) >= MAX_NUMBER:
            raise _bad("Enter a number, e.g. 5000 or 12.5.")
        return str(number.normalize()) if number == number.to_integral() else str(number)
    if op in LIST_OPS:
        items = raw if isinstance(raw, (list, tuple)) else re.split(r"[,\n]", str(raw or ""))
        values = [_one_value(spec, item) for item in items if str(item).strip()]
        if not values:
            raise _bad("Enter at least one value, separated by commas.")
        if len(values) > MAX_LIST:
            raise _bad(f"Enter at most {MAX_LIST} values.")
        return list(dict.fromkeys(values))
    value = _one_value(spec, raw)
    if value in ("", None):
        raise _bad("Enter a value to compare with.")
    return value


_MISSING = object()


@lru_cache(maxsize=64)
def _by_text(choices: tuple[tuple[Any, str], ...]) -> dict[str, Any]:
    """A choice list's stored values by their label or value case-folded, the first in order
    winning: every capture checks its rules' countries against some 250 choices."""
    found: dict[str, Any] = {}
    for value, label in choices:
        found.setdefault(str(label).casefold(), value)
        found.setdefault(str(value).casefold(), value)
    return found


def _one_value(spec: FieldSpec, raw):
    """A choice field's value: its stored value (a stage, form or owner id, a choice text), found
    by id or by name as a person types it; a text field's value: the text."""
    if not spec.choices or spec.kind not in ("choice", "stage", "multi"):
        return _text(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        matches = [v for v, _ in spec.choices if v == raw]
    else:
        found = _by_text(spec.choices).get(_text(raw).casefold(), _MISSING)
        matches = [] if found is _MISSING else [found]
    if not matches:
        shown = ", ".join(label for _, label in spec.choices[:8])
        raise _bad(f"“{_text(raw)}” is not a {spec.label.lower()} here; choose one of: {shown}.")
    return matches[0]


def renamed(cond: dict | None, old: str, new: str) -> dict | None:
    """The stored condition naming field `new` instead of `old` (a custom field's key renamed), or
    None when it does not name `old`: the caller writes only the rules that change."""
    if isinstance(cond, dict) and cond.get("field") == old:
        return {**cond, "field": new}
    return None


def broken(cond: dict, known: dict[str, FieldSpec] | None = None) -> str | None:
    """Why a stored condition can no longer be used (its field or value was deleted), or None."""
    try:
        check(cond, known=known)
    except ServiceError as exc:
        return exc.message
    return None


# --- reading facts about leads ----------------------------------------------------------------


def facts_for(leads: list[Lead], now: datetime, needs: Iterable[str] | None = None) -> dict[int, dict]:
    """{lead id: facts} for a batch of leads in a fixed number of queries: their fields, tags,
    custom fields, appointment and timeline events, last activity, and the clock.

    `needs`: the condition fields the caller will ask about (None: all); facts nobody asks about
    are not read, so scoring with no event or custom-field rule costs no query here."""
    ids = [lead.id for lead in leads]
    if not ids:
        return {}
    needs = None if needs is None else set(needs)

    def wanted(*keys: str) -> bool:
        return needs is None or any(k in needs or (k.endswith(".") and any(n.startswith(k) for n in needs))
                                    for k in keys)

    positions = _stage_positions() if wanted("event.stage_reached") else {}
    resubmitted = dict(db.session.execute(
        select(TimelineEntry.lead_id, func.max(TimelineEntry.created_at))
        .where(TimelineEntry.lead_id.in_(ids), TimelineEntry.kind == "resubmitted")
        .group_by(TimelineEntry.lead_id)).all()) if wanted("event.submitted_again") else {}
    booked, confirmed, cancelled = {}, {}, {}
    if wanted("event.appointment_booked", "event.appointment_confirmed", "event.appointment_cancelled"):
        for lead_id, status, created, changed in db.session.execute(
                select(Appointment.lead_id, Appointment.status, func.min(Appointment.created_at),
                       func.max(func.coalesce(Appointment.responded_at, Appointment.updated_at)))
                .where(Appointment.lead_id.in_(ids)).group_by(Appointment.lead_id, Appointment.status)):
            booked[lead_id] = max(created, booked.get(lead_id, created))
            if status == AppointmentStatus.confirmed.value:
                confirmed[lead_id] = changed
            elif status == AppointmentStatus.cancelled.value:
                cancelled[lead_id] = changed
    custom = custom_values_for(ids) if wanted(CUSTOM_PREFIX) else {}
    tags = tags_for(ids) if wanted("tags") else {}
    if wanted("score_band"):
        from app.services.scoring import band_of, bands  # noqa: PLC0415 (scoring builds on this module)
        all_bands = bands()
    band = (lambda score: getattr(band_of(score, all_bands), "name", None)) if wanted("score_band") else None
    return {lead.id: _lead_facts(lead, now, positions, tags.get(lead.id, ()), custom.get(lead.id),
                                 resubmitted.get(lead.id), booked.get(lead.id), confirmed.get(lead.id),
                                 cancelled.get(lead.id), band)
            for lead in leads}


def new_lead_facts(lead: Lead, now: datetime, *, tags: Iterable[str], custom: dict,
                   needs: Iterable[str] | None = None) -> dict:
    """facts_for() of a lead made in this transaction, from what its capture holds: the tags and
    custom values it was just given (as values_for reads them) and no events yet, so no query
    but the stages (read once per transaction). The score and band are the lead's as they are
    now; after scoring it, refresh_score() updates them."""
    positions = _stage_positions() if needs is None or "event.stage_reached" in set(needs) else {}
    facts = _lead_facts(lead, now, positions, tags, custom, None, None, None, None, None)
    return refresh_score(facts, lead)


def refresh_score(facts: dict, lead: Lead) -> dict:
    """Bring a lead's facts up to its score after scoring changed it (the rest stays true)."""
    from app.services.scoring import band_of, bands  # noqa: PLC0415 (scoring builds on this module)
    facts["score"] = lead.score or 0
    facts["score_band"] = getattr(band_of(lead.score or 0, bands()), "name", None)
    return facts


def _lead_facts(lead: Lead, now: datetime, positions: dict, tags: Iterable[str], custom: dict | None,
                resubmitted, booked, confirmed, cancelled, band) -> dict:
    f = _base_facts(lead)
    f.update({
        "now": now,
        "stage_positions": positions,
        "tags": {str(t).casefold() for t in tags},
        "event.submitted_again": resubmitted,
        "event.appointment_booked": booked,
        "event.appointment_confirmed": confirmed,
        "event.appointment_cancelled": cancelled,
        "event.stage_reached": lead.stage_id,
        "event.idle": lead.updated_at,
        "score": lead.score or 0,
        "score_band": band(lead.score or 0) if band else None,
    })
    for key, value in (custom or {}).items():
        f[CUSTOM_PREFIX + key] = value
    return f


def _base_facts(lead: Lead) -> dict:
    return {
        "lead_id": lead.id,
        "email": lead.email, "first_name": lead.first_name, "last_name": lead.last_name, "phone": lead.phone,
        "company": lead.company, "job_title": lead.job_title, "source": lead.source, "value": lead.value,
        "utm_source": lead.utm_source, "utm_medium": lead.utm_medium, "utm_campaign": lead.utm_campaign,
        "referrer": lead.referrer, "created_at": lead.created_at, "owner": lead.owner_id,
        "form": lead.capture_form_id, "stage": lead.stage_id, "lost_reason": lead.lost_reason_id,
        "country": lead.country, "region": lead.region,
    }


# --- answering ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def free_mail_domains() -> frozenset[str]:
    """The free-mail domains (free-mail-domains.txt.gz, from the npm package free-email-domains;
    see FREE-MAIL-DOMAINS-LICENSE.txt)."""
    with gzip.open(Path(__file__).with_name("free-mail-domains.txt.gz"), "rt", encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip())


def is_free_mail(email: str | None) -> bool:
    domain = (email or "").rpartition("@")[2].strip().casefold()
    return bool(domain) and domain in free_mail_domains()


def _empty(value) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple, set, frozenset)) and not value)


def _fold(value) -> str:
    return str(value).strip().casefold()


def _as_set(value) -> set[str]:
    if _empty(value):
        return set()
    if isinstance(value, (list, tuple, set, frozenset)):
        return {_fold(v) for v in value}
    return {_fold(value)}


def _as_number(value) -> Decimal | None:
    if _empty(value) or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _as_datetime(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def matches(cond: dict, facts: dict) -> bool:
    """Whether the lead these facts describe meets the condition (facts from facts_for)."""
    op, value = cond["op"], cond.get("value")
    actual = facts.get(cond["field"])
    now: datetime = facts["now"]
    if op == "is_empty":
        return _empty(actual)
    if op == "is_not_empty":
        return not _empty(actual)
    if op in ("is_free_mail", "is_not_free_mail"):
        return not _empty(actual) and is_free_mail(actual) == (op == "is_free_mail")
    if op in ("is_checked", "is_not_checked"):
        return bool(actual) == (op == "is_checked")
    if op in ("happened", "not_happened"):
        return (actual is not None) == (op == "happened")
    if op in ("within_days", "happened_within_days", "older_than_days", "at_least_days"):
        when = _as_datetime(actual)
        if when is None:
            return False
        recent = when > now - timedelta(days=value)
        return recent if op in ("within_days", "happened_within_days") else not recent
    if op in ("reached", "not_reached"):
        positions = facts.get("stage_positions", {})
        here, target = positions.get(actual), positions.get(value)
        reached = here is not None and target is not None and here >= target
        return reached == (op == "reached")
    if op in ("before", "after"):
        when = _as_datetime(actual)
        limit = datetime.fromisoformat(value)
        return when is not None and (when < limit if op == "before" else when >= limit + timedelta(days=1))
    numeric = (isinstance(value, str) and _as_number(value) is not None
               and isinstance(actual, (int, float, Decimal)) and not isinstance(actual, bool))
    if op in NUMBER_OPS or (op in ("equals", "not_equals") and numeric):
        number, limit = _as_number(actual), Decimal(str(value))
        if number is None:
            return op == "not_equals"
        return {"gt": number > limit, "gte": number >= limit, "lt": number < limit, "lte": number <= limit,
                "equals": number == limit, "not_equals": number != limit}[op]
    have = _as_set(actual)
    if op == "equals":
        return have == {_fold(value)}
    if op == "not_equals":
        return have != {_fold(value)}
    if op in ("contains", "not_contains"):
        needle = _fold(value)
        found = needle in have if isinstance(actual, (list, tuple, set, frozenset)) else (
            not _empty(actual) and needle in _fold(actual))
        return found == (op == "contains")
    if op in LIST_OPS:
        hit = bool(have & {_fold(v) for v in value})
        return hit == (op == "in_list")
    return False


def changes_at(cond: dict, facts: dict) -> datetime | None:
    """When the answer of matches() will flip by the clock alone (after `now`), or None."""
    op, value = cond["op"], cond.get("value")
    if op not in DAY_OPS:
        return None
    now: datetime = facts["now"]
    when = _as_datetime(facts.get(cond["field"]))
    if when is not None:
        flip = when + timedelta(days=value)
        return flip if flip > now else None
    return None


def since(cond: dict, facts: dict) -> datetime | None:
    """When what the condition saw happened: the event's time, else the lead's last activity (what
    'points fade after N days' counts from)."""
    when = _as_datetime(facts.get(cond["field"])) if cond["field"].startswith("event.") else None
    if cond["field"] == "event.idle" or when is None:
        return _as_datetime(facts.get("event.idle"))
    return when


# --- saying it in words -------------------------------------------------------------------------


def _label(spec: FieldSpec | None, key: str) -> str:
    return spec.label if spec else key.removeprefix(CUSTOM_PREFIX).replace("_", " ").capitalize()


def _value_text(spec: FieldSpec | None, value) -> str:
    names = dict(spec.choices) if spec and spec.choices else {}
    if isinstance(value, (set, frozenset)):  # a lead's tags or choices, as facts hold them
        value = sorted(value, key=str)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(names.get(v, v)) for v in value)
    return str(names.get(value, value))


def describe(cond: dict, known: dict[str, FieldSpec] | None = None) -> str:
    """The condition in words: "Email is a free-mail address", "No activity for at least 14 days"."""
    known = fields() if known is None else known
    spec = known.get(cond.get("field"))
    label, op, value = _label(spec, cond.get("field", "")), cond.get("op"), cond.get("value")
    if op in NO_VALUE:
        return f"{label} {OPS.get(op, op)}"
    if op == "at_least_days":
        return f"{label} for at least {value} day{'s' if value != 1 else ''}"
    days = f"{value} day{'s' if value != 1 else ''}"
    if op == "within_days":
        return f"{label} is within the last {days}"
    if op == "happened_within_days":
        return f"{label} happened within the last {days}"
    if op == "older_than_days":
        return f"{label} is more than {days} ago"
    if op in ("reached", "not_reached"):
        return f"{'Reached' if op == 'reached' else 'Not yet reached'} stage “{_value_text(spec, value)}”"
    shown = _value_text(spec, value)
    if spec and spec.kind in ("text", "email", "choice", "multi", "tags") and op not in LIST_OPS:
        shown = f"“{shown}”"
    return f"{label} {OPS.get(op, op)} {shown}"


def value_text(cond: dict, known: dict[str, FieldSpec] | None = None) -> str:
    """A stored condition's value as a person types it back into the editor (names, not ids)."""
    value = cond.get("value")
    if value is None:
        return ""
    known = fields() if known is None else known
    return _value_text(known.get(cond.get("field")), value)


def _fact_text(value) -> str:
    if _empty(value):
        return "empty"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (set, frozenset, list, tuple)):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


def explain(cond: dict, facts: dict, known: dict[str, FieldSpec] | None = None) -> str:
    """Why the condition fires or not for this lead, in a sentence for the "try a lead" panel."""
    known = fields() if known is None else known
    problem = broken(cond, known)
    if problem:
        return f"Skipped: {problem}"
    spec = known.get(cond["field"])
    hit = matches(cond, facts)
    actual = facts.get(cond["field"])
    op = cond["op"]
    if op in ("is_free_mail", "is_not_free_mail"):
        domain = (actual or "").rpartition("@")[2] or "no email"
        seen = f"{domain} is {'on' if is_free_mail(actual) else 'not on'} the free-mail list"
    elif spec and spec.kind == "event":
        seen = f"last happened {_fact_text(actual)}" if actual else "it never happened"
    elif op == "at_least_days":
        seen = f"last activity {_fact_text(actual)}"
    elif op in ("reached", "not_reached"):
        seen = f"the lead is in “{_value_text(spec, actual)}”"
    else:
        seen = f"{_label(spec, cond['field'])} is {_value_text(spec, actual) if not _empty(actual) else 'empty'}"
        if isinstance(actual, datetime):
            seen = f"{_label(spec, cond['field'])} is {_fact_text(actual)}"
    return f"{'Fires' if hit else 'Does not fire'}: {seen}."
