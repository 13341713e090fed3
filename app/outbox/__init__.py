from flask import Blueprint

bp = Blueprint("outbox", __name__, url_prefix="/outbox")

from app.outbox import routes  # noqa: E402,F401
