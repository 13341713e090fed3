"""The OpenAPI 3.1 document for /api/v1, written by hand and served at /api/v1/openapi.json.

It must stay true: tests/integration/test_api_schema.py runs schemathesis against the app and
fails on any answer this document does not describe. Change the two together."""
from __future__ import annotations

from copy import deepcopy

from app.api.inputs import (
    LIMIT_DEFAULT, LIMIT_MAX, MAX_BODY, MAX_ID, MAX_VALUE, MIN_DURATION, ORIGIN_LIMITS, TEXT_LIMITS, TIMEZONE_LIMIT,
)
from app.models import AppointmentStatus
from app.services.appointments import LOCATION_LIMIT, MAX_DURATION, NOTE_LIMIT

IDEMPOTENCY_KEY_PATTERN = r"[!-~](?:[ -~]*[!-~])?"  # printable ASCII, no space at either end
NO_NUL = "^[^\\u0000]*$"  # PostgreSQL text cannot hold NUL, so no field accepts it

DESCRIPTION = f"""\
Push leads into Leadboard and read them out again, and book appointments with them.

**Authentication.** Every operation except this document needs an API key, sent as
`Authorization: Bearer <key>`. Admins create and revoke keys at `/settings/api-keys`; operators can run
`flask --app app create-api-key NAME`. A missing, mistyped or revoked key gets `401`.

**Rate limit.** Each key may make 600 requests a minute across all operations (the server's
`API_RATE_LIMIT` setting). Over the limit the answer is `429` with `Retry-After` (seconds);
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` come with every limited answer.

**Duplicates.** `POST /leads` for someone who is already a lead creates no twin: the same email
(trimmed and lower-cased); the same phone number (E.164) when at most one side has an email and the
names are alike; or, with neither email nor phone, the same name and company. It answers `200` with
the existing lead, a `matched_on` field and a `Leadboard-Duplicate` header saying what matched, records
"submitted again via the API" on the lead's timeline and fills in the lead's empty fields.
A new lead answers `201` with a `Location` header.

**Idempotency.** Send `Idempotency-Key: <unique string>` (a UUID is ideal) with `POST /leads` and
retry freely: for 24 hours a retry with the same key and the same body answers exactly as the first
request did (status and body, plus `Idempotent-Replayed: true`) without creating anything. The same key
with a different body is a `422`; a retry while the first request is still running is a `409`. Only
successful answers are remembered, so after a `4xx` you may correct the body and reuse the key.

**Pagination.** `GET /leads` returns leads oldest first, `limit` at a time (default {LIMIT_DEFAULT},
at most {LIMIT_MAX}). Pass the `next_cursor` of one page as `cursor` to get the next; it is `null` on
the last page. Keep the same filters while walking.

**Appointments.** `POST /leads/{{lead_id}}/appointments` books one and emails the prospect (if the lead
has an email address) an invitation with a calendar file (.ics) and links to confirm, cancel or ask for
another time. A lead earlier in the pipeline moves to the team's booking stage ("Appointment set").
`starts_at` must carry a UTC offset or `Z`, and lie in the future and within two years. `status` follows
the prospect: `awaiting` until they answer, then `confirmed`, `new_time_requested` (with their
`prospect_message`) or `cancelled`. Rescheduling (`PATCH /appointments/{{appointment_id}}`) sends an
updated invitation, raises `sequence` and sets the status back to `awaiting`; a cancelled appointment
cannot be rescheduled (`409`). `POST /appointments/{{appointment_id}}/cancel` sends a cancellation;
cancelling again changes nothing.

**Values.** `value` (the deal value) is a JSON number with at most two decimal places; more are
rounded to cents. Timestamps are ISO 8601 in UTC with a `Z`. Phones are stored in E.164 (`+14155550123`;
numbers without a country code are read as US numbers).

**Errors** are RFC 9457 problem details (`application/problem+json`). For bad input the status is `422`
and `errors` lists each bad field with a message. Unknown body fields and query parameters are errors
too, so typos never pass silently. Bodies must be JSON objects (`Content-Type: application/json`) of at
most {MAX_BODY // 1024} KiB.
"""


def _nullable(schema: dict) -> dict:
    schema = dict(schema)
    schema["type"] = [schema["type"], "null"]
    return schema


def _text(limit: int, description: str | None = None, **extra) -> dict:
    schema = {"type": "string", "maxLength": limit, "pattern": NO_NUL, **extra}
    if description:
        schema["description"] = description
    return schema


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

