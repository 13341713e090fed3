"""Custom lead fields: admins define them at /settings/fields; every way in (the lead form, capture
forms, the API, CSV import) checks values here and writes them with set_values.

Values are stored typed (models/fields.py) and read back for many leads at once with values_for, so
a page of leads or cards costs one query for their custom values, never one per lead. Deleting a
field or removing a choice first copies each affected lead's value onto its timeline in one
INSERT ... SELECT, then deletes the values: the data stays readable on every lead, at any scale."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field as dc_field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from sqlalchemy import Text, and_, case, cast, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import CustomField, FieldKind, Lead, LeadFieldChoice, LeadFieldValue, TimelineEntry
from app.models.fields import KIND_LABELS, VALUE_COLUMN
from app.services import audit
from app.services import NotFound, ServiceError, atomic, search, settings_cache, transaction_memo, utcnow
from app.services import events
from app.services.timeline import record

MAX_FIELDS = 100
MAX_CHOICES = 50
CHOICE_MAX = 100
LABEL_MAX = 80
KEY_MAX = 40
HELP_MAX = 300
TEXT_MAX = 500
LONG_TEXT_MAX = 10_000
URL_MAX = 500
NUMBER_LIMIT = Decimal("1e15")  # NUMERIC(20, 4) holds 16 digits before the point
KEY = re.compile(r"^[a-z][a-z0-9_]*$")
CHOICE_KINDS = (FieldKind.choice.value, FieldKind.multi_choice.value)
# A custom field's key must never shadow a lead field or a name the API, CSV files and filters use.
RESERVED_KEYS = frozenset({c.name for c in Lead.__table__.columns} | {
    "name", "full_name", "stage", "owner", "tags", "tag", "score", "score_reasons", "band", "custom_fields",
    "custom", "notes", "note", "timeline", "appointments", "created", "updated", "q", "sort", "dir",
    "after", "before", "last", "cursor", "limit", "owner_id", "stage_id", "updated_since", "form", "deal_value",
})
TRUE_WORDS = {"1", "true", "yes", "y", "on", "x", "checked", "✓"}
FALSE_WORDS = {"0", "false", "no", "n", "off", ""}


class FieldNotFound(NotFound):
    def __init__(self):
        super().__init__("That field no longer exists. Reload the page to see the current fields.")


class ConfirmNeeded(ServiceError):
    """A change would move data off leads onto their timelines: the admin must say yes first."""

    status = 422

    def __init__(self, message: str, count: int, field: str):
        super().__init__(message, field=field)
        self.count = count


@dataclass
class FieldSettings:
    """What an admin decides about a field; `choices` is one option per line."""

    label: str
    key: str = ""
    kind: str = FieldKind.text.value
    help_text: str = ""
    required: bool = False
    show_on_card: bool = False
    choices: list[str] = dc_field(default_factory=list)


# --- reading definitions ----------------------------------------------------------------------


def active_fields() -> list[CustomField]:
    """Every defined field in the admins' order (read once per transaction: a capture checks, writes,
    scores and shows its values)."""
    return list(transaction_memo("custom_fields.active_fields", lambda: list(
        db.session.scalars(select(CustomField).order_by(CustomField.position, CustomField.id)))))


@dataclass(frozen=True)
class FieldDef:
    """A field's definition as plain data (what capture, scoring and values_for read), kept across
    transactions by services.settings_cache; active_fields() gives the models for editing."""

    id: int
    key: str
    label: str
    kind: str
    help_text: str
    required: bool
    show_on_card: bool
    choices: tuple[str, ...]
    position: int


def definitions() -> tuple[FieldDef, ...]:
    """Every defined field in the admins' order, as plain data: no query while the settings are unchanged."""
    return settings_cache("custom_fields.definitions", lambda: tuple(
        FieldDef(f.id, f.key, f.label, f.kind, f.help_text or "", bool(f.required), bool(f.show_on_card),
                 tuple(f.choices or ()), f.position) for f in active_fields()))


def fields_by_key() -> dict[str, CustomField]:
    return {f.key: f for f in active_fields()}


def get_field(field_id: int) -> CustomField:
    found = db.session.get(CustomField, field_id) if isinstance(field_id, int) else None
    if found is None:
        raise FieldNotFound()
    return found


