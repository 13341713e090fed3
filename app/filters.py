"""Jinja filters: how numbers, money and ages read to a person."""
from __future__ import annotations

import re

from functools import lru_cache
from datetime import date, datetime, timezone
from decimal import Decimal

from zoneinfo import ZoneInfo

import phonenumbers
from babel.numbers import format_currency
from flask import Flask, g, has_request_context
from flask_login import current_user

from app.services import scoring, sla
from app.services.activities import OUTCOMES
from app.services.sequences import SKIP_REASONS, STOP_REASONS
from app.services.custom_fields import active_fields, display
from app.services.leads import FIELD_LABELS, default_phone_region

from app.services.appointment_emails import describe_span, location_link
from app.services.countries import country_name, picker as country_picker
from app.services.tasks import local_time
from app.services.team_settings import identity, user_timezone, zone_name


def money(value, currency: str | None = None) -> str:
    """An amount in the team's currency (Team settings), with its symbol and decimals: "$1,200",
    "€1,200.50", "¥1,200"; whole amounts without decimals."""
    if value is None or value == "":
        return ""
    value = Decimal(value)
    code = currency or team_currency()
    if value == value.to_integral_value():
        return format_currency(value, code, format="¤#,##0", currency_digits=False, locale=MONEY_LOCALE)
    return format_currency(value, code, locale=MONEY_LOCALE)


MONEY_LOCALE = "en_US"  # the app's language; the currency decides the symbol and the decimals


def team_currency() -> str:
    """The team's currency, read once per request (or per transaction outside one)."""
    if has_request_context():
        if "team_currency" not in g:
            g.team_currency = identity().currency
        return g.team_currency
    return identity().currency


def phone(value) -> str:
    """A stored (E.164) phone number as a person dials it: in national format when it is in the
    team's country (DEFAULT_PHONE_REGION), "(415) 555-0123"; with its country code otherwise,
    "+44 20 7946 0958"; anything that does not parse, as stored."""
    if value is None or value == "":
        return ""
    return _phone_text(str(value), default_phone_region())


