"""The OpenAPI 3.1 document for /api/v1, generated from the same definitions the API runs on.

Each view is registered with `operation(...)`, which routes it on the blueprint, reads its query
string and body through the pydantic models in contract.py, applies the per-key rate limit, and
records what it answers. `document()` turns those records and the models' JSON Schemas into the
document served at /api/v1/openapi.json. tests/integration/test_api_schema.py runs schemathesis
against it on both databases, so an answer it does not describe fails a test."""
import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Callable

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.api import bp
from app.api.auth import rate_limited
from app.api.contract import (
    COMPONENTS, IDEMPOTENCY_KEY_LIMIT, IDEMPOTENCY_KEY_PATTERN, LIMIT_DEFAULT, LIMIT_MAX, MAX_BODY, MAX_ID,
    read_body, read_query,
)

DESCRIPTION = f"""\
Push leads into Leadboard and read them out again, and book appointments with them.

**Authentication.** Every operation except this document needs an API key, sent as
`Authorization: Bearer <key>`. Admins create and revoke keys at `/settings/api-keys`; operators can run
`flask --app app create-api-key NAME`. A missing, mistyped or revoked key gets `401`.

**Roles and scope.** A key has a role. An `admin` key may do everything (while the admin who made it
still is one). A `member` key follows what the team lets members do: if members see only their own
leads and the shared pool, the key sees only its creator's and the pool's; reassigning another
person's lead needs the team's permission. A read-only key may read but answers `403` to any write.
Each refusal is a `403` whose `detail` says what is not allowed and who can change it.

**Rate limit.** Each key may make 600 requests a minute across all operations (the server's
`API_RATE_LIMIT` setting). Over the limit the answer is `429` with `Retry-After` (seconds);
`X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` come with every limited answer.

**Duplicates.** `POST /leads` for someone who is already a lead creates no twin: the same email
(trimmed and lower-cased); the same phone number (E.164) when at most one side has an email and the
names are alike; or, with neither email nor phone, the same name and company; or, for a business with
no person (a company and no name, email or phone), the same company name in any case. It answers `200` with
the existing lead, a `matched_on` field and a `Leadboard-Duplicate` header saying what matched, records
"submitted again via the API" on the lead's timeline and fills in the lead's empty fields. A member-role
key that may see only its creator's leads and the pool gets a `403` instead when the lead is a teammate's:
that lead is left as it is, and the answer does not show it.
A new lead answers `201` with a `Location` header.

**Idempotency.** Send `Idempotency-Key: <unique string>` (a UUID is ideal) with `POST /leads` or
`POST /leads/{{lead_id}}/appointments` and retry freely: for 24 hours a retry with the same key, the
same operation and the same body answers exactly as the first request did (status and body, plus
`Idempotent-Replayed: true`) without creating anything. The same key with a different body or on
another operation is a `422`; a retry while the first request is still running is a `409`. Only
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
rounded to cents, except for the won value sent with a move to a won stage, where more are refused.
Timestamps are ISO 8601 in UTC with a `Z`. Phones are stored in E.164 (`+14155550123`;
numbers without a country code are read as US numbers).

**Errors** are RFC 9457 problem details (`application/problem+json`). For bad input the status is `422`
and `errors` lists each bad field with a message. Unknown body fields and query parameters are errors
too, so typos never pass silently. Bodies must be JSON objects (`Content-Type: application/json`) of at
most {MAX_BODY // 1024} KiB.
"""


@dataclass
class Reply:
    """A successful answer an operation gives: its status, body model, headers and links."""

    status: int
    model: type[BaseModel] | dict  # a model from contract.py, or a plain JSON Schema
    description: str
    headers: dict = field(default_factory=dict)
    links: dict | None = None


@dataclass
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    replies: tuple[Reply, ...]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    example: dict | None = None
    idempotent: bool = False
    not_found: str | None = None  # the 404 response's name, when the path names something
    conflict: str | None = None  # what a 409 means here, when one can happen
    public: bool = False  # no key, no rate limit


OPERATIONS: list[Operation] = []


def operation(method: str, rule: str, operation_id: str, summary: str, replies: tuple[Reply, ...], *,
              body: type[BaseModel] | None = None, query: type[BaseModel] | None = None, **details) -> Callable:
    """Route a view on the API blueprint and describe it in the document.

    The view receives the checked input as `query=` and `body=` (pydantic models) beside its path
    arguments; every operation but a public one shares the per-key rate limit."""
    spec = Operation(method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule), operation_id, summary, replies,
                     body=body, query=query, **details)
    OPERATIONS.append(spec)

    def register(view: Callable) -> Callable:
        @wraps(view)
        def run(**path):
            if query is not None:
                path["query"] = read_query(query)
            if body is not None:
                path["body"] = read_body(body)
            return view(**path)

        bp.add_url_rule(rule, view.__name__, run if spec.public else rate_limited(run), methods=[method])
        return view

    return register