def card_fields() -> list[CustomField]:
    """The fields admins chose to show on board cards."""
    return [f for f in active_fields() if f.show_on_card]


def form_custom_fields(capture_form) -> list[tuple[CustomField, bool]]:
    """The custom fields a capture form asks, in its order, each with whether it is required there
    (a field deleted since is left out)."""
    by_id = {f.id: f for f in active_fields()}
    return [(by_id[spec["field_id"]], bool(spec.get("required"))) for spec in capture_form.custom_fields or []
            if isinstance(spec, dict) and spec.get("field_id") in by_id]


def form_name(key: str) -> str:
    """The name a custom field has in HTML forms and in ServiceError.field: custom_<key>."""
    return f"custom_{key}"


# --- reading values ---------------------------------------------------------------------------

BATCH = 500


def _python(custom: CustomField, row: LeadFieldValue):
    kind = custom.kind
    if kind == FieldKind.long_text.value:
        return row.value_long
    if kind == FieldKind.date.value:
        return row.value_date
    if kind == FieldKind.checkbox.value:
        return None if row.value_number is None else bool(row.value_number)
    if kind == FieldKind.money.value:
        return None if row.value_number is None else Decimal(row.value_number).quantize(Decimal("0.01"))
    if kind == FieldKind.number.value:
        return None if row.value_number is None else _plain(Decimal(row.value_number))
    return row.value_text


def _plain(number: Decimal) -> Decimal:
    """12.5000 -> 12.5, 3.0000 -> 3 (never 3E+1)."""
    normal = number.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral() else normal


def values_for(lead_ids: list[int], fields: list[CustomField] | None = None) -> dict[int, dict[str, object]]:
    """{lead_id: {key: value}} for these leads (at most two queries per 500 leads, none without
    fields); a lead without values maps to {}. Values are str, Decimal, date, True, or a list of
    chosen options in the field's order. `fields`: the definitions, if the caller has them."""
    result: dict[int, dict[str, object]] = {lead_id: {} for lead_id in lead_ids}
    if not lead_ids:
        return result
    by_id = {f.id: f for f in (fields if fields is not None else definitions())}
    typed = any(f.kind != FieldKind.multi_choice.value for f in by_id.values())
    multi = any(f.kind == FieldKind.multi_choice.value for f in by_id.values())
    ids = sorted(set(lead_ids))
    for start in range(0, len(ids), BATCH) if by_id else ():
        chunk = ids[start:start + BATCH]
        rows = db.session.scalars(select(LeadFieldValue).where(LeadFieldValue.lead_id.in_(chunk))) if typed else ()
        for row in rows:
            custom = by_id.get(row.field_id)
            if custom is not None:
                value = _python(custom, row)
                if value is not None:
                    result[row.lead_id][custom.key] = value
        chosen: dict[tuple[int, int], set[str]] = {}
        rows = db.session.execute(select(LeadFieldChoice.lead_id, LeadFieldChoice.field_id, LeadFieldChoice.choice)
                                  .where(LeadFieldChoice.lead_id.in_(chunk))) if multi else ()
        for lead_id, field_id, choice in rows:
            chosen.setdefault((lead_id, field_id), set()).add(choice)
        for (lead_id, field_id), options in chosen.items():
            custom = by_id.get(field_id)
            if custom is not None:
                result[lead_id][custom.key] = _in_order(custom, options)
    return result


def _in_order(custom: CustomField, options) -> list[str]:
    order = {c: i for i, c in enumerate(custom.choices or [])}
    return sorted(options, key=lambda c: (order.get(c, len(order)), c))


