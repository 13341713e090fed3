"""Applying an automation to the leads that already exist."""
from __future__ import annotations

from app.jobs import app_context


def apply_to_existing(backfill_id: int) -> None:
    """Work through an application; a second delivery finds it claimed and does nothing."""
    with app_context():
        from app.services.automation_backfill import run
        run(backfill_id)
