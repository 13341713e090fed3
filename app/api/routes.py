"""/api/v1: create, read, list and update leads, and list stages, for integrators with an API key.

The OpenAPI document (openapi.py, served at /api/v1/openapi.json) describes every answer here;
tests/integration/test_api_schema.py holds the two to each other."""
from __future__ import annotations

import hashlib
import json
import re

from flask import current_app, jsonify, request, url_for

from app.api import bp, openapi, problems
from app.api.auth import current_caller, rate_limited, require_caller
from app.api.inputs import (
    CREATE_FIELDS, LIMIT_DEFAULT, LIMIT_MAX, MAX_BODY, MAX_ID, ORIGIN_LIMITS, UPDATE_FIELDS, Query, json_body,
)
from app.api.listing import BadCursor, LeadQuery, decode_cursor, encode_cursor, leads_after
from app.api.problems import ApiProblem, invalid
from app.api.representation import lead_json, stage_json
from app.models.lead import EDITABLE_FIELDS
from app.services import leads as lead_service
from app.services.api_keys import (
    IdempotencyInProgress, IdempotencyKeyReused, Replay, claim_idempotency_key, complete_idempotency_key,
    release_idempotency_key,
)
from app.services.capture import capture_lead
from app.services.leads import LeadNotFound
from app.services.stages import get_stage, pipeline
from app.services.users import team

problems.install(bp)

DEFAULT_SOURCE = "API"
IDEMPOTENCY_KEY_LIMIT = 255
IDEMPOTENCY_KEY = re.compile(openapi.IDEMPOTENCY_KEY_PATTERN)
IDENTIFYING = ("first_name", "last_name", "email", "phone")


@bp.before_request
def authenticate():
    request.max_content_length = MAX_BODY
    if request.endpoint != "api.openapi_document":
        require_caller()


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())


# --- leads ------------------------------------------------------------------------------------------


@bp.post("/leads")
@rate_limited
def create_lead():
    values, sent = json_body(CREATE_FIELDS)
    idempotency_key = _idempotency_key()
    if idempotency_key is None:
        return _lead_response(*_capture(values))
    claim = _claim(idempotency_key, sent)
    if isinstance(claim, Replay):
        return _lead_response(claim.status_code, claim.body, replayed=True)
    try:
        status, body = _capture(values)
    except BaseException:
        release_idempotency_key(claim)  # not remembered: the client may correct the body and reuse the key
        raise
    complete_idempotency_key(claim, status, body)
    return _lead_response(status, body)


@bp.get("/leads/<int:lead_id>")
@rate_limited
def get_lead(lead_id: int):
    return jsonify(lead_json(_load(lead_id)))


@bp.get("/leads")
@rate_limited
def list_leads():
    query = Query({"q", "stage_id", "owner_id", "source", "email", "updated_since", "cursor", "limit"})
    filters = LeadQuery(q=query.text("q", 200), stage_id=query.integer("stage_id"), owner=query.owner("owner_id"),
                        source=query.text("source", 100), email=query.text("email", 254),
                        updated_since=query.timestamp("updated_since"))
    limit = query.integer("limit", 1, LIMIT_MAX, default=LIMIT_DEFAULT)
    cursor = query.text("cursor", 500)
    query.check()
    try:
        after = decode_cursor(cursor) if cursor else 0
    except BadCursor:
        raise invalid([{"field": "cursor", "message": "is not a cursor from this API; "
                                                      "start again without it, then pass next_cursor back."}]) from None
    leads, last_id = leads_after(filters, after, limit)
    return jsonify({"data": [lead_json(lead) for lead in leads],
                    "next_cursor": encode_cursor(last_id) if last_id is not None else None})