def json_value(value):
    """A custom value as JSON holds it (the API, the timeline): dates as ISO text, numbers as text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def entry_value(value):
    """A custom value as a timeline entry keeps it: readable text (Yes/No, options joined), None for empty."""
    return display(value) or None if not isinstance(value, Decimal) else str(value)


def api_value(value):
    """A custom value for the JSON API: numbers as JSON numbers, dates as ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def display(value) -> str:
    """A custom value as a person reads it: Yes/No, lists joined, money with separators."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def csv_value(value) -> str:
    """A custom value in a CSV cell: options joined with "; " (the import splits on ; and ,)."""
    if isinstance(value, list):
        return "; ".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else json_value(value)


# --- checking values --------------------------------------------------------------------------


def _blank(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, (list, tuple)) and not raw)


def clean_value(custom: CustomField, raw):
    """One value as the field's kind stores it, or None for empty; raises ServiceError(field=custom_<key>)."""
    name, label, kind = form_name(custom.key), custom.label, custom.kind
    if kind == FieldKind.checkbox.value:
        # Ticked is a value; unticked is no value (a box left alone says no more than that).
        if isinstance(raw, bool) or raw is None:
            return True if raw else None
        word = str(raw).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return None
        raise ServiceError(f"{label}: answer yes or no.", field=name)
    if kind == FieldKind.multi_choice.value:
        if _blank(raw):
            return None
        if isinstance(raw, str):
            items = [part.strip() for part in re.split(r"[;,\n]", raw)]
        elif isinstance(raw, (list, tuple)):
            if not all(isinstance(item, str) for item in raw):
                raise ServiceError(f"{label}: give the options as text.", field=name)
            items = [item.strip() for item in raw]
        else:
            raise ServiceError(f"{label}: give a list of options.", field=name)
        picked = {_choice(custom, item) for item in items if item}
        return _in_order(custom, picked) or None
    if _blank(raw):
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal, date)):
        raise ServiceError(f"{label}: that kind of value does not fit this field.", field=name)
    if "\x00" in str(raw):
        raise ServiceError(f"{label} cannot contain a NUL character.", field=name)
    if kind in (FieldKind.number.value, FieldKind.money.value):
        return _number(custom, raw)
    if kind == FieldKind.date.value:
        return _date(custom, raw)
    if not isinstance(raw, str):
        raise ServiceError(f"{label}: give text.", field=name)
    text = raw.strip()
    if kind == FieldKind.choice.value:
        return _choice(custom, text)
    if kind == FieldKind.url.value:
        return _url(custom, text)
    limit = LONG_TEXT_MAX if kind == FieldKind.long_text.value else TEXT_MAX
    if len(text) > limit:
        raise ServiceError(f"{label} must be at most {limit:,} characters.", field=name)
    return text


def _choice(custom: CustomField, text: str) -> str:
    for option in custom.choices or []:
        if option.casefold() == text.strip().casefold():
            return option
    options = ", ".join(custom.choices or [])
    raise ServiceError(f"{custom.label}: “{text[:60]}” is not one of the options ({options}).",
                       field=form_name(custom.key))


def _number(custom: CustomField, raw) -> Decimal:
    money = custom.kind == FieldKind.money.value
    example = "2500 or 2500.50" if money else "42 or 3.5"
    try:
        number = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        raise ServiceError(f"{custom.label}: enter a number, e.g. {example}.", field=form_name(custom.key)) from None
    if not number.is_finite():
        raise ServiceError(f"{custom.label}: enter a number, e.g. {example}.", field=form_name(custom.key))
    if money and number < 0:
        raise ServiceError(f"{custom.label} cannot be negative.", field=form_name(custom.key))
    number = number.quantize(Decimal("0.01") if money else Decimal("0.0001")) if abs(number) < NUMBER_LIMIT else number
    if abs(number) >= NUMBER_LIMIT:
        raise ServiceError(f"{custom.label} is too large.", field=form_name(custom.key))
    return number if money else _plain(number)


def _date(custom: CustomField, raw) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    try:
        if not re.fullmatch(r"\d{4}-\d\d-\d\d", text, re.ASCII):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise ServiceError(f"{custom.label}: enter a date as YYYY-MM-DD, e.g. 2026-12-31.",
                           field=form_name(custom.key)) from None


def web_address(text: str) -> str | None:
    """The one rule for a web address (a url custom field, a lead's website): "acme.com" reads as
    "https://acme.com"; None when `text` is not an http(s) address with a host."""
    text = text.strip()
    if "://" not in text and "." in text and " " not in text:
        text = "https://" + text
    parts = urlsplit(text)
    # A user or password before the host ("mailto:ada@acme.com" read as https://) is not a site's address.
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc \
            or any(c.isspace() for c in text):
        return None
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return None
    return text


