from flask import Blueprint

bp = Blueprint("leads", __name__, url_prefix="/leads")

from app.leads import activities, appointments, duplicates, emails, imports, privacy, routes, sequences, tags, tasks  # noqa: E402,F401
