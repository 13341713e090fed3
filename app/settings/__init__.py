"""Team settings, admins only: one module per screen (team, stages, fields, users, capture_forms with its
held_submissions, api_keys), each with its forms."""
from flask import Blueprint

from app.web import admin_required

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.before_request
@admin_required
def require_admin():
    pass


from app.settings import refusals  # noqa: E402,F401
from app.settings import api_keys, assignment, capture_forms, closing, fields, held_submissions, scoring, sequences, sla, stages, suppression, tags, team, templates, users  # noqa: E402,F401
