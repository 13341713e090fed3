"""The API's contract, defined once: every request body, query string and response is a pydantic
model here. The views read their input through these models (`read_body`, `read_query`) and
openapi.py builds the OpenAPI 3.1 document from the same models, so what the API checks and what
its document promises cannot drift apart.

A field that fails is named in a 422 problem with a message derived from its JSON Schema (the same
limits the document shows); the services then apply the domain rules (a deliverable-looking email,
a possible phone number, an appointment in the next two years)."""
import json
import re
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Annotated, Literal, Optional, Union

from flask import request
from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, StrictBool, StrictFloat, StrictInt,
    ValidationError, WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from app.api.problems import ApiProblem, invalid
from app.models import AppointmentStatus
from app.models.lead import max_length
from app.services.appointments import LOCATION_LIMIT, MAX_DURATION, NOTE_LIMIT
from app.services import ServiceError, activities as activity_rules, custom_fields as field_rules, tags as tag_rules
from app.services.leads import NOTE_LIMIT as NOTE_LIMIT_ACTIVITY
from app.services.leads import normalize_close_date

MAX_BODY = 64 * 1024  # a lead or an appointment is a few hundred bytes
MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL
MAX_VALUE = 999_999_999_999.99  # the largest NUMERIC(14, 2) value
LIMIT_DEFAULT, LIMIT_MAX = 50, 200
MIN_DURATION = 5  # as the appointments service requires
TIMEZONE_LIMIT = 64  # the longest IANA name is 32 characters; the column holds 64
NO_NUL = "^[^\\u0000]*$"  # PostgreSQL text cannot hold NUL, so no field accepts it
IDEMPOTENCY_KEY_LIMIT = 255
IDEMPOTENCY_KEY_PATTERN = r"[!-~](?:[ -~]*[!-~])?"  # printable ASCII, no space at either end
READ_ONLY = {"id", "created_at", "updated_at"}
INPUT = ConfigDict(extra="forbid")  # an unknown field is an error, never silently dropped
OUTPUT = ConfigDict(extra="forbid")  # the document promises exactly these keys, no more


# --- field types ----------------------------------------------------------------------------------


def _text_only(value):
    """Strings only, and only ones that can be stored: a lone surrogate is refused here, by name."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PydanticCustomError("unicode", "must be valid Unicode text (no lone surrogates).") from None
    return value


def Text(limit: int, description: str | None = None):  # noqa: N802 (a type, read as one)
    return Annotated[str, Field(strict=True, max_length=limit, pattern=NO_NUL, description=description),
                     BeforeValidator(_text_only)]


def _integral(value):
    """2.0 is the integer 2 in JSON; 2.5 is not an integer."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID), BeforeValidator(_integral)]
MONEY_TEXT = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?"  # 2500, 2500.50, 2,500.50: what the form takes
MONEY_TEXT_LIMIT = 32


def _money_text(value):
    """A deal value may come as a JSON number or, as the lead form takes it, a numeric string."""
    if not isinstance(value, str):
        return value
    if len(value) > MONEY_TEXT_LIMIT or not re.fullmatch(MONEY_TEXT, value):
        raise PydanticCustomError("money", 'must be a number, e.g. 2500.50, or a string of one, e.g. "2,500.50".')
    return float(value.replace(",", ""))


Money = Annotated[float, Field(strict=True, ge=0, le=MAX_VALUE), BeforeValidator(_money_text), WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": 0, "maximum": MAX_VALUE},
               {"type": "string", "pattern": f"^{MONEY_TEXT}$", "maxLength": MONEY_TEXT_LIMIT}]})]

LEAP_SECOND = re.compile(r"([T ]\d\d:\d\d):60")
# The shape is checked first: fromisoformat alone reads "14:00:00\x00Z" as 14:00:00Z.
MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?", re.ASCII)
MOMENT_EXAMPLE = "e.g. 2026-12-08T14:00:00+01:00 or 2026-12-08T13:00:00Z"


