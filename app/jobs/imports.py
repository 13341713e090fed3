"""CSV import jobs."""
from __future__ import annotations

from flask import current_app

from app.jobs import app_context


def run_import(import_id: int) -> None:
    """Run a queued CSV import; a second delivery of the same job finds it claimed and does nothing."""
    with app_context():
        from app.services.imports import run_import as run
        run(import_id, region=current_app.config["DEFAULT_PHONE_REGION"])