def _url(custom: CustomField, text: str) -> str:
    text = web_address(text)
    if text is None:
        raise ServiceError(f"{custom.label}: enter a web address, e.g. https://example.com.",
                           field=form_name(custom.key))
    if len(text) > URL_MAX:
        raise ServiceError(f"{custom.label} must be at most {URL_MAX} characters.", field=form_name(custom.key))
    return text


def check_values(raw: dict[str, object], *, partial: bool, required: bool = False,
                 fields: list[CustomField] | None = None) -> dict:
    """{key: value or None} checked against the definitions; raises ServiceError(field="custom_<key>").

    partial=True: only the keys given (an API PATCH, a capture); partial=False: every field, a
    missing one cleared (the lead form). required=True (the lead form) refuses an empty required field."""
    defined = {f.key: f for f in (fields if fields is not None else definitions())}
    for key in raw:
        if key not in defined:
            raise ServiceError(f"There is no custom field called “{str(key)[:40]}”.", field=form_name(str(key)[:40]))
    cleaned = {}
    for key, custom in defined.items():
        if partial and key not in raw:
            continue
        value = clean_value(custom, raw.get(key))
        if required and custom.required and value in (None, False):
            what = "Tick" if custom.kind == FieldKind.checkbox.value else "Fill in"
            raise ServiceError(f"{what} {custom.label}: it is required.", field=form_name(key))
        cleaned[key] = value
    return cleaned


# --- writing values ---------------------------------------------------------------------------


def set_values(lead: Lead, cleaned: dict, actor_id: int | None, now: datetime | None = None, *,
               fill_only: bool = False, record_entry: bool = True, touch_lead: bool = True) -> dict:
    """Write checked values (check_values) for one lead, joining the caller's atomic(); returns
    {label: [old, new]} of what changed, also recorded as one "updated" timeline entry unless
    record_entry=False (a caller adding the changes to its own entry).

    fill_only=True fills only the fields the lead has no value for (a resubmission);
    touch_lead=False leaves the lead's version to the caller (which raises it conditionally)."""
    from app.services.leads import touch  # leads imports this module: a top-level import would be circular

    if not cleaned:
        return {}
    fields = active_fields()
    defined = {f.key: f for f in fields}
    current = values_for([lead.id], fields)[lead.id]
    changes = {}
    with atomic():
        for key, value in cleaned.items():
            custom = defined.get(key)
            if custom is None:
                continue
            old = current.get(key)
            if value in (None, []) and custom.kind != FieldKind.checkbox.value:
                value = None
            if old == value or (fill_only and (old is not None or value is None)):
                continue
            _write(lead.id, custom, value)
            changes[custom.label] = [entry_value(old), entry_value(value)]
        if changes:
            if touch_lead:
                touch(lead)
            if record_entry:
                record(lead.id, "updated", actor_id, {"custom": changes}, now or utcnow())
                events.emit("lead.updated", lead_id=lead.id, data={"changed": [], "custom_fields_changed": True,
                                                                   "custom_changed": sorted(changes)}, now=now)
    return changes


def restore_values(lead: Lead, saved: dict) -> dict:
    """Put back values kept as JSON (a merge's snapshot, for its undo): the ones whose field still
    exists and still accepts them; the others are left out. Joins the caller's atomic()."""
    defined = fields_by_key()
    cleaned = {}
    for key, raw in saved.items():
        if key in defined:
            try:
                cleaned[key] = clean_value(defined[key], raw)
            except ServiceError:
                continue
    return set_values(lead, cleaned, None, record_entry=False, touch_lead=False)


def _write(lead_id: int, custom: CustomField, value) -> None:
    search.changed([lead_id])
    where = (LeadFieldValue.lead_id == lead_id, LeadFieldValue.field_id == custom.id)
    if custom.kind == FieldKind.multi_choice.value:
        db.session.execute(delete(LeadFieldChoice).where(LeadFieldChoice.lead_id == lead_id,
                                                         LeadFieldChoice.field_id == custom.id))
        for option in value or []:
            db.session.add(LeadFieldChoice(lead_id=lead_id, field_id=custom.id, choice=option))
        db.session.flush()
        return
    db.session.execute(delete(LeadFieldValue).where(*where))
    if value is None:
        return
    column = VALUE_COLUMN[custom.kind]
    stored = (Decimal(1) if value else Decimal(0)) if custom.kind == FieldKind.checkbox.value else value
    db.session.add(LeadFieldValue(lead_id=lead_id, field_id=custom.id, **{column: stored}))
    db.session.flush()


