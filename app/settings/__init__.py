from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/settings")

from app.settings import api_keys, capture_forms, held_submissions, routes  # noqa: E402,F401