@lru_cache(maxsize=4096)
def _phone_text(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return text
    home = number.country_code == phonenumbers.country_code_for_region(region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL if home
                                      else phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def when(moment: datetime | None) -> str:
    """A stored (naive UTC) time in the reader's timezone: "03 Dec 2026, 09:00". Each page says once
    which zone its times are in (zone_name), so a page never mixes two."""
    if not moment:
        return ""
    local = moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(reader_timezone()))
    return local.strftime("%d %b %Y, %H:%M")


def appointment_when(data: dict, prefix: str = "") -> str:
    """An appointment's time as a timeline entry holds it, in the reader's zone (entries from
    before the instants were kept: as worded then, in the prospect's zone)."""
    starts, ends = data.get(f"{prefix}starts_at"), data.get(f"{prefix}ends_at")
    worded = data.get("before" if prefix else "when")
    try:
        return describe_span(datetime.fromisoformat(starts), datetime.fromisoformat(ends), reader_timezone())
    except (TypeError, ValueError):
        return worded or ""


def reader_timezone() -> str:
    """The signed-in person's timezone, else the team's."""
    signed_in = has_request_context() and current_user.is_authenticated
    return user_timezone(current_user if signed_in else None)


def age(then: datetime | None, now: datetime) -> str:
    """How long ago, briefly: <1m, 5m, 3h, 2d, 6w."""
    if then is None:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "<1m"




def due(moment: datetime | None) -> str:
    """A task's due time in the signed-in person's timezone ("Today 14:00"), read only where one shows,
    so pages without tasks pay nothing for the timezone."""
    return local_time(moment, user_timezone(current_user if current_user.is_authenticated else None))


def iso_due(text: str | None) -> str:
    """A due instant a timeline entry stored as ISO text, in the reader's timezone ("Tomorrow 09:00")."""
    try:
        return due(datetime.fromisoformat(text)) if text else ""
    except (TypeError, ValueError):
        return str(text)


def custom_value(value, kind: str = "") -> str:
    """A custom field's value as a person reads it (money with separators, Yes/No, options joined)."""
    if kind == "money" and value not in (None, ""):
        return money(value)
    return display(value)


def score_band(score: int | None) -> scoring.Band | None:
    """The band a score falls in (name and colour); the bands are read once per request."""
    if "score_bands" not in g:
        g.score_bands = scoring.bands()
    return scoring.band_of(score or 0, g.score_bands)


def score_reasons(reasons: list | None) -> str:
    """"+20 business email, −10 idle 14 days"."""
    return scoring.reasons_text(reasons)


def short_day(day: date | None, today: date | None = None) -> str:
    """'12 Dec', with the year when it is not this year's: '3 Jan 2027'."""
    if day is None:
        return ""
    today = today or datetime.now(timezone.utc).date()
    return f"{day.day} {day:%b}" + (f" {day.year}" if day.year != today.year else "")


ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def timeline_value(value, name: str = "") -> str:
    """A value as a timeline entry stored it (a day as ISO text, money as a decimal, older entries with
    thousands separators) as a person reads it: the lead's value as money, a day as "3 Dec" or
    "3 Dec 2025"; anything else as stored."""
    if value is None or value == "":
        return ""
    text = str(value)
    if name == "value":
        try:
            return money(text.replace(",", ""))
        except ArithmeticError:  # not a number after all: shown as stored
            return text
    if name == "phone":
        return phone(text)
    if ISO_DAY.fullmatch(text):
        try:
            return short_day(date.fromisoformat(text))
        except ValueError:
            return text
    return text


# Field names an "updated" entry shows by the lead form's label, where the column's name reads oddly.
CHANGE_LABELS = {"expected_close_on": FIELD_LABELS["expected_close_on"]}


def change_label(name: str) -> str:
    """A changed field as an "updated" entry names it: "Postal code", "Expected close date"."""
    return CHANGE_LABELS.get(name) or name.replace("_", " ").capitalize()


def timeline_custom(value, label: str) -> str:
    """A custom field's value as an "updated" entry stored it (keyed by the field's label then): a
    money field's as money in the team's currency, others as timeline_value reads them. A field
    renamed since shows its older entries as stored."""
    return timeline_value(value, "value" if label in money_field_labels() else "")


def money_field_labels() -> frozenset[str]:
    """The labels of the money custom fields, read once per request (the page has them already)."""
    if has_request_context() and "money_field_labels" in g:
        return g.money_field_labels
    labels = frozenset(f.label for f in active_fields() if f.kind == "money")
    if has_request_context():
        g.money_field_labels = labels
    return labels


sequence_reasons = {**STOP_REASONS, **SKIP_REASONS}


def file_size(size: int | None) -> str:
    """927 bytes, 14 KB, 3.2 MB (decimal units, as file managers show them)."""
    size = int(size or 0)
    if size < 1000:
        return f"{size} byte{'' if size == 1 else 's'}"
    for unit in ("KB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if size >= 10 else f"{size:.1f} {unit}"
    return ""


def register(app: Flask) -> None:
    app.add_template_filter(file_size)
    app.add_template_filter(score_band)
    app.add_template_filter(score_reasons)
    app.add_template_filter(money)
    app.add_template_filter(phone)
    app.add_template_filter(custom_value)
    app.add_template_filter(age)
    app.add_template_filter(when)
    app.add_template_filter(zone_name)
    app.add_template_global(reader_timezone)
    app.add_template_global(identity, "team_identity")
    app.add_template_filter(location_link)
    app.add_template_filter(appointment_when)
    app.add_template_filter(due)
    app.add_template_filter(country_name, "country")
    app.add_template_filter(short_day)
    app.add_template_filter(timeline_value)
    app.add_template_filter(change_label)
    app.add_template_filter(timeline_custom)
    app.add_template_filter(lambda outcome: OUTCOMES.get(outcome, outcome or ""), "call_outcome")
    app.add_template_filter(iso_due)
    app.add_template_filter(lambda reason: sequence_reasons.get(reason, reason or "no reason given"), "sequence_reason")
    app.add_template_global(country_picker, "country_picker")
    app.add_template_global(sla.badge, "sla_state")
    app.add_template_filter(lambda n: f"{n:,}", "thousands")