def write_new(lead_id: int, cleaned: dict) -> dict[str, object]:
    """Write checked values (check_values) of a lead made in this transaction, which has none yet:
    nothing is read or deleted, one insert per table (capture's path; set_values for a known lead).
    Returns {key: value} as values_for would read them back, so the caller need not ask again."""
    defined = {f.key: f for f in definitions()}
    rows, choices, read_back = [], [], {}
    for key, value in cleaned.items():
        custom = defined.get(key)
        if custom is None or value in (None, []):
            continue
        if custom.kind == FieldKind.multi_choice.value:
            choices += [{"lead_id": lead_id, "field_id": custom.id, "choice": option} for option in value]
            read_back[key] = _in_order(custom, set(value))
            continue
        column = VALUE_COLUMN[custom.kind]
        stored = (Decimal(1) if value else Decimal(0)) if custom.kind == FieldKind.checkbox.value else value
        row = {"lead_id": lead_id, "field_id": custom.id, "value_text": None, "value_long": None,
               "value_number": None, "value_date": None, column: stored}
        rows.append(row)
        read = _python(custom, LeadFieldValue(**row))
        if read is not None:
            read_back[key] = read
    search.changed([lead_id])
    if rows:  # every row names every column, so this is one statement however many values
        db.session.execute(LeadFieldValue.__table__.insert(), rows)
    if choices:
        db.session.execute(LeadFieldChoice.__table__.insert(), choices)
    return read_back


# --- admins defining fields -------------------------------------------------------------------


def key_from_label(label: str) -> str:
    """'Budget (EUR)' -> 'budget_eur'."""
    ascii_text = unicodedata.normalize("NFKD", label or "").encode("ascii", "ignore").decode()
    key = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:KEY_MAX].rstrip("_")
    if not key or not key[0].isalpha():
        key = ("field_" + key)[:KEY_MAX].rstrip("_")
    return key


def _check(settings: FieldSettings, existing: CustomField | None) -> dict:
    label = (settings.label or "").strip()
    if not label:
        raise ServiceError("Give the field a label.", field="label")
    if len(label) > LABEL_MAX:
        raise ServiceError(f"Keep the label under {LABEL_MAX} characters.", field="label")
    key = (settings.key or "").strip().lower() or key_from_label(label)
    if len(key) > KEY_MAX or not KEY.match(key):
        raise ServiceError(f"Use lower-case letters, digits and underscores, starting with a letter, at most "
                           f"{KEY_MAX} characters (e.g. budget_eur).", field="key")
    if key in RESERVED_KEYS:
        raise ServiceError(f"“{key}” is the name of a built-in lead field. Pick another key.", field="key")
    taken = select(CustomField.id).where(CustomField.key == key)
    if existing is not None:
        taken = taken.where(CustomField.id != existing.id)
    if db.session.scalar(taken.limit(1)) is not None:
        raise ServiceError(f"Another field already uses the key “{key}”. Pick another.", field="key")
    kind = existing.kind if existing is not None else settings.kind
    if kind not in KIND_LABELS:
        raise ServiceError("Pick what kind of field this is.", field="kind")
    help_text = (settings.help_text or "").strip()
    if len(help_text) > HELP_MAX:
        raise ServiceError(f"Keep the help text under {HELP_MAX} characters.", field="help_text")
    choices = []
    if kind in CHOICE_KINDS:
        seen = set()
        for option in settings.choices or []:
            option = option.strip()
            if not option:
                continue
            if len(option) > CHOICE_MAX:
                raise ServiceError(f"Keep each option under {CHOICE_MAX} characters (“{option[:30]}…” is longer).",
                                   field="choices")
            if ";" in option or "," in option:
                raise ServiceError(f"An option cannot contain a comma or semicolon (“{option[:40]}”): "
                                   "CSV files list several options with them.", field="choices")
            if option.casefold() in seen:
                raise ServiceError(f"“{option}” is listed twice.", field="choices")
            seen.add(option.casefold())
            choices.append(option)
        if not choices:
            raise ServiceError("List the options, one per line.", field="choices")
        if len(choices) > MAX_CHOICES:
            raise ServiceError(f"A field can offer at most {MAX_CHOICES} options; this list has {len(choices)}.",
                               field="choices")
    return {"label": label, "key": key, "kind": kind, "help_text": help_text, "required": bool(settings.required),
            "show_on_card": bool(settings.show_on_card), "choices": choices}


