from flask import Blueprint

from app.extensions import csrf

# Bearer keys, not cookies, authenticate the API, so CSRF does not apply.
bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

from app.api import activities, appointments, routes, tasks  # noqa: E402,F401
