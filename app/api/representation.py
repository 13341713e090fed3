"""How leads, stages and appointments look in JSON: exactly the response models in contract.py
(Lead, Stage, Appointment), which forbid any other key; tests/integration/test_api_contract.py holds
each function to its model."""
from __future__ import annotations

from datetime import datetime

from flask import g

from app.models import Appointment, CustomField, Lead, Stage
from app.services import closing, custom_fields as field_service, scoring, tags as tag_service


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z; stored timestamps are naive UTC."""
    return None if value is None else value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def custom_json(values: dict, fields: list[CustomField]) -> dict:
    """Every defined custom field by key, null when the lead has no value (a checkbox: false)."""
    return {custom.key: field_service.api_value(values[custom.key]) if custom.key in values
            else (False if custom.kind == "checkbox" else None) for custom in fields}


def lead_json(lead: Lead, tags: list[str] | None = None, *, custom: dict | None = None,
              fields: list[CustomField] | None = None) -> dict:
    """The lead as JSON; a list of leads passes its page's tags (tags.tags_for), custom values
    (custom_fields.values_for) and field definitions, read once for the whole page."""
    if tags is None:
        tags = tag_service.tags_for([lead.id])[lead.id]
    if custom is None:
        custom = field_service.values_for([lead.id])[lead.id]
    if fields is None:
        fields = field_service.definitions()
    return {
        "id": lead.id,
        "first_name": lead.first_name or "",
        "last_name": lead.last_name or "",
        "email": lead.email,
        "phone": lead.phone,
        "company": lead.company,
        "job_title": lead.job_title,
        "source": lead.source,
        # A JSON number with at most two decimals (the column is NUMERIC(14, 2), so a float is exact enough).
        "value": None if lead.value is None else float(lead.value),
        "country": lead.country,
        "region": lead.region,
        "street": lead.street,
        "city": lead.city,
        "postal_code": lead.postal_code,
        "website": lead.website,
        "description": lead.description,
        "expected_close_on": lead.expected_close_on.isoformat() if lead.expected_close_on else None,
        "stage_id": lead.stage_id,
        "owner_id": lead.owner_id,
        "utm_source": lead.utm_source,
        "utm_medium": lead.utm_medium,
        "utm_campaign": lead.utm_campaign,
        "custom_fields": custom_json(custom, fields),
        "tags": list(tags),
        "created_at": timestamp(lead.created_at),
        "updated_at": timestamp(lead.updated_at),
        "score": lead.score or 0,
        "score_band": score_band(lead.score or 0),
        "score_reasons": [{"label": r["label"], "points": r["points"]} for r in lead.score_reasons or []],
        "closed_on": lead.closed_on.isoformat() if lead.closed_on else None,
        "lost_reason": closing.reason_names().get(lead.lost_reason_id) if lead.lost_reason_id else None,
        "lost_note": lead.lost_note,
    }


def score_band(score: int) -> str | None:
    """The band's name; the bands are read once per request, however many leads a list shows."""
    if "score_bands" not in g:
        g.score_bands = scoring.bands()
    band = scoring.band_of(score, g.score_bands)
    return band.name if band else None
def custom_field_json(custom: CustomField) -> dict:
    return {"key": custom.key, "label": custom.label, "kind": custom.kind, "help_text": custom.help_text or "",
            "required": custom.required, "choices": list(custom.choices or [])}


def stage_json(stage: Stage) -> dict:
    return {"id": stage.id, "name": stage.name, "colour": stage.colour, "kind": stage.kind,
            "position": stage.position}


def appointment_json(appointment: Appointment) -> dict:
    return {
        "id": appointment.id,
        "lead_id": appointment.lead_id,
        "status": appointment.status,
        "starts_at": timestamp(appointment.starts_at),
        "ends_at": timestamp(appointment.ends_at),
        "duration_minutes": appointment.duration_minutes,
        "location": appointment.location or "",
        "note": appointment.note or "",
        "timezone": appointment.timezone,
        "sequence": appointment.sequence,
        "prospect_message": appointment.prospect_message,
        "responded_at": timestamp(appointment.responded_at),
        "created_at": timestamp(appointment.created_at),
        "updated_at": timestamp(appointment.updated_at),
    }


def task_json(task) -> dict:
    return {"id": task.id, "lead_id": task.lead_id, "kind": task.kind, "title": task.title,
            "due_at": timestamp(task.due_at), "owner_id": task.owner_id, "note": task.note or "",
            "done_at": timestamp(task.done_at), "snoozed": task.snoozed, "created_at": timestamp(task.created_at)}