def create_field(settings: FieldSettings, actor_id: int | None = None) -> CustomField:
    """Add a field at the end; raises ServiceError naming the bad setting, or for the 101st field."""
    try:
        with atomic():
            count = db.session.scalar(select(func.count()).select_from(CustomField))
            if count >= MAX_FIELDS:
                raise ServiceError(f"Leadboard holds at most {MAX_FIELDS} custom fields. Delete one you no "
                                   "longer use first.", field="label")
            values = _check(settings, None)
            last = db.session.scalar(select(func.max(CustomField.position)))
            custom = CustomField(**values, position=(last if last is not None else -1) + 1, created_at=utcnow())
            db.session.add(custom)
            audit.record(actor_id, "field.added", f"Field {custom.label}")
    except IntegrityError:  # a simultaneous save took the key
        raise ServiceError("Another field already uses that key. Pick another.", field="key") from None
    return custom


def removed_choices(custom: CustomField, settings: FieldSettings) -> list[str]:
    """The options an edit would take away (compared case-insensitively)."""
    kept = {(o or "").strip().casefold() for o in settings.choices or []}
    return [o for o in custom.choices or [] if o.casefold() not in kept]


def leads_with_choices(custom: CustomField, options: list[str]) -> int:
    """How many leads hold any of these options in this field."""
    if not options or custom.kind not in CHOICE_KINDS:
        return 0
    if custom.kind == FieldKind.choice.value:
        query = select(func.count()).select_from(LeadFieldValue).where(
            LeadFieldValue.field_id == custom.id, LeadFieldValue.value_text.in_(options))
    else:
        query = select(func.count(func.distinct(LeadFieldChoice.lead_id))).where(
            LeadFieldChoice.field_id == custom.id, LeadFieldChoice.choice.in_(options))
    return db.session.scalar(query)


def leads_with_value(field_id: int) -> int:
    """How many leads hold a value in this field (what deleting it would move to their timelines)."""
    values = db.session.scalar(select(func.count()).select_from(LeadFieldValue)
                               .where(LeadFieldValue.field_id == field_id))
    chosen = db.session.scalar(select(func.count(func.distinct(LeadFieldChoice.lead_id)))
                               .where(LeadFieldChoice.field_id == field_id))
    return values + chosen


def update_field(field_id: int, settings: FieldSettings, actor_id: int | None, *,
                 confirm_removal: bool = False) -> CustomField:
    """Save an edit. Renaming (label or key) keeps every value; the kind never changes. Removing
    options that leads hold needs confirm_removal (else ConfirmNeeded): those values move to each
    lead's timeline. Raises FieldNotFound, ServiceError naming the bad setting."""
    try:
        with atomic():
            custom = get_field(field_id)
            values = _check(settings, custom)
            removed = removed_choices(custom, settings) if custom.kind in CHOICE_KINDS else []
            # A renamed option (same letters, other case) is a rename: update the values in place.
            renamed = {old: new for old in custom.choices or [] for new in values["choices"]
                       if old != new and old.casefold() == new.casefold()}
            if removed:
                count = leads_with_choices(custom, removed)
                if count and not confirm_removal:
                    raise ConfirmNeeded(
                        f"{count:,} lead{'s' if count != 1 else ''} hold{'s' if count == 1 else ''} "
                        f"{' or '.join('“%s”' % o for o in removed)}. Saving removes the option from them; "
                        "each lead's timeline keeps the value. Tick the box to confirm.", count, "confirm_removal")
                if count:
                    _archive_choices(custom, removed, actor_id)
            for old, new in renamed.items():
                _rename_choice(custom, old, new)
            rules_read_it = bool(removed or renamed)
            old_key = custom.key
            audit.record(actor_id, "field.changed", f"Field {custom.label}" + (
                f", now {values['label']}" if values.get("label", custom.label) != custom.label else ""))
            for name, value in values.items():
                setattr(custom, name, value)
            if custom.key != old_key:
                _follow_key(old_key, custom.key)
    except IntegrityError:
        raise ServiceError("Another field already uses that key. Pick another.", field="key") from None
    if rules_read_it:
        _rescore_everyone()
    return custom


