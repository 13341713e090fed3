"""Reading API input strictly: the JSON body and the query string, checked against what the OpenAPI
document promises before any service sees them. Each bad field is named in a 422 problem; the
services then apply the domain rules (a deliverable-looking email, a possible phone number, an
appointment in the next two years)."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Callable

from flask import request

from app.api.problems import ApiProblem, invalid
from app.services.appointments import LOCATION_LIMIT, MAX_DURATION, NOTE_LIMIT

MAX_BODY = 64 * 1024  # a lead or an appointment is a few hundred bytes
MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL
MAX_VALUE = 999_999_999_999.99  # the largest NUMERIC(14, 2) value
LIMIT_DEFAULT, LIMIT_MAX = 50, 200

# Lead text fields and the longest value each accepts.
TEXT_LIMITS = {"first_name": 100, "last_name": 100, "email": 254, "phone": 40, "company": 200, "job_title": 200,
               "source": 100}
ORIGIN_LIMITS = {"utm_source": 100, "utm_medium": 100, "utm_campaign": 100}
READ_ONLY = {"id", "created_at", "updated_at"}


# A body field's checker: the value as accepted, or a message saying what is wrong with it.
Check = Callable[[object], tuple[object, "str | None"]]


def _text(limit: int) -> Check:
    def check(value):
        if value is None:
            return None, None
        if not isinstance(value, str):
            return None, "must be a string or null."
        return value, text_problem(value, limit)
    return check


def text_problem(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return f"must be at most {limit} characters."
    if "\x00" in value:
        return "must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (no lone surrogates)."
    return None


def _integer(value, nullable: bool):
    if value is None:
        return None, None if nullable else "must be an integer."
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None, "must be an integer or null." if nullable else "must be an integer."
    if not 1 <= value <= MAX_ID:
        return None, f"must be between 1 and {MAX_ID}."
    return value, None


def _id(nullable: bool) -> Check:
    return lambda value: _integer(value, nullable)


def _value(value):
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None, "must be a number (e.g. 2500 or 2500.5) or null."
    if not 0 <= value <= MAX_VALUE:
        return None, "must be at least 0 and at most 999999999999.99."
    return value, None


LEAD_FIELDS = {**{name: _text(limit) for name, limit in TEXT_LIMITS.items()}, "value": _value}
CREATE_FIELDS = {**LEAD_FIELDS, **{name: _text(limit) for name, limit in ORIGIN_LIMITS.items()},
                 "stage_id": _id(nullable=True), "owner_id": _id(nullable=True)}
UPDATE_FIELDS = {**LEAD_FIELDS, "stage_id": _id(nullable=False), "owner_id": _id(nullable=True)}


# --- appointments ---------------------------------------------------------------------------------

MIN_DURATION = 5  # as the appointments service requires
TIMEZONE_LIMIT = 64  # the longest IANA name is 32 characters; the column holds 64
LEAP_SECOND = re.compile(r"([T ]\d\d:\d\d):60")
# The shape is checked first: fromisoformat alone reads "14:00:00\x00Z" as 14:00:00Z.
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?", re.ASCII)
MOMENT_EXAMPLE = "e.g. 2026-12-08T14:00:00+01:00 or 2026-12-08T13:00:00Z"


def _moment(value):
    """An ISO 8601 date-time with a UTC offset, as an aware datetime in UTC."""
    wrong = f"must be an ISO 8601 date-time with a UTC offset, {MOMENT_EXAMPLE}."
    if not isinstance(value, str) or len(value) > 64:
        return None, wrong
    value = value.strip().upper()
    if not MOMENT.fullmatch(value):
        return None, wrong
    try:
        parsed = datetime.fromisoformat(LEAP_SECOND.sub(r"\1:59", value))
    except ValueError:  # the right shape, but no such day or hour
        return None, wrong
    if parsed.tzinfo is None:
        # A time without an offset means a different moment to every reader; we do not guess.
        return None, f"needs a UTC offset or Z, {MOMENT_EXAMPLE}."
    try:
        return parsed.astimezone(timezone.utc), None
    except OverflowError:  # within a day of year 1 or 9999: nowhere near the next two years
        return None, "must be a time within the next two years."


def _duration(value):
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None, "must be a whole number of minutes."
    if not MIN_DURATION <= value <= MAX_DURATION:
        return None, f"must be between {MIN_DURATION} and {MAX_DURATION} minutes."
    return value, None


APPOINTMENT_FIELDS = {"starts_at": _moment, "duration_minutes": _duration, "location": _text(LOCATION_LIMIT),
                      "note": _text(NOTE_LIMIT)}
BOOK_FIELDS = {**APPOINTMENT_FIELDS, "timezone": _text(TIMEZONE_LIMIT)}
RESCHEDULE_FIELDS = APPOINTMENT_FIELDS


def _reject_nan(constant: str):
    raise ValueError(f"{constant} is not a JSON number")


def json_body(fields: dict[str, Check], required: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """The request's JSON object checked field by field: (values, the object as sent).

    Raises ApiProblem: 415 not JSON, 413 too large, 400 malformed, 422 naming every bad, unknown or
    missing required field."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise ApiProblem(415, f"Send the body as JSON with 'Content-Type: application/json' "
                              f"(this request said {mimetype or 'nothing'}).")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiProblem(413, f"The body is larger than {MAX_BODY // 1024} KiB; no request needs that much.")
    raw = request.get_data(cache=True)  # request.max_content_length also stops a chunked upload at MAX_BODY
    if not raw.strip():
        raise ApiProblem(400, "The body is empty; send a JSON object.")
    try:
        data = json.loads(raw, parse_constant=_reject_nan)
    except (ValueError, RecursionError) as exc:
        raise ApiProblem(400, f"The body is not valid JSON ({str(exc)[:200]}).") from None
    if not isinstance(data, dict):
        raise invalid([{"field": "body", "message": "must be a JSON object, e.g. {\"email\": \"ada@example.com\"}."}])
    errors, values = [], {}
    for name, value in data.items():
        spec = fields.get(name)
        if spec is None:
            message = ("is read-only." if name in READ_ONLY
                       else f"Unknown field; this endpoint accepts {', '.join(fields)}.")
            errors.append({"field": _printable(name), "message": message})
            continue
        checked, problem = spec(value)
        if problem:
            errors.append({"field": name, "message": problem})
        else:
            values[name] = checked
    errors += [{"field": name, "message": "is required."} for name in required if name not in data]
    if errors:
        raise invalid(errors)
    return values, data


