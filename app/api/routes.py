"""/api/v1: create, read, list and update leads, and list stages, for integrators with an API key.

Each view is declared with openapi.operation(): its route, its input models from contract.py and the
answers it gives, from which the OpenAPI document is generated; tests/integration/test_api_schema.py
holds the two to each other."""
from __future__ import annotations

from flask import current_app, jsonify, request, url_for

from app.api import bp, problems
from app.api.auth import current_caller, require_caller
from app.api.contract import (
    MAX_BODY, MAX_ID, ORIGIN_FIELDS, CapturedDuplicate, CustomFieldList, Lead, LeadCreate, LeadList, LeadListQuery,
    LeadUpdate, StageList,
)
from app.api.idempotency import once
from app.api.listing import BadCursor, LeadQuery, decode_cursor, encode_cursor, leads_after
from app.api.openapi import Reply, document, operation
from app.api.problems import invalid
from app.api.representation import custom_field_json, lead_json, stage_json
from app.models.lead import EDITABLE_FIELDS
from app.services import Forbidden, ServiceError, closing, custom_fields as field_service, leads as lead_service, permissions
from app.services.capture import capture_lead
from app.services.leads import LeadNotFound
from app.services.identity import NOTHING_IDENTIFIES, identifies
from app.services.stages import get_stage, pipeline
from app.services.tags import tags_for
from app.services.users import team

problems.install(bp)

DEFAULT_SOURCE = "API"
CREATED_LINKS = {  # from a 201 (new lead) or a 200 (the lead we already had)
    "GetCreatedLead": {"operationId": "getLead", "parameters": {"lead_id": "$response.body#/id"}},
    "UpdateCreatedLead": {"operationId": "updateLead", "parameters": {"lead_id": "$response.body#/id"}},
}


READS = {"GET", "HEAD", "OPTIONS"}


@bp.before_request
def authenticate():
    request.max_content_length = MAX_BODY
    if request.endpoint != "api.openapi_document":
        who = require_caller().actor
        if request.method not in READS:
            permissions.require_writes(who)  # a read-only key: 403 on any write
        lead_id = (request.view_args or {}).get("lead_id")
        if isinstance(lead_id, int) and 0 < lead_id <= MAX_ID:  # a member key, another person's lead: 403
            permissions.require_visible_lead(who, lead_id)


@operation("GET", "/openapi.json", "getOpenApiDocument", "This document",
           (Reply(200, {"type": "object"}, "The OpenAPI 3.1 document."),), public=True)
def openapi_document():
    return jsonify(document())


# --- leads ------------------------------------------------------------------------------------------


@operation("POST", "/leads", "createLead", "Capture a lead (or recognise one we already have)", (
    Reply(201, Lead, "A new lead was created.", {"Location": {"required": True, "description": "The new lead's "
                                                              "address.", "schema": {"type": "string"}}},
          links=CREATED_LINKS),
    Reply(200, CapturedDuplicate, "The person is already a lead: no twin was made. The existing lead's empty fields "
          "were filled in and the resubmission is on its timeline.", {
              "Leadboard-Duplicate": {"required": True, "description": "Which field matched.",
                                      "schema": {"type": "string", "enum": ["email", "phone", "name and company", "company"]}}},
          links=CREATED_LINKS),
), body=LeadCreate, idempotent=True, example={
    "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "company": "Analytical Engines",
    "source": "website", "value": 2500, "utm_source": "newsletter", "utm_campaign": "spring"})
def create_lead(body: LeadCreate):
    status, answer, replayed = once(lambda: _capture(body))
    return _lead_response(status, answer, replayed)


@operation("GET", "/leads/<int:lead_id>", "getLead", "Read one lead", (Reply(200, Lead, "The lead."),),
           not_found="NotFound")
def get_lead(lead_id: int):
    return jsonify(_lead_json(_load(lead_id)))


@operation("GET", "/leads", "listLeads", "List leads, oldest first, a page at a time",
           (Reply(200, LeadList, "A page of leads."),), query=LeadListQuery)
def list_leads(query: LeadListQuery):
    who = current_caller().actor
    permissions.require_owner_filter(who, query.owner_id)
    filters = LeadQuery(q=query.q, stage_id=query.stage_id, owner=query.owner_id, source=query.source,
                        tag=query.tag, email=query.email, updated_since=query.updated_since,
                        visible_to=permissions.visible_to(who))
    try:
        after = decode_cursor(query.cursor) if query.cursor else 0
    except BadCursor:
        raise invalid([{"field": "cursor", "message": "is not a cursor from this API; "
                                                      "start again without it, then pass next_cursor back."}]) from None
    leads, last_id = leads_after(filters, after, query.limit)
    ids = [lead.id for lead in leads]
    values, fields, tags = field_service.values_for(ids), field_service.active_fields(), tags_for(ids)
    return jsonify({"data": [lead_json(lead, tags[lead.id], custom=values[lead.id], fields=fields) for lead in leads],
                    "next_cursor": encode_cursor(last_id) if last_id is not None else None})


