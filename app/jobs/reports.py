"""Keeping a report's figures: one view computed again in the worker."""
from __future__ import annotations

from app.jobs import app_context


def refresh(recipe: dict) -> None:
    """Compute the view a recipe names (services.report_figures) and keep its figures."""
    with app_context():
        from app.services.report_figures import refresh as refresh_view
        refresh_view(recipe)
