"""Team settings, admins only: one module per screen (team, stages, fields, users, capture_forms with its
held_submissions, api_keys), each with its forms."""
from flask import Blueprint, current_app, request

from app.web import ADMIN_REFUSAL, admin_required

bp = Blueprint("settings", __name__, url_prefix="/settings")

# What a member tried to open, by the module serving the screen: their 403 names it.
SCREENS = {
    "team": "Team settings are", "stages": "Pipeline stages are", "closing": "Won and lost settings are",
    "users": "Team accounts and invitations are", "fields": "Custom fields are",
    "capture_forms": "Capture forms are", "held_submissions": "Held form submissions are", "api_keys": "API keys are",
    "assignment": "Assignment rules are", "scoring": "Scoring rules are", "sla": "First-response targets are",
    "suppression": "The suppression list is", "tags": "Tag settings are", "templates": "Email templates are",
    "sequences": "Sequences are", "audit": "The audit log is", "webhooks": "Webhooks are",
    "trash": "The trash is", "automations": "Automations are", "automation_backfill": "Automations are",
}


def refusal() -> str:
    """The 403 a member gets on a settings screen, naming the screen."""
    view = current_app.view_functions.get(request.endpoint)
    screen = SCREENS.get(view.__module__.rsplit(".", 1)[-1]) if view else None
    return f"{screen} for admins. Ask an admin if something there needs changing." if screen else ADMIN_REFUSAL


@bp.before_request
@admin_required(refusal=refusal)
def require_admin():
    pass


from app.settings import refusals  # noqa: E402,F401
from app.settings import api_keys, assignment, audit, automation_backfill, automations, capture_forms, closing, fields, held_submissions, scoring, sequences, sla, stages, suppression, tags, team, templates, trash, users, webhooks  # noqa: E402,F401