def _moment(value) -> datetime:
    """An ISO 8601 date-time with a UTC offset, as an aware datetime in UTC."""
    wrong = f"must be an ISO 8601 date-time with a UTC offset, {MOMENT_EXAMPLE}."
    if not isinstance(value, str) or len(value) > 64:
        raise PydanticCustomError("moment", wrong)
    value = value.strip().upper()
    if not MOMENT.fullmatch(value):
        raise PydanticCustomError("moment", wrong)
    try:
        parsed = datetime.fromisoformat(LEAP_SECOND.sub(r"\1:59", value))
    except ValueError:  # the right shape, but no such day or hour
        raise PydanticCustomError("moment", wrong) from None
    if parsed.tzinfo is None:
        # A time without an offset means a different moment to every reader; we do not guess.
        raise PydanticCustomError("moment", f"needs a UTC offset or Z, {MOMENT_EXAMPLE}.")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # within a day of year 1 or 9999: nowhere near the next two years
        raise PydanticCustomError("moment", "must be a time within the next two years.") from None


Moment = Annotated[datetime, PlainValidator(_moment),
                   WithJsonSchema({"type": "string", "format": "date-time", "maxLength": 64})]
Minutes = Annotated[int, Field(strict=True, ge=MIN_DURATION, le=MAX_DURATION), BeforeValidator(_integral)]


# --- query-string field types ---------------------------------------------------------------------

DIGITS = re.compile(r"^[0-9]{1,10}$")


def _digits(value):
    if isinstance(value, str) and DIGITS.match(value):
        return int(value)
    raise PydanticCustomError("int_type", "not a whole number")


QueryId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_digits)]
QueryLimit = Annotated[int, Field(ge=1, le=LIMIT_MAX), BeforeValidator(_digits)]


def _owner(value) -> str:
    if value == "none":
        return value
    if isinstance(value, str) and DIGITS.match(value) and 1 <= int(value) <= MAX_ID:
        return str(int(value))
    raise PydanticCustomError("owner", "must be a user id, or none for leads in the shared pool.")


Owner = Annotated[str, PlainValidator(_owner), WithJsonSchema(
    {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "string", "enum": ["none"]}]})]


def _since(value) -> datetime:
    """An ISO 8601 date-time as naive UTC (no offset means UTC)."""
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError
        parsed = datetime.fromisoformat(LEAP_SECOND.sub(r"\1:59", value.strip().upper()))
    except ValueError:
        raise PydanticCustomError("timestamp", "must be an ISO 8601 date-time, e.g. 2024-05-01T09:30:00Z.") from None
    if parsed.tzinfo is None:
        return parsed
    try:
        return parsed.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # within a day of year 1 or 9999: as early or late as can be
        return datetime.min if parsed.year == 1 else datetime.max


Since = Annotated[datetime, PlainValidator(_since), WithJsonSchema({"type": "string", "format": "date-time"})]


# --- leads ----------------------------------------------------------------------------------------

# No `format: email`: the server's check (email-validator) is the rule, and it answers 422.
EMAIL_IN = "An email address (checked, trimmed and lower-cased); empty or null for none."
PHONE_IN = "Any common notation; numbers without a country code are read as US. Stored in E.164."
WEBSITE_IN = ("A web address; without a scheme it reads as https (\"acme.com\" is stored as "
              "\"https://acme.com\"). Anything else is refused with a 422 naming website.")
COUNTRY_IN = ("An ISO 3166-1 country: a two- or three-letter code or an English name (\"de\", \"DEU\", "
              "\"Germany\"), stored as the two-letter code. On a new lead, if absent, the phone number's country.")


CLOSE_DATE_IN = ("The day the lead is expected to be won or lost, YYYY-MM-DD, between 2000-01-01 and "
                 "2100-12-31; null clears it. The forecast report counts the lead's value in that month.")