LEAD_DESCRIPTIONS = {
    "first_name": "Empty string when unknown.",
    "last_name": "Empty string when unknown.",
    "email": "Trimmed and lower-cased.",
    "phone": "E.164, e.g. +14155550123.",
    "source": "Where the lead came from; API-created leads default to \"API\".",
}

_LEAD_PROPERTIES = {
    "id": {"type": "integer"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "email": {"type": ["string", "null"]},
    "phone": {"type": ["string", "null"]},
    "company": {"type": ["string", "null"]},
    "job_title": {"type": ["string", "null"]},
    "source": {"type": ["string", "null"]},
    "value": {"type": ["number", "null"], "minimum": 0, "description": "Deal value, at most two decimal places."},
    "stage_id": {"type": "integer"},
    "owner_id": {"type": ["integer", "null"], "description": "null: the lead is in the shared pool."},
    "utm_source": {"type": ["string", "null"]},
    "utm_medium": {"type": ["string", "null"]},
    "utm_campaign": {"type": ["string", "null"]},
    "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"},
}
for _name, _description in LEAD_DESCRIPTIONS.items():
    _LEAD_PROPERTIES[_name]["description"] = _description


def _input_fields() -> dict:
    fields = {}
    for name, limit in TEXT_LIMITS.items():
        schema = _text(limit)
        if name == "email":
            # No `format: email`: the server's check (email-validator) is the rule, and it answers 422.
            schema["description"] = "An email address (checked, trimmed and lower-cased); empty or null for none."
        if name == "phone":
            schema["description"] = ("Any common notation; numbers without a country code are read as US. "
                                     "Stored in E.164.")
        fields[name] = _nullable(schema)
    fields["value"] = {"type": ["number", "null"], "minimum": 0, "maximum": MAX_VALUE,
                       "description": "Deal value; rounded to cents."}
    return fields


def _schemas() -> dict:
    create = _input_fields()
    create.update({name: _nullable(_text(limit)) for name, limit in ORIGIN_LIMITS.items()})
    create["stage_id"] = {**ID, "type": ["integer", "null"],
                          "description": "A stage from GET /stages; the first stage if absent. "
                                         "Applies only when a new lead is created."}
    create["owner_id"] = {**ID, "type": ["integer", "null"],
                          "description": "An active teammate's user id; the shared pool if absent. "
                                         "Applies only when a new lead is created."}
    update = _input_fields()
    update["stage_id"] = {**ID, "description": "Moves the lead to the top of this stage."}
    update["owner_id"] = {**ID, "type": ["integer", "null"], "description": "null returns the lead to the pool."}
    return {
        "Lead": {"type": "object", "required": list(_LEAD_PROPERTIES), "properties": deepcopy(_LEAD_PROPERTIES)},
        "CapturedDuplicate": {
            "description": "The lead that already existed, and which field matched.",
            "allOf": [{"$ref": "#/components/schemas/Lead"}],
            "type": "object",
            "required": ["matched_on"],
            "properties": {"matched_on": {"type": "string", "enum": ["email", "phone", "name and company"]}},
        },
        "LeadCreate": {
            "type": "object",
            "additionalProperties": False,
            "description": "Give at least one of first_name, last_name, email or phone.",
            "properties": create,
        },
        "LeadUpdate": {
            "type": "object",
            "additionalProperties": False,
            "description": "Only the fields sent change; each change is recorded on the lead's timeline.",
            "properties": update,
        },
        "LeadList": {
            "type": "object",
            "required": ["data", "next_cursor"],
            "properties": {
                "data": {"type": "array", "items": {"$ref": "#/components/schemas/Lead"}},
                "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; "
                                                                           "null on the last page."},
            },
        },
        "Stage": {
            "type": "object",
            "required": ["id", "name", "colour", "kind", "position"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "colour": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
                "kind": {"type": "string", "enum": ["open", "won", "lost"],
                         "description": "won and lost stages close a lead."},
                "position": {"type": "integer", "description": "Stages are listed in pipeline order."},
            },
        },
        "StageList": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Stage"}}},
        },
        **_appointment_schemas(),
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri-reference",
                         "description": "about:blank, or a urn:leadboard:problem:… naming the kind of problem."},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "errors": {
                    "type": "array",
                    "description": "For invalid input: each bad field (a body field, query parameter or header).",
                    "items": {"type": "object", "required": ["field", "message"],
                              "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
                },
            },
        },
    }