def _follow_key(old: str, new: str) -> None:
    """A key renamed: everything stored that names the field by its key names the new one, in the
    rename's transaction. Scoring and assignment rules (bounded by their number), CSV imports'
    column mappings, held form submissions and undoable merges' snapshots (each read only where
    its JSON mentions the old key), and email templates (`lead.custom.<key>`). Capture forms name
    fields by id and need nothing."""
    from app.services import assignment, imports, scoring  # noqa: PLC0415 (they build on this module)
    from app.models import HeldSubmission, LeadImport, LeadMerge  # noqa: PLC0415
    from app.services.conditions import CUSTOM_PREFIX  # noqa: PLC0415
    scoring.rename_condition_field(CUSTOM_PREFIX + old, CUSTOM_PREFIX + new)
    assignment.rename_condition_field(CUSTOM_PREFIX + old, CUSTOM_PREFIX + new)
    from app.services.email_templates import rename_custom_key  # noqa: PLC0415 (templates read the fields)
    rename_custom_key(old, new)
    target_old, target_new = imports.CUSTOM_TARGET + old, imports.CUSTOM_TARGET + new
    for imp in _mentioning(LeadImport, LeadImport.mapping, target_old):
        imp.mapping = {column: target_new if target == target_old else target
                       for column, target in (imp.mapping or {}).items()}
    for held in _mentioning(HeldSubmission, HeldSubmission.values, old):
        held.values = {**held.values, "custom": _rekeyed(held.values.get("custom"), old, new)}
    for merge in _mentioning(LeadMerge, LeadMerge.loser_snapshot, old):
        merge.loser_snapshot = {**merge.loser_snapshot,
                                "custom_fields": _rekeyed(merge.loser_snapshot.get("custom_fields"), old, new)}
    for merge in _mentioning(LeadMerge, LeadMerge.survivor_before, old):
        merge.survivor_before = {**merge.survivor_before,
                                 "custom_fields": _rekeyed(merge.survivor_before.get("custom_fields"), old, new)}
    for merge in _mentioning(LeadMerge, LeadMerge.survivor_after, old):
        merge.survivor_after = {**merge.survivor_after,
                                "custom_fields": _rekeyed(merge.survivor_after.get("custom_fields"), old, new)}
    db.session.flush()


def _mentioning(model, column, text: str) -> list:
    """The rows whose JSON column holds `text` as a quoted string (a cheap filter in SQL; the caller
    rewrites exactly the key it means)."""
    like = '%"' + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
    return list(db.session.scalars(select(model).where(cast(column, Text).like(like, escape="\\"))))


def _rekeyed(values, old: str, new: str):
    """A {key: value} dict with `old` renamed `new` (anything else as it was)."""
    if not isinstance(values, dict):
        return values
    return {new if key == old else key: value for key, value in values.items()}


def _rescore_everyone() -> None:
    """Scores that counted a value now gone (or a key rules no longer name) are recomputed."""
    from app.services.scoring import rescore_everyone  # noqa: PLC0415 (scoring reads this module's values)
    rescore_everyone()


def _rename_choice(custom: CustomField, old: str, new: str) -> None:
    _holding_changed(custom)
    if custom.kind == FieldKind.choice.value:
        db.session.execute(update(LeadFieldValue).where(LeadFieldValue.field_id == custom.id,
                                                        LeadFieldValue.value_text == old).values(value_text=new))
    else:
        db.session.execute(update(LeadFieldChoice).where(LeadFieldChoice.field_id == custom.id,
                                                         LeadFieldChoice.choice == old).values(choice=new))


def _json_object(**pairs):
    """A JSON object built in SQL, per row (PostgreSQL json_build_object, SQLite json_object)."""
    args = []
    for name, value in pairs.items():
        args += [literal(name), value]
    if db.session.get_bind().dialect.name == "postgresql":
        return func.json_build_object(*args, type_=TimelineEntry.data.type)
    return func.json_object(*args, type_=TimelineEntry.data.type)