def _close_date(value):
    """The lead form's own rule (leads.normalize_close_date): text YYYY-MM-DD only, no timestamps."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():  # no "" for none: the document says null
        raise PydanticCustomError("date_type", "must be a date as text, YYYY-MM-DD, or null to clear it.")
    try:
        return normalize_close_date(value)
    except ServiceError as exc:
        raise PydanticCustomError("date", "{message}", {"message": exc.message}) from None


CloseDate = Annotated[Optional[date], PlainValidator(_close_date), WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}], "description": CLOSE_DATE_IN})]


# Custom fields are defined by admins at run time, so the document describes their shape and the
# service checks each value against its field's definition (a 422 naming custom_fields.<key>).
CUSTOM_KEY = Annotated[str, Field(max_length=field_rules.KEY_MAX, pattern=r"^[a-z][a-z0-9_]*$")]
CustomValueIn = Optional[Union[StrictBool, StrictInt, StrictFloat, Text(field_rules.LONG_TEXT_MAX),
                               Annotated[list[Text(field_rules.CHOICE_MAX)], Field(max_length=field_rules.MAX_CHOICES)]]]
CUSTOM_IN = ("Custom field values keyed by each field's key (admins define the fields; GET /custom-fields "
             "lists them): text, long_text, url and choice take a string; number and money a number; date a "
             "string YYYY-MM-DD; checkbox true or false; multi_choice a list of options. null clears a value. "
             "Only the keys sent change.")
CustomValuesIn = Annotated[dict[CUSTOM_KEY, CustomValueIn], Field(max_length=field_rules.MAX_FIELDS,
                                                                  description=CUSTOM_IN)]
CustomValueOut = Optional[Union[bool, int, float, str, list[str]]]


class _LeadFields(BaseModel):
    model_config = INPUT

    first_name: Optional[Text(max_length("first_name"))] = None
    last_name: Optional[Text(max_length("last_name"))] = None
    email: Optional[Text(max_length("email"), EMAIL_IN)] = None
    phone: Optional[Text(max_length("phone", typed=True), PHONE_IN)] = None
    company: Optional[Text(max_length("company"))] = None
    job_title: Optional[Text(max_length("job_title"))] = None
    source: Optional[Text(max_length("source"))] = None
    value: Optional[Money] = Field(None, description=(
        'Deal value, a number or a numeric string as the lead form takes it ("2500", "2,500.50"); rounded to cents.'))
    country: Optional[Text(max_length("country", typed=True), COUNTRY_IN)] = None
    region: Optional[Text(max_length("region"), "State, province or area, e.g. Bavaria.")] = None
    street: Optional[Text(max_length("street"), "Street and number; may hold several lines.")] = None
    city: Optional[Text(max_length("city"))] = None
    postal_code: Optional[Text(max_length("postal_code"), "Postal or ZIP code, as written.")] = None
    website: Optional[Text(max_length("website"), WEBSITE_IN)] = None
    description: Optional[Text(max_length("description"), "Free text about the lead; line breaks are kept.")] = None
    expected_close_on: CloseDate = None
    custom_fields: Optional[CustomValuesIn] = None


TAGS_IN = (f"Free labels; the same tag in any case is one tag. Each at most {tag_rules.MAX_LENGTH} characters of "
           f"letters, digits, spaces and {' '.join(tag_rules.PUNCTUATION)}; at most {tag_rules.MAX_PER_LEAD} "
           "per lead.")


def _tags(value) -> list[str]:
    """A list of tags, checked by the tag service's own rule (the one home of what a tag may be)."""
    if not isinstance(value, list):
        raise PydanticCustomError("tags", "must be a list of strings, e.g. [\"vip\", \"trade show\"].")
    # The document's limits hold as sent, before spaces are collapsed and repeats dropped.
    if len(value) > tag_rules.MAX_PER_LEAD:
        raise PydanticCustomError("tags", f"must list at most {tag_rules.MAX_PER_LEAD} tags.")
    if any(isinstance(item, str) and len(item) > tag_rules.MAX_LENGTH for item in value):
        raise PydanticCustomError("tags", f"Keep each tag to {tag_rules.MAX_LENGTH} characters.")
    try:
        return tag_rules.clean_tags(value)
    except ServiceError as exc:
        raise PydanticCustomError("tags", exc.message) from None


Tags = Annotated[list[str], PlainValidator(_tags), WithJsonSchema(
    {"type": "array", "maxItems": tag_rules.MAX_PER_LEAD,
     "items": {"type": "string", "maxLength": tag_rules.MAX_LENGTH}})]


class LeadCreate(_LeadFields):
    """Give at least one of first_name, last_name, company, email or phone: a business with no person is a lead."""

    utm_source: Optional[Text(max_length("utm_source"))] = None
    utm_medium: Optional[Text(max_length("utm_medium"))] = None
    utm_campaign: Optional[Text(max_length("utm_campaign"))] = None
    stage_id: Optional[Id] = Field(None, description="A stage from GET /stages; the first stage if absent. "
                                                     "Applies only when a new lead is created.")
    owner_id: Optional[Id] = Field(None, description="An active teammate's user id; if absent, the assignment "
                                                     "rules choose, or the lead waits in the shared pool. "
                                                     "Applies only when a new lead is created.")
    tags: Optional[Tags] = Field(None, description=TAGS_IN + " Added to the lead we already had, if any.")