_APPOINTMENT_PROPERTIES = {
    "id": {"type": "integer"},
    "lead_id": {"type": "integer"},
    "status": {"type": "string", "enum": [status.value for status in AppointmentStatus],
               "description": "awaiting the prospect's answer, confirmed, cancelled (by the team or the prospect), "
                              "or new_time_requested by the prospect."},
    "starts_at": {"type": "string", "format": "date-time"},
    "ends_at": {"type": "string", "format": "date-time", "description": "starts_at plus duration_minutes."},
    "duration_minutes": {"type": "integer"},
    "location": {"type": "string", "description": "Empty string when not given."},
    "note": {"type": "string", "description": "Shown to the prospect in the invitation; empty when not given."},
    "timezone": {"type": "string", "description": "The prospect's IANA timezone: their emails show times in it."},
    "sequence": {"type": "integer", "minimum": 0,
                 "description": "The invitation's version: raised each time the prospect is sent a change."},
    "prospect_message": {"type": ["string", "null"],
                         "description": "What the prospect wrote when asking for another time."},
    "responded_at": {"type": ["string", "null"], "format": "date-time",
                     "description": "When the prospect last answered."},
    "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"},
}


def _appointment_inputs() -> dict:
    return {
        "starts_at": {"type": "string", "format": "date-time", "maxLength": 64,
                      "description": "ISO 8601 with a UTC offset or Z, e.g. 2026-12-08T14:00:00+01:00. In the "
                                     "future and within two years."},
        "duration_minutes": {"type": "integer", "minimum": MIN_DURATION, "maximum": MAX_DURATION},
        "location": _nullable(_text(LOCATION_LIMIT, "An address, phone number or video link.")),
        "note": _nullable(_text(NOTE_LIMIT, "Shown to the prospect in the invitation.")),
    }


def _appointment_schemas() -> dict:
    book = _appointment_inputs()
    for name in ("location", "note"):
        book[name]["description"] += " Empty or null for none."
    book["timezone"] = _nullable(_text(TIMEZONE_LIMIT, "The prospect's IANA timezone (e.g. Europe/Berlin), in "
                                                       "which their emails show times; the team's timezone if "
                                                       "absent, null or empty."))
    reschedule = _appointment_inputs()
    reschedule["duration_minutes"]["description"] = "The current duration if absent."
    for name in ("location", "note"):
        reschedule[name]["description"] += " Unchanged if absent; null or empty clears it."
    return {
        "Appointment": {"type": "object", "required": list(_APPOINTMENT_PROPERTIES),
                        "properties": deepcopy(_APPOINTMENT_PROPERTIES)},
        "AppointmentBook": {
            "type": "object",
            "additionalProperties": False,
            "required": ["starts_at", "duration_minutes"],
            "properties": book,
        },
        "AppointmentReschedule": {
            "type": "object",
            "additionalProperties": False,
            "required": ["starts_at"],
            "description": "A new time; the prospect gets an updated invitation and is asked to confirm again.",
            "properties": reschedule,
        },
        "AppointmentList": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Appointment"}}},
        },
    }


def _problem(description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if headers:
        response["headers"] = headers
    return response


RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}}
RATE_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests allowed per window for this key.", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in this window.", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "When the window resets (Unix time).", "schema": {"type": "integer"}},
}


def _responses() -> dict:
    return {
        "BadRequest": _problem("The body is empty or not valid JSON."),
        "Unauthorized": _problem("The API key is missing, mistyped or revoked.", {
            "WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                                 "description": "Bearer realm=\"Leadboard API\""}}),
        "NotFound": _problem("No lead has this id."),
        "AppointmentNotFound": _problem("No appointment has this id."),
        "PayloadTooLarge": _problem(f"The body is larger than {MAX_BODY // 1024} KiB."),
        "UnsupportedMediaType": _problem("The body is not sent as application/json."),
        "Invalid": _problem("A field, query parameter or header is invalid or unknown; `errors` names each one."),
        "TooManyRequests": _problem("This key made too many requests; wait `Retry-After` seconds.",
                                    {"Retry-After": RETRY_AFTER, **RATE_HEADERS}),
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/responses/{name}"}


def _json(schema: str, description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}
    if headers:
        response["headers"] = headers
    return response


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


