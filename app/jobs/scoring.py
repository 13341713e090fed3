"""Re-scoring every lead after the rules changed."""
from __future__ import annotations

from app.jobs import app_context


def rescore_all(run_id: int) -> None:
    """Work through a scoring run; a second delivery finds it claimed and does nothing."""
    with app_context():
        from app.services.scoring import run_rescore
        run_rescore(run_id)