class LeadUpdate(_LeadFields):
    """Only the fields sent change; each change is recorded on the lead's timeline."""

    stage_id: Id = Field(None, description="Moves the lead to the top of this stage. Moving it to a won or lost "
                                           "stage closes it (send `value` for the won value: at most two decimal "
                                           "places, more are refused); to an open stage "
                                           "reopens it.")
    closed_on: Optional[date] = Field(None, description="With a move to a won or lost stage: the day it was won "
                                                        "or lost, not later than today in the team's timezone "
                                                        "(default today).")
    lost_reason: Optional[Text(80)] = Field(None, description="With a move to a lost stage: a reason from the "
                                                              "team's list, by name; required if the team says so. "
                                                              "Refused with a move to a won stage.")
    lost_note: Optional[Text(500)] = Field(None, description="With a move to a lost stage: a note. Refused "
                                                               "with a move to a won stage.")
    owner_id: Optional[Id] = Field(None, description="null returns the lead to the pool.")
    tags: Optional[Tags] = Field(None, description=TAGS_IN + " Replaces the lead's tags; [] or null removes them all.")


ORIGIN_FIELDS = ("utm_source", "utm_medium", "utm_campaign")


class LeadListQuery(BaseModel):
    model_config = INPUT

    q: Text(200, "Matches name, email, company, city, website, or phone digits.") = ""
    stage_id: Optional[QueryId] = Field(None, description="Only leads in this stage.")
    owner_id: Owner = Field("", description="Only this teammate's leads, or `none` for the shared pool.")
    source: Text(max_length("source"), "Only leads with exactly this source.") = ""
    tag: Text(100, "Only leads with this tag (in any case).") = ""
    email: Text(max_length("email"), "Only leads with this email (case-insensitive).") = ""
    updated_since: Optional[Since] = Field(
        None, description="Only leads changed at or after this time (ISO 8601; no offset means UTC).")
    cursor: Text(500, "The `next_cursor` of the previous page.") = ""
    limit: QueryLimit = Field(LIMIT_DEFAULT, description="Leads per page.")


class NoQuery(BaseModel):
    """An operation that takes no query parameters."""

    model_config = INPUT


class ScoreReason(BaseModel):
    model_config = OUTPUT

    label: str = Field(description="The rule's reason, e.g. \"business email\".")
    points: int = Field(description="Points it adds (negative: takes away).")


class Lead(BaseModel):
    model_config = OUTPUT

    id: int
    first_name: str = Field(description="Empty string when unknown.")
    last_name: str = Field(description="Empty string when unknown.")
    email: Optional[str] = Field(description="Trimmed and lower-cased.")
    phone: Optional[str] = Field(description="E.164, e.g. +14155550123.")
    company: Optional[str]
    job_title: Optional[str]
    source: Optional[str] = Field(description="Where the lead came from; API-created leads default to \"API\".")
    value: Optional[Annotated[float, Field(ge=0)]] = Field(description="Deal value, at most two decimal places.")
    country: Optional[str] = Field(description="ISO 3166-1 alpha-2 code, e.g. DE.")
    region: Optional[str] = Field(description="State, province or area.")
    street: Optional[str] = Field(description="Street and number; may hold several lines.")
    city: Optional[str]
    postal_code: Optional[str] = Field(description="Postal or ZIP code, as written.")
    website: Optional[str] = Field(description="A web address with its scheme, e.g. https://acme.com.")
    description: Optional[str] = Field(description="Free text about the lead, line breaks kept.")
    expected_close_on: Optional[date] = Field(description="The day the lead is expected to be won or lost "
                                                          "(YYYY-MM-DD), for the forecast; null when not set.")
    stage_id: int
    owner_id: Optional[int] = Field(description="null: the lead is in the shared pool.")
    utm_source: Optional[str]
    utm_medium: Optional[str]
    utm_campaign: Optional[str]
    custom_fields: dict[str, CustomValueOut] = Field(description=(
        "Every custom field by key: null when empty (a checkbox false); money and number as numbers, "
        "date as YYYY-MM-DD, multi_choice as a list."))
    tags: list[str] = Field(description="The lead's tags in alphabetical order.")
    created_at: datetime
    updated_at: datetime
    score: int = Field(description="The sum of the scoring rules' points that hold for this lead now.")
    score_band: Optional[str] = Field(description="The name of the score band the score falls in (e.g. \"Hot\").")
    score_reasons: list[ScoreReason] = Field(description="Why: each rule that adds or takes points, in rule order.")
    closed_on: Optional[date] = Field(description="The day the lead was won or lost; null while it is open.")
    lost_reason: Optional[str] = Field(description="Why it was lost (a reason from the team's list), if it was.")
    lost_note: Optional[str] = Field(description="The note given when it was lost.")