# --- the document ---------------------------------------------------------------------------------

REF = "#/components/schemas/{model}"
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}}
RATE_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests allowed per window for this key.", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in this window.", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "When the window resets (Unix time).", "schema": {"type": "integer"}},
}
REPLAYED = {"Idempotent-Replayed": {"description": "Present (true) when this answer replays a first answer for "
                                                   "the same Idempotency-Key.",
                                    "schema": {"type": "string", "enum": ["true"]}}}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Makes retries safe: the same key, operation and body within 24 hours replays the first answer.",
    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_LIMIT,
               "pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$"},
}


def _problem(description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}}
    if headers:
        response["headers"] = headers
    return response


PROBLEMS = {
    "BadRequest": _problem("The body is empty or not valid JSON."),
    "Unauthorized": _problem("The API key is missing, mistyped or revoked.", {
        "WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                             "description": "Bearer realm=\"Leadboard API\""}}),
    "Forbidden": _problem("The key may not do this: it is read-only and this is a write, or it has the member "
                          "role and members may not (`detail` says which, and who can allow it)."),
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


def _tidy(schema):
    """Drop pydantic's titles and the `default: null` of optional fields that do not accept null."""
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    tidy = {key: _tidy(value) for key, value in schema.items() if key != "title"}
    if tidy.get("default", 0) is None or tidy.get("default") == "":
        del tidy["default"]
    if "properties" in schema:  # a property named "title" is a property, not a title
        tidy["properties"] = {name: _tidy(value) for name, value in schema["properties"].items()}
    return tidy


def _schemas() -> dict:
    _, definitions = models_json_schema([(model, "validation") for model in COMPONENTS], ref_template=REF)
    return _tidy(definitions["$defs"])


def _reply(reply: Reply, idempotent: bool) -> dict:
    response = {"description": reply.description}
    schema = reply.model if isinstance(reply.model, dict) else {"$ref": REF.format(model=reply.model.__name__)}
    response["content"] = {"application/json": {"schema": schema}}
    headers = {**reply.headers, **(REPLAYED if idempotent else {})}
    if headers:
        response["headers"] = headers
    if reply.links:
        response["links"] = reply.links
    return response


def _parameters(model: type[BaseModel]) -> list[dict]:
    properties = _tidy(model.model_json_schema()["properties"])
    parameters = []
    for name, schema in properties.items():
        description = schema.pop("description", "")
        if list(schema.get("anyOf", [])) and schema["anyOf"][-1] == {"type": "null"} and len(schema["anyOf"]) == 2:
            schema = {**schema.pop("anyOf")[0], **schema}  # absent, not null, is how a query says "none"
        parameters.append({"name": name, "in": "query", "required": False, "schema": schema,
                           "description": description})
    return parameters


def _operation(spec: Operation) -> dict:
    answer = {"operationId": spec.operation_id, "summary": spec.summary,
              "responses": {str(reply.status): _reply(reply, spec.idempotent) for reply in spec.replies}}
    responses = answer["responses"]
    parameters = _parameters(spec.query) if spec.query is not None and spec.query.model_fields else []
    if spec.idempotent:
        parameters.insert(0, IDEMPOTENCY_KEY)
        responses["409"] = _problem("A request with this Idempotency-Key is still being processed.",
                                    {"Retry-After": RETRY_AFTER})
    if parameters:
        answer["parameters"] = parameters
    if spec.body is not None:
        content = {"schema": {"$ref": REF.format(model=spec.body.__name__)}}
        if spec.example:
            content["example"] = spec.example
        answer["requestBody"] = {"required": True, "content": {"application/json": content}}
        responses.update({"400": _ref("BadRequest"), "413": _ref("PayloadTooLarge"),
                          "415": _ref("UnsupportedMediaType"), "422": _ref("Invalid")})
    if spec.query is not None:
        responses["422"] = _ref("Invalid")
    if spec.not_found:
        responses["404"] = _ref(spec.not_found)
    if spec.conflict:
        responses["409"] = _problem(spec.conflict)
    if spec.public:
        answer["security"] = []
    else:
        responses.update({"401": _ref("Unauthorized"), "403": _ref("Forbidden"), "429": _ref("TooManyRequests")})
    answer["responses"] = dict(sorted(responses.items()))
    return answer


def document() -> dict:
    """The OpenAPI 3.1 document: every operation registered on the blueprint, and every model."""
    paths: dict[str, dict] = {}
    for spec in OPERATIONS:
        item = paths.setdefault(spec.path, {})
        names = re.findall(r"{(\w+)}", spec.path)
        if names:
            item["parameters"] = [{"name": name, "in": "path", "required": True, "schema": ID} for name in names]
        item[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Leadboard API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "An API key from /settings/api-keys."}},
            "schemas": _schemas(),
            "responses": PROBLEMS,
        },
    }