def _joined(column):
    """The rows' texts joined with ", " in SQL (string_agg / group_concat)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.string_agg(column, literal(", "))
    return func.group_concat(column, ", ")


def _archive(lead_id, value, where, custom: CustomField, reason: str, actor_id: int | None, *,
             grouped: bool = False) -> None:
    """One INSERT ... SELECT: a "field_removed" timeline entry per lead, holding its value."""
    data = _json_object(field=literal(custom.label), key=literal(custom.key), value=value, reason=literal(reason))
    query = select(lead_id, literal(actor_id), literal("field_removed"), data, literal(utcnow())).where(where)
    if grouped:
        query = query.group_by(lead_id)
    db.session.execute(insert(TimelineEntry).from_select(
        ["lead_id", "actor_id", "kind", "data", "created_at"], query))


def _value_text(custom: CustomField):
    """The stored value as readable text, in SQL."""
    kind = custom.kind
    if kind == FieldKind.checkbox.value:
        return case((LeadFieldValue.value_number == 0, literal("No")), else_=literal("Yes"))
    if kind in (FieldKind.number.value, FieldKind.money.value):
        if db.session.get_bind().dialect.name == "postgresql":
            return cast(func.trim_scale(LeadFieldValue.value_number), Text)
        return cast(LeadFieldValue.value_number, Text)
    if kind == FieldKind.date.value:
        return cast(LeadFieldValue.value_date, Text)
    if kind == FieldKind.long_text.value:
        return LeadFieldValue.value_long
    return LeadFieldValue.value_text


def _holding_changed(custom: CustomField) -> None:
    """Mark the leads holding a value of `custom` for search (before a statement changes them all)."""
    model = LeadFieldChoice if custom.kind == FieldKind.multi_choice.value else LeadFieldValue
    search.changed(db.session.scalars(select(model.lead_id).where(model.field_id == custom.id).distinct()))


def _archive_choices(custom: CustomField, options: list[str], actor_id: int | None) -> None:
    _holding_changed(custom)
    if custom.kind == FieldKind.choice.value:
        where = and_(LeadFieldValue.field_id == custom.id, LeadFieldValue.value_text.in_(options))
        _archive(LeadFieldValue.lead_id, LeadFieldValue.value_text, where, custom, "option removed", actor_id)
        db.session.execute(delete(LeadFieldValue).where(where))
        return
    where = and_(LeadFieldChoice.field_id == custom.id, LeadFieldChoice.choice.in_(options))
    _archive(LeadFieldChoice.lead_id, _joined(LeadFieldChoice.choice), where, custom, "option removed", actor_id,
             grouped=True)
    db.session.execute(delete(LeadFieldChoice).where(where))


def delete_field(field_id: int, actor_id: int | None) -> str:
    """Delete a field; every lead's value is first copied to its timeline (one statement), then
    the values go with the field. Returns the field's label; raises FieldNotFound."""
    with atomic():
        custom = get_field(field_id)
        label = custom.label
        _holding_changed(custom)
        if custom.kind == FieldKind.multi_choice.value:
            _archive(LeadFieldChoice.lead_id, _joined(LeadFieldChoice.choice), LeadFieldChoice.field_id == custom.id,
                     custom, "field deleted", actor_id, grouped=True)
            db.session.execute(delete(LeadFieldChoice).where(LeadFieldChoice.field_id == custom.id))
        else:
            _archive(LeadFieldValue.lead_id, _value_text(custom), LeadFieldValue.field_id == custom.id,
                     custom, "field deleted", actor_id)
            db.session.execute(delete(LeadFieldValue).where(LeadFieldValue.field_id == custom.id))
        audit.record(actor_id, "field.deleted", f"Field {label}")
        db.session.delete(custom)
    _rescore_everyone()
    return label


def shift(field_id: int, offset: int) -> list[CustomField]:
    """Move one field up (-1) or down (+1) in the order forms and pages show them."""
    with atomic():
        fields = active_fields()
        ids = [f.id for f in fields]
        if field_id not in ids:
            raise FieldNotFound()
        i = ids.index(field_id)
        j = max(0, min(len(ids) - 1, i + offset))
        fields[i], fields[j] = fields[j], fields[i]
        for position, custom in enumerate(fields):
            custom.position = position
    return active_fields()