class CapturedDuplicate(Lead):
    """The lead that already existed, and which field matched."""

    matched_on: Literal["email", "phone", "name and company", "company"]


class LeadList(BaseModel):
    model_config = OUTPUT

    data: list[Lead]
    next_cursor: Optional[str] = Field(description="Pass as `cursor` for the next page; null on the last page.")


class CustomFieldDefinition(BaseModel):
    model_config = OUTPUT

    key: str = Field(description="The name in custom_fields, CSV columns and filters.")
    label: str
    kind: Literal["text", "long_text", "number", "money", "date", "choice", "multi_choice", "checkbox", "url"]
    help_text: str
    required: bool = Field(description="Required on the lead form in the app; the API may leave it empty.")
    choices: list[str] = Field(description="The options of a choice or multi_choice field; empty otherwise.")


class CustomFieldList(BaseModel):
    model_config = OUTPUT

    data: list[CustomFieldDefinition]


class Stage(BaseModel):
    model_config = OUTPUT

    id: int
    name: str
    colour: Annotated[str, Field(pattern="^#[0-9a-f]{6}$")]
    kind: Literal["open", "won", "lost"] = Field(description="won and lost stages close a lead.")
    position: int = Field(description="Stages are listed in pipeline order.")


class StageList(BaseModel):
    model_config = OUTPUT

    data: list[Stage]


# --- appointments ---------------------------------------------------------------------------------

STARTS_AT = ("ISO 8601 with a UTC offset or Z, e.g. 2026-12-08T14:00:00+01:00. In the future and within "
             "two years.")


class AppointmentBook(BaseModel):
    model_config = INPUT

    starts_at: Moment = Field(description=STARTS_AT)
    duration_minutes: Minutes
    location: Optional[Text(LOCATION_LIMIT)] = Field(
        None, description="An address, phone number or video link. Empty or null for none.")
    note: Optional[Text(NOTE_LIMIT)] = Field(
        None, description="Shown to the prospect in the invitation. Empty or null for none.")
    timezone: Optional[Text(TIMEZONE_LIMIT)] = Field(
        None, description="The prospect's IANA timezone (e.g. Europe/Berlin), in which their emails show times; "
                          "the team's timezone if absent, null or empty.")


class AppointmentReschedule(BaseModel):
    """A new time; the prospect gets an updated invitation and is asked to confirm again."""

    model_config = INPUT

    starts_at: Moment = Field(description=STARTS_AT)
    duration_minutes: Minutes = Field(None, description="The current duration if absent.")
    location: Optional[Text(LOCATION_LIMIT)] = Field(
        None, description="An address, phone number or video link. Unchanged if absent; null or empty clears it.")
    note: Optional[Text(NOTE_LIMIT)] = Field(
        None, description="Shown to the prospect in the invitation. Unchanged if absent; null or empty clears it.")


class Appointment(BaseModel):
    model_config = OUTPUT

    id: int
    lead_id: int
    status: Literal[tuple(status.value for status in AppointmentStatus)] = Field(  # type: ignore[valid-type]
        description="awaiting the prospect's answer, confirmed, cancelled (by the team or the prospect), "
                    "or new_time_requested by the prospect.")
    starts_at: datetime
    ends_at: datetime = Field(description="starts_at plus duration_minutes.")
    duration_minutes: int
    location: str = Field(description="Empty string when not given.")
    note: str = Field(description="Shown to the prospect in the invitation; empty when not given.")
    timezone: str = Field(description="The prospect's IANA timezone: their emails show times in it.")
    sequence: Annotated[int, Field(ge=0)] = Field(
        description="The invitation's version: raised each time the prospect is sent a change.")
    prospect_message: Optional[str] = Field(description="What the prospect wrote when asking for another time.")
    responded_at: Optional[datetime] = Field(description="When the prospect last answered.")
    created_at: datetime
    updated_at: datetime


class AppointmentList(BaseModel):
    model_config = OUTPUT

    data: list[Appointment]


# --- tasks ----------------------------------------------------------------------------------------

TASK_KINDS = ("call", "email", "meeting", "todo")


