"""Applying an automation to the leads that already exist, from its page: "Apply to existing leads"
queues the job (services.automation_backfill) and the page polls its progress until it ends."""
from __future__ import annotations

from flask import flash, url_for
from flask_login import current_user

from app.services import ServiceError, automation_backfill, automations
from app.settings import bp
from app.web import go, render, wants_fragment


def apply_context(automation, problem: str | None = None) -> dict:
    """What the "Apply to existing leads" section shows (the automation's page includes it too)."""
    backfill = automation_backfill.current(automation.id)
    return {"backfill": backfill, "problem": problem,
            "percent": automation_backfill.percent_done(backfill) if backfill else 0,
            "steps": "; ".join(automations.describe_action(a) for a in automation.actions or [])}


def _progress(automation, status: int = 200, problem: str | None = None):
    return render("settings/automation_apply.html", "settings/_automation_apply.html", status,
                  automation=automation, **apply_context(automation, problem))


@bp.post("/automations/<int:automation_id>/apply")
def apply_automation(automation_id: int):
    automation = automations.get(automation_id)
    try:
        automation_backfill.start(automation.id, current_user.id)
    except ServiceError as exc:
        if not wants_fragment():
            flash(exc.message, "error")
            return go(url_for("settings.edit_automation", automation_id=automation.id))
        return _progress(automation, exc.status, exc.message)
    if not wants_fragment():
        flash(f"Applying “{automation.name}” to existing leads: its progress is on its page.", "success")
        return go(url_for("settings.edit_automation", automation_id=automation.id))
    return _progress(automation)


@bp.get("/automations/<int:automation_id>/apply")
def automation_apply_progress(automation_id: int):
    return _progress(automations.get(automation_id))