CREATED_LINKS = {  # from a 201 (new lead) or a 200 (the lead we already had)
    "GetCreatedLead": {"operationId": "getLead", "parameters": {"lead_id": "$response.body#/id"}},
    "UpdateCreatedLead": {"operationId": "updateLead", "parameters": {"lead_id": "$response.body#/id"}},
}
LEAD_ID = {"name": "lead_id", "in": "path", "required": True, "schema": ID}
APPOINTMENT_ID = {"name": "appointment_id", "in": "path", "required": True, "schema": ID}
BOOKED_LINKS = {
    "GetBookedAppointment": {"operationId": "getAppointment",
                             "parameters": {"appointment_id": "$response.body#/id"}},
    "RescheduleBookedAppointment": {"operationId": "rescheduleAppointment",
                                    "parameters": {"appointment_id": "$response.body#/id"}},
    "CancelBookedAppointment": {"operationId": "cancelAppointment",
                                "parameters": {"appointment_id": "$response.body#/id"}},
}
JSON_BODY = "application/json"


def _paths() -> dict:
    replayed = {"Idempotent-Replayed": {"description": "Present (true) when this answer replays a first answer "
                                                       "for the same Idempotency-Key.",
                                        "schema": {"type": "string", "enum": ["true"]}}}
    return {
        "/openapi.json": {"get": {
            "operationId": "getOpenApiDocument",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
        "/leads": {
            "post": {
                "operationId": "createLead",
                "summary": "Capture a lead (or recognise one we already have)",
                "parameters": [{
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "Makes retries safe: the same key and body within 24 hours replays "
                                   "the first answer.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                               "pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$"},
                }],
                "requestBody": {"required": True, "content": {JSON_BODY: {
                    "schema": {"$ref": "#/components/schemas/LeadCreate"},
                    "example": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                                "company": "Analytical Engines", "source": "website", "value": 2500,
                                "utm_source": "newsletter", "utm_campaign": "spring"},
                }}},
                "responses": {
                    "201": {**_json("Lead", "A new lead was created.", {
                        "Location": {"required": True, "description": "The new lead's address.",
                                     "schema": {"type": "string"}}, **replayed}), "links": CREATED_LINKS},
                    "200": _json("CapturedDuplicate", "The person is already a lead: no twin was made. The existing "
                                 "lead's empty fields were filled in and the resubmission is on its timeline.", {
                                     "Leadboard-Duplicate": {"required": True, "description": "Which field matched.",
                                                             "schema": {"type": "string",
                                                                        "enum": ["email", "phone", "name and company"]}},
                                     **replayed}) | {"links": CREATED_LINKS},
                    "400": _ref("BadRequest"),
                    "401": _ref("Unauthorized"),
                    "409": _problem("A request with this Idempotency-Key is still being processed.",
                                    {"Retry-After": RETRY_AFTER}),
                    "413": _ref("PayloadTooLarge"),
                    "415": _ref("UnsupportedMediaType"),
                    "422": _ref("Invalid"),
                    "429": _ref("TooManyRequests"),
                },
            },
            "get": {
                "operationId": "listLeads",
                "summary": "List leads, oldest first, a page at a time",
                "parameters": [
                    _query("q", _text(200), "Matches name, email, company, or phone digits."),
                    _query("stage_id", ID, "Only leads in this stage."),
                    _query("owner_id", {"anyOf": [ID, {"type": "string", "enum": ["none"]}]},
                           "Only this teammate's leads, or `none` for the shared pool."),
                    _query("source", _text(100), "Only leads with exactly this source."),
                    _query("email", _text(254), "Only leads with this email (case-insensitive)."),
                    _query("updated_since", {"type": "string", "format": "date-time"},
                           "Only leads changed at or after this time (ISO 8601; no offset means UTC)."),
                    _query("cursor", _text(500), "The `next_cursor` of the previous page."),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT},
                           "Leads per page."),
                ],
                "responses": {
                    "200": _json("LeadList", "A page of leads."),
                    "401": _ref("Unauthorized"),
                    "422": _ref("Invalid"),
                    "429": _ref("TooManyRequests"),
                },
            },
        },
        "/leads/{lead_id}": {
            "parameters": [LEAD_ID],
            "get": {
                "operationId": "getLead",
                "summary": "Read one lead",
                "responses": {
                    "200": _json("Lead", "The lead."),
                    "401": _ref("Unauthorized"),
                    "404": _ref("NotFound"),
                    "429": _ref("TooManyRequests"),
                },
            },
            "patch": {
                "operationId": "updateLead",
                "summary": "Change some of a lead's fields, its stage or its owner",
                "requestBody": {"required": True, "content": {JSON_BODY: {
                    "schema": {"$ref": "#/components/schemas/LeadUpdate"},
                    "example": {"job_title": "CTO", "value": 4000, "stage_id": 2},
                }}},
                "responses": {
                    "200": _json("Lead", "The lead as it is now."),
                    "400": _ref("BadRequest"),
                    "401": _ref("Unauthorized"),
                    "404": _ref("NotFound"),
                    "409": _problem("Someone moved the lead at the same moment; fetch it and retry."),
                    "413": _ref("PayloadTooLarge"),
                    "415": _ref("UnsupportedMediaType"),
                    "422": _ref("Invalid"),
                    "429": _ref("TooManyRequests"),
                },
            },
        },
        **_appointment_paths(),
        "/stages": {"get": {
            "operationId": "listStages",
            "summary": "The pipeline's stages, in order",
            "responses": {
                "200": _json("StageList", "Every stage."),
                "401": _ref("Unauthorized"),
                "429": _ref("TooManyRequests"),
            },
        }},
    }