def _printable(name: str) -> str:
    return name.encode("utf-8", "backslashreplace").decode("utf-8")[:100]


# --- the query string -----------------------------------------------------------------------------

DIGITS = re.compile(r"^[0-9]{1,10}$")


class Query:
    """Reads the query string, collecting a message per bad parameter."""

    def __init__(self, accepted: set[str]):
        self.errors: list[dict] = []
        message = (f"Unknown query parameter (accepted: {', '.join(sorted(accepted))})." if accepted
                   else "Unknown query parameter (this operation takes none).")
        for name in request.args:
            if name not in accepted:
                self.errors.append({"field": _printable(name), "message": message})

    def _one(self, name: str) -> str | None:
        values = request.args.getlist(name)
        if len(values) > 1:
            self.errors.append({"field": name, "message": "Give this parameter once."})
            return None
        return values[0] if values else None

    def text(self, name: str, limit: int) -> str:
        value = self._one(name)
        if value is None:
            return ""
        problem = text_problem(value, limit)
        if problem:
            self.errors.append({"field": name, "message": problem})
            return ""
        return value

    def integer(self, name: str, low: int = 1, high: int = MAX_ID, default: int | None = None) -> int | None:
        value = self._one(name)
        if value is None:
            return default
        if not DIGITS.match(value) or not low <= int(value) <= high:
            self.errors.append({"field": name, "message": f"must be a whole number from {low} to {high}."})
            return default
        return int(value)

    def owner(self, name: str) -> str:
        value = self._one(name)
        if value is None:
            return ""
        if value == "none" or (DIGITS.match(value) and 1 <= int(value) <= MAX_ID):
            return str(int(value)) if value != "none" else value
        self.errors.append({"field": name, "message": "must be a user id, or none for leads in the shared pool."})
        return ""

    def timestamp(self, name: str) -> datetime | None:
        """An ISO 8601 date-time as naive UTC (no offset means UTC)."""
        value = self._one(name)
        if value is None:
            return None
        try:
            if len(value) > 64:
                raise ValueError
            parsed = datetime.fromisoformat(LEAP_SECOND.sub(r"\1:59", value.strip().upper()))
        except ValueError:
            self.errors.append({"field": name, "message": "must be an ISO 8601 date-time, e.g. 2024-05-01T09:30:00Z."})
            return None
        if parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # within a day of year 1 or 9999: as early or late as can be
            return datetime.min if parsed.year == 1 else datetime.max

    def check(self) -> None:
        if self.errors:
            raise invalid(self.errors)
