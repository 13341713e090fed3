"""Lead events: the one call a service makes, inside its transaction, when something happens to a
lead. Each event goes to everything that listens: outgoing webhooks (services/webhooks.py, for the
events they publish) and automations (services/automations.py, which run just before the
transaction commits, so their effect is part of it).

Event names: the webhook events (webhooks.EVENTS), and for automations only (no endpoint is offered
them yet): "lead.tagged" (data {"tags": [...]}), "appointment.booked" and
"appointment.new_time_requested"; "lead.score_band_changed" ({"from", "to"}: band names,
services/scoring.py), "lead.email_bounced" ({"reason"}, services/bounces.py), "lead.unsubscribed"
(services/suppression.py), "lead.sla_warning" and "lead.sla_breached" ({"due_at"}, services/sla.py's
sweep). lead.created carries {"way": form, api, import or hand} and lead.updated {"changed":
[built-in fields], "custom_changed": [custom fields' labels]}. Time-based automation triggers (no
activity, a task overdue, a date reached) are no events: the worker's sweep finds them
(automations.run_time_triggers)."""
from __future__ import annotations

from datetime import datetime

from app.services import automations, webhooks


def emit(event_name: str, *, lead_id: int | None, subject_id: int | None = None, data: dict | None = None,
         now: datetime | None = None) -> None:
    """Tell webhooks and automations about one lead's event (call inside atomic())."""
    if event_name in webhooks.EVENTS:
        webhooks.emit(event_name, lead_id=lead_id, subject_id=subject_id, data=data, now=now)
    if lead_id is not None:
        automations.noticed(event_name, [lead_id], data=data, subject_id=subject_id, now=now)


def emit_many(event_name: str, lead_ids: list[int], now: datetime, data: dict | None = None) -> None:
    """emit() for many leads at once, each its own event (set-based for webhooks)."""
    if event_name in webhooks.EVENTS:
        webhooks.emit_many(event_name, lead_ids, now, data)
    automations.noticed(event_name, lead_ids, data=data, now=now)


def listened(event_name: str) -> bool:
    """Whether anything wants this event now (a caller may skip reading which leads it concerns)."""
    return bool(event_name in webhooks.EVENTS and webhooks.subscribed(event_name)) or automations.wanted(event_name)