@bp.patch("/leads/<int:lead_id>")
@rate_limited
def update_lead(lead_id: int):
    values, _ = json_body(UPDATE_FIELDS)
    lead = _load(lead_id)
    # Check every reference before the first write, so a bad one leaves the lead untouched.
    _check_references(values)
    fields = {name: values[name] for name in EDITABLE_FIELDS if name in values}
    if fields:
        if any(name in fields for name in ("first_name", "last_name", "email")):
            # The name-or-email rule looks at what the lead will be, not only at what this request sends.
            fields = {"first_name": lead.first_name, "last_name": lead.last_name, "email": lead.email, **fields}
        lead_service.update_lead(lead.id, fields, None, region=_region())
    if "stage_id" in values and values["stage_id"] != lead.stage_id:
        lead_service.move_lead(lead.id, values["stage_id"], None, None, None)
    if "owner_id" in values and values["owner_id"] != lead.owner_id:
        lead_service.assign_lead(lead.id, values["owner_id"], None)
    return jsonify(lead_json(_load(lead_id)))


# --- stages -----------------------------------------------------------------------------------------


@bp.get("/stages")
@rate_limited
def list_stages():
    return jsonify({"data": [stage_json(stage) for stage in pipeline()]})


# --- helpers ----------------------------------------------------------------------------------------


def _region() -> str:
    return current_app.config["DEFAULT_PHONE_REGION"]


def _load(lead_id: int):
    if lead_id > MAX_ID:  # larger than any id the database can hold
        raise LeadNotFound()
    return lead_service.get_lead(lead_id)


def _check_references(values: dict) -> None:
    """A stage_id or owner_id that names nothing is a 422 naming the field."""
    if values.get("stage_id") is not None:
        get_stage(values["stage_id"])  # UnknownStage names the field
    owner_id = values.get("owner_id")
    if owner_id is not None and owner_id not in {user.id for user in team()}:
        raise invalid([{"field": "owner_id", "message": "No active teammate has this id."}])


def _capture(values: dict) -> tuple[int, dict]:
    """Capture the lead; (201, lead) when new, (200, lead with matched_on) when we already had them."""
    if not any(str(values.get(name) or "").strip() for name in IDENTIFYING):
        raise invalid([{"field": "email", "message": "Give the lead a name, an email address or a phone number."}])
    _check_references(values)
    caller = current_caller()
    captured = capture_lead({name: values[name] for name in EDITABLE_FIELDS if name in values},
                            via=f"API key {caller.name}", stage_id=values.get("stage_id"),
                            owner_id=values.get("owner_id"), source=DEFAULT_SOURCE,
                            origin={name: values.get(name) for name in ORIGIN_LIMITS}, region=_region())
    if captured.created:
        return 201, lead_json(captured.lead)
    return 200, {**lead_json(captured.lead), "matched_on": captured.matched_on}


def _lead_response(status: int, body: dict, replayed: bool = False):
    response = jsonify(body)
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for("api.get_lead", lead_id=body["id"])
    if body.get("matched_on"):
        response.headers["Leadboard-Duplicate"] = body["matched_on"]
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if len(key) > IDEMPOTENCY_KEY_LIMIT or not IDEMPOTENCY_KEY.fullmatch(key):
        raise invalid([{"field": "Idempotency-Key", "message": f"must be 1 to {IDEMPOTENCY_KEY_LIMIT} printable "
                                                               "ASCII characters, e.g. a UUID."}])
    return key


def _claim(idempotency_key: str, sent: dict) -> Replay | int:
    # The same JSON object however it was spaced or ordered is the same request.
    fingerprint = hashlib.sha256(json.dumps(sent, sort_keys=True, separators=(",", ":"),
                                            ensure_ascii=True).encode()).hexdigest()
    try:
        return claim_idempotency_key(current_caller().key_id, idempotency_key, fingerprint)
    except IdempotencyKeyReused as exc:
        raise ApiProblem(422, exc.message, type="urn:leadboard:problem:idempotency-key-reused",
                         title="This Idempotency-Key belongs to another request.",
                         errors=[{"field": "Idempotency-Key", "message": exc.message}]) from None
    except IdempotencyInProgress as exc:
        raise ApiProblem(409, exc.message, type="urn:leadboard:problem:idempotency-key-in-progress",
                         title="A request with this Idempotency-Key is in progress.",
                         headers={"Retry-After": "1"}) from None