class TaskCreate(BaseModel):
    model_config = INPUT

    title: Text(200, "What to do, e.g. “Call back about the quote”. Not blank.")
    kind: Literal[TASK_KINDS] = Field("todo", description="call, email, meeting or todo.")  # type: ignore[valid-type]
    due_at: Moment = Field(description="ISO 8601 with a UTC offset or Z, e.g. 2026-12-08T09:00:00+01:00. Between a "
                                       "year ago and five years ahead.")
    owner_id: Id = Field(None, description="The user who does it: the lead's owner if absent (then the lead must "
                                           "have one).")
    note: Optional[Text(2000)] = Field(None, description="Empty or null for none.")


class Task(BaseModel):
    model_config = OUTPUT

    id: int
    lead_id: int
    kind: Literal[TASK_KINDS]  # type: ignore[valid-type]
    title: str
    due_at: datetime
    owner_id: int
    note: str = Field(description="Empty string when not given.")
    done_at: Optional[datetime] = Field(description="When it was ticked done; null while open.")
    snoozed: Annotated[int, Field(ge=0)] = Field(description="How many times it was put off.")
    created_at: datetime


class TaskList(BaseModel):
    model_config = OUTPUT

    data: list[Task] = Field(description="The lead's open tasks, soonest due first (at most 200).")



# --- activities -----------------------------------------------------------------------------------


class ActivityLog(BaseModel):
    """A call, an email sent outside Leadboard, or a meeting that happened just now."""

    model_config = INPUT

    kind: Literal[tuple(activity_rules.KINDS)] = Field(  # type: ignore[valid-type]
        description="call, email (sent outside Leadboard) or meeting.")
    outcome: Optional[Literal[tuple(activity_rules.OUTCOMES)]] = Field(  # type: ignore[valid-type]
        None, description="Required for a call, absent or null otherwise.")
    duration_minutes: Optional[Annotated[int, Field(strict=True, ge=0, le=activity_rules.MAX_MINUTES),
                                         BeforeValidator(_integral)]] = Field(
        None, description="Whole minutes, at most a day; not for an email.")
    note: Optional[Text(NOTE_LIMIT_ACTIVITY)] = Field(None, description="Empty or null for none.")
    user_id: Optional[Id] = Field(
        None, description="The active teammate who made the call, sent the email or held the meeting. Their "
                          "touch counts as the lead's first response when they own it (or it is in the pool); "
                          "absent or null: nobody's, so it is on the timeline but is no touch.")


class Activity(BaseModel):
    model_config = OUTPUT

    id: int
    lead_id: int
    kind: Literal[tuple(activity_rules.KINDS)]  # type: ignore[valid-type]
    outcome: Optional[Literal[tuple(activity_rules.OUTCOMES)]]  # type: ignore[valid-type]
    duration_minutes: Optional[int]
    note: str = Field(description="Empty string when not given.")
    user_id: Optional[int] = Field(description="Who logged it; null when the API named nobody.")
    created_at: datetime


# --- problems -------------------------------------------------------------------------------------


class FieldError(BaseModel):
    model_config = OUTPUT

    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = OUTPUT

    type: str = Field(json_schema_extra={"format": "uri-reference"},
                      description="about:blank, or a urn:leadboard:problem:… naming the kind of problem.")
    title: str
    status: Annotated[int, Field(ge=400, le=599)]
    detail: str
    errors: list[FieldError] = Field(
        None, description="For invalid input: each bad field (a body field, query parameter or header).")


COMPONENTS = (Lead, CapturedDuplicate, LeadCreate, LeadUpdate, LeadList, CustomFieldDefinition, CustomFieldList,
              Stage, StageList, Appointment,
              AppointmentBook, AppointmentReschedule, AppointmentList, TaskCreate, Task, TaskList, ActivityLog,
              Activity, Problem)


# --- reading a request through a model ------------------------------------------------------------


def _reject_nan(constant: str):
    raise ValueError(f"{constant} is not a JSON number")


def read_json() -> dict:
    """The request's JSON object as sent. Raises ApiProblem: 415 not JSON, 413 too large, 400 malformed,
    422 not an object."""
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
    return data


def read_body(model: type[BaseModel]) -> BaseModel:
    """The JSON body checked against `model`; its model_fields_set says which fields were sent.
    Raises ApiProblem (see read_json), or a 422 naming every bad, unknown or missing field."""
    data = read_json()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        unknown = f"Unknown field; this endpoint accepts {', '.join(model.model_fields)}."
        raise invalid(field_errors(model, exc, unknown, in_query=False)) from None