@operation("PATCH", "/leads/<int:lead_id>", "updateLead", "Change some of a lead's fields, its stage or its owner",
           (Reply(200, Lead, "The lead as it is now."),), body=LeadUpdate, not_found="NotFound",
           conflict="Someone moved the lead at the same moment; fetch it and retry.",
           example={"job_title": "CTO", "value": 4000, "stage_id": 2})
def update_lead(lead_id: int, body: LeadUpdate):
    lead = _load(lead_id)
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    if "owner_id" in changes:  # another person's lead needs "reassign" of a member key
        permissions.require_reassign(current_caller().actor, [lead.id], changes["owner_id"])
    # Check every reference first, so a bad one is a 422 naming its field.
    _check_references(changes)
    _closing(lead, changes)
    lead_service.change_lead(lead.id, changes, None, region=_region())
    return jsonify(_lead_json(_load(lead_id)))


@operation("GET", "/custom-fields", "listCustomFields", "The custom lead fields admins defined, in order",
           (Reply(200, CustomFieldList, "Every custom field: the keys custom_fields takes."),))
def list_custom_fields():
    return jsonify({"data": [custom_field_json(custom) for custom in field_service.active_fields()]})


@operation("GET", "/stages", "listStages", "The pipeline's stages, in order", (Reply(200, StageList, "Every stage."),))
def list_stages():
    return jsonify({"data": [stage_json(stage) for stage in pipeline()]})


# --- helpers ----------------------------------------------------------------------------------------


CLOSING_FIELDS = ("closed_on", "lost_reason", "lost_note")


def _closing(lead, changes: dict) -> None:
    """What a move to a won or lost stage records, checked into changes["closing"] (a 422 naming the
    field otherwise); sent without such a move, the closing fields are a mistake, not ignored."""
    sent = [name for name in CLOSING_FIELDS if changes.get(name) is not None]
    stage = get_stage(changes["stage_id"]) if changes.get("stage_id") is not None else None
    if stage is None or not closing.asks(lead, stage):
        if sent:
            raise ServiceError(f"{sent[0]} goes with a stage_id that moves the lead to a won or lost stage.",
                               field=sent[0])
        return
    day, value = changes.get("closed_on"), changes.get("value")
    # With a move to a won stage, `value` is the won value: checked by the same rule as the board's.
    won_value = str(value) if value is not None and closing.is_won(stage) else None
    changes["closing"] = closing.check(stage, day.isoformat() if day else None, won_value, None,
                                       changes.get("lost_note"), lost_reason_name=changes.get("lost_reason"))


def _region() -> str:
    return current_app.config["DEFAULT_PHONE_REGION"]


def _load(lead_id: int):
    if lead_id > MAX_ID:  # larger than any id the database can hold
        raise LeadNotFound()
    return lead_service.get_lead(lead_id)


def _lead_json(lead) -> dict:
    return lead_json(lead, tags_for([lead.id])[lead.id])


def _check_references(values: dict) -> None:
    """A stage_id or owner_id that names nothing is a 422 naming the field."""
    if values.get("stage_id") is not None:
        get_stage(values["stage_id"])  # UnknownStage names the field
    owner_id = values.get("owner_id")
    if owner_id is not None and owner_id not in {user.id for user in team()}:
        raise invalid([{"field": "owner_id", "message": "No active teammate has this id."}])


def _capture(body: LeadCreate) -> tuple[int, dict]:
    """Capture the lead; (201, lead) when new, (200, lead with matched_on) when we already had them;
    Forbidden when a member key matched a lead it may not see (left as it is)."""
    values = {name: getattr(body, name) for name in body.model_fields_set}
    if not identifies(values):
        raise invalid([{"field": "email", "message": NOTHING_IDENTIFIES}])
    _check_references(values)
    caller = current_caller()
    data = {name: values[name] for name in (*EDITABLE_FIELDS, "tags") if name in values}
    if values.get("custom_fields"):
        data["custom"] = values["custom_fields"]
    captured = capture_lead(data,
                            via=f"API key {caller.name}", stage_id=values.get("stage_id"),
                            owner_id=values.get("owner_id"), source=DEFAULT_SOURCE,
                            origin={name: values.get(name) for name in ORIGIN_FIELDS}, region=_region(),
                            visible_to=permissions.visible_to(caller.actor))
    if captured.hidden:  # a member key that may not see the teammate's lead: neither it nor its data
        raise Forbidden(f"{permissions.hidden_lead(captured.matched_on)} "
                        f"{permissions.refusal('see_all_leads', caller.actor)}")
    if captured.created:  # its tags and custom values as capture wrote them, not read again
        return 201, lead_json(captured.lead, captured.tags, custom=captured.custom)
    return 200, {**_lead_json(captured.lead), "matched_on": captured.matched_on}


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