def _appointment_paths() -> dict:
    body_problems = {"400": _ref("BadRequest"), "401": _ref("Unauthorized"), "413": _ref("PayloadTooLarge"),
                     "415": _ref("UnsupportedMediaType"), "422": _ref("Invalid"), "429": _ref("TooManyRequests")}
    return {
        "/leads/{lead_id}/appointments": {
            "parameters": [LEAD_ID],
            "post": {
                "operationId": "bookAppointment",
                "summary": "Book an appointment with a lead and invite them",
                "requestBody": {"required": True, "content": {JSON_BODY: {
                    "schema": {"$ref": "#/components/schemas/AppointmentBook"},
                    "example": {"starts_at": "2026-12-08T14:00:00+01:00", "duration_minutes": 30,
                                "location": "https://meet.example.com/ada", "note": "A demo of the reports.",
                                "timezone": "Europe/Berlin"},
                }}},
                "responses": {
                    "201": {**_json("Appointment", "The appointment was booked and the prospect invited.", {
                        "Location": {"required": True, "description": "The new appointment's address.",
                                     "schema": {"type": "string"}}}), "links": BOOKED_LINKS},
                    "404": _ref("NotFound"),
                    **body_problems,
                },
            },
            "get": {
                "operationId": "listAppointments",
                "summary": "A lead's appointments, cancelled ones included, latest start first",
                "responses": {
                    "200": _json("AppointmentList", "Every appointment of the lead."),
                    "401": _ref("Unauthorized"),
                    "404": _ref("NotFound"),
                    "422": _ref("Invalid"),
                    "429": _ref("TooManyRequests"),
                },
            },
        },
        "/appointments/{appointment_id}": {
            "parameters": [APPOINTMENT_ID],
            "get": {
                "operationId": "getAppointment",
                "summary": "Read one appointment",
                "responses": {
                    "200": _json("Appointment", "The appointment."),
                    "401": _ref("Unauthorized"),
                    "404": _ref("AppointmentNotFound"),
                    "429": _ref("TooManyRequests"),
                },
            },
            "patch": {
                "operationId": "rescheduleAppointment",
                "summary": "Move an appointment to another time and send the prospect an updated invitation",
                "requestBody": {"required": True, "content": {JSON_BODY: {
                    "schema": {"$ref": "#/components/schemas/AppointmentReschedule"},
                    "example": {"starts_at": "2026-12-09T10:00:00+01:00", "duration_minutes": 45},
                }}},
                "responses": {
                    "200": _json("Appointment", "The appointment as it is now, awaiting the prospect's answer."),
                    "404": _ref("AppointmentNotFound"),
                    "409": _problem("The appointment was cancelled, so it can no longer be changed."),
                    **body_problems,
                },
            },
        },
        "/appointments/{appointment_id}/cancel": {
            "parameters": [APPOINTMENT_ID],
            "post": {
                "operationId": "cancelAppointment",
                "summary": "Cancel an appointment and tell the prospect",
                "responses": {
                    "200": _json("Appointment", "The cancelled appointment. Cancelling again changes nothing."),
                    "401": _ref("Unauthorized"),
                    "404": _ref("AppointmentNotFound"),
                    "429": _ref("TooManyRequests"),
                },
            },
        },
    }


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Leadboard API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "An API key from /settings/api-keys."}},
            "schemas": _schemas(),
            "responses": _responses(),
        },
    }
