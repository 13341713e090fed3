"""/api/v1 activities: log a call, an email sent outside Leadboard, or a meeting on a lead.

The service writes the activity, its timeline entry and the touch in one transaction; `user_id`
says who did it (the API itself is no one, as for leads and appointments)."""
from __future__ import annotations

from flask import jsonify

from app.api.contract import MAX_ID, Activity, ActivityLog
from app.api.openapi import Reply, operation
from app.api.representation import timestamp
from app.services import activities as service
from app.services.leads import LeadNotFound


@operation("POST", "/leads/<int:lead_id>/activities", "logActivity",
           "Log a call, an email sent outside Leadboard, or a meeting on a lead",
           (Reply(201, Activity, "The activity was logged, on the lead's timeline and as a touch."),),
           body=ActivityLog, not_found="NotFound", example={
               "kind": "call", "outcome": "reached", "duration_minutes": 12, "note": "Wants a quote by Friday.",
               "user_id": 3})
def log_activity(lead_id: int, body: ActivityLog):
    if lead_id > MAX_ID:  # larger than any id the database can hold
        raise LeadNotFound()
    activity = service.log_activity(lead_id, body.user_id, body.kind, outcome=body.outcome,
                                    duration_minutes=body.duration_minutes, note=body.note)
    response = jsonify(activity_json(activity))
    response.status_code = 201
    return response


def activity_json(activity) -> dict:
    return {"id": activity.id, "lead_id": activity.lead_id, "kind": activity.kind, "outcome": activity.outcome,
            "duration_minutes": activity.duration_minutes, "note": activity.note or "",
            "user_id": activity.user_id, "created_at": timestamp(activity.created_at)}
