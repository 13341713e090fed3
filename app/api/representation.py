"""How leads, stages and appointments look in JSON: exactly the response models in contract.py
(Lead, Stage, Appointment), which forbid any other key; tests/integration/test_api_contract.py holds
each function to its model."""
from __future__ import annotations

from datetime import datetime

from app.models import Appointment, Lead, Stage


def timestamp(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z; stored timestamps are naive UTC."""
    return None if value is None else value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def lead_json(lead: Lead, tags: list[str]) -> dict:
    """A lead with its tags (services/tags.tags_for, loaded for a whole page at once)."""
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
        "stage_id": lead.stage_id,
        "owner_id": lead.owner_id,
        "utm_source": lead.utm_source,
        "utm_medium": lead.utm_medium,
        "utm_campaign": lead.utm_campaign,
        "tags": list(tags),
        "created_at": timestamp(lead.created_at),
        "updated_at": timestamp(lead.updated_at),
    }


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
