"""Reports at /reports: funnel, conversion, speed to lead, stage ageing, team activity, lost reasons,
sequence results and the forecast, each with filters in the URL, a chart, a table and a CSV."""
from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports")

from app.reports import routes  # noqa: E402,F401