def read_query(model: type[BaseModel]) -> BaseModel:
    """The query string checked against `model`; raises a 422 naming every bad or unknown parameter."""
    errors, values = [], {}
    for name in request.args:
        given = request.args.getlist(name)
        if len(given) > 1 and name in model.model_fields:
            errors.append({"field": name, "message": "Give this parameter once."})
        else:
            values[name] = given[0]
    accepted = sorted(model.model_fields)
    unknown = (f"Unknown query parameter (accepted: {', '.join(accepted)})." if accepted
               else "Unknown query parameter (this operation takes none).")
    try:
        parsed = model.model_validate(values)
    except ValidationError as exc:
        raise invalid(errors + field_errors(model, exc, unknown, in_query=True)) from None
    if errors:
        raise invalid(errors)
    return parsed


def field_errors(model: type[BaseModel], exc: ValidationError, unknown: str, *, in_query: bool) -> list[dict]:
    """One {"field", "message"} per bad field, worded from the field's JSON Schema."""
    errors, seen = [], set()
    for error in exc.errors(include_url=False, include_input=False):
        name = str(error["loc"][0]) if error["loc"] else "body"
        if name in seen:
            continue  # one message per field, the first that applies
        seen.add(name)
        if name == "custom_fields":
            name, message = _custom_error(error)
        elif error["type"] == "extra_forbidden":
            message = "is read-only." if name in READ_ONLY else unknown
            name = _printable(name)
        elif error["type"] == "missing":
            message = "is required."
        else:
            message = _message(error, _field_schema(model, name), in_query)
        errors.append({"field": name, "message": message})
    return errors


def _custom_error(error: dict) -> tuple[str, str]:
    """(field, message) for a custom_fields value of the wrong shape; the service checks the rest."""
    loc = error["loc"]
    if len(loc) == 1:
        return "custom_fields", (f"must be an object of at most {field_rules.MAX_FIELDS} custom field values "
                                 "keyed by each field's key, or null.")
    key = _printable(str(loc[1]))[:field_rules.KEY_MAX + 10]
    if "[key]" in loc:
        return "custom_fields", (f"“{key}” is not a custom field key: lower-case letters, digits and _, at most "
                                 f"{field_rules.KEY_MAX} characters (GET /custom-fields lists them).")
    return f"custom_fields.{key}", (
        f"must be a string (at most {field_rules.LONG_TEXT_MAX:,} characters, no NUL), a number, true or false, "
        f"a list of at most {field_rules.MAX_CHOICES} options (each at most {field_rules.CHOICE_MAX} "
        "characters), or null.")


def _message(error: dict, schema: dict, in_query: bool) -> str:
    kind, nullable = error["type"], schema.get("nullable", False)
    or_null = " or null" if nullable else ""
    if kind in ("unicode", "moment", "owner", "timestamp", "tags"):  # our own validators word their own messages
        return error["msg"]
    if kind == "string_too_long":
        return f"must be at most {schema['maxLength']} characters."
    if kind == "string_pattern_mismatch":
        return "must not contain NUL characters."
    if kind.startswith("string"):
        return f"must be a string{or_null}."
    low, high = schema.get("minimum"), schema.get("maximum")
    if schema.get("type") == "integer":
        if in_query:  # a query string has no types: everything arrives as text
            return f"must be a whole number from {low} to {high}."
        if kind.startswith(("greater", "less")):
            return f"must be between {low} and {high}."
        return f"must be an integer{or_null}."
    if schema.get("type") == "number":
        if kind.startswith(("greater", "less")):
            return f"must be at least {low:g} and at most {high:.2f}."
        return f"must be a number (e.g. 2500 or 2500.5){or_null}."
    return error["msg"]


@lru_cache(maxsize=None)
def _schemas(model: type[BaseModel]) -> dict:
    return model.model_json_schema()["properties"]


def _field_schema(model: type[BaseModel], name: str) -> dict:
    """The field's JSON Schema with null taken out (and noted), so limits are at the top level."""
    schema = dict(_schemas(model).get(name, {}))
    for option in schema.pop("anyOf", []):
        if option.get("type") == "null":
            schema["nullable"] = True
        else:
            schema.update(option)
    return schema


def _printable(name: str) -> str:
    return name.encode("utf-8", "backslashreplace").decode("utf-8")[:100]
