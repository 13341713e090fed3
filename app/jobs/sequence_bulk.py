"""Enrolling every lead matching the pool's filters in a sequence."""
from __future__ import annotations

from app.jobs import app_context


def enrol_matching(run_id: int) -> None:
    """Work through a bulk enrolment run; a second delivery finds it claimed and does nothing."""
    with app_context():
        from app.services.sequence_bulk import run
        run(run_id)
