"""What the pool page, the bulk actions, the import and the export read alike: the pool's filters
from the query string, and the owner picker's choices and answer."""
from __future__ import annotations

from flask import abort, request

from app.leads.forms import PoolFilterForm
from app.services import ServiceError, whole_number
from app.services.lead_queries import PoolFilters
from app.services.users import team


def pool_filters() -> PoolFilters:
    """The pool's search, filters, sort and page from the query string; a bad one is a 400 naming it."""
    form = PoolFilterForm(request.args)
    if not form.validate():
        field, errors = next(iter(form.errors.items()))
        abort(400, description=f"The {field} filter is not valid: {errors[0]}")
    return PoolFilters(q=form.q.data or "", stage_id=form.stage.data, owner=form.owner.data or "",
                       source=form.source.data or "", sort=form.sort.data, direction=form.dir.data,
                       page=form.page.data or 1)


def owner_choices(pool_label: str = "Shared pool (no owner)") -> list[tuple[str, str]]:
    """The owner picker: the shared pool first, then the active team."""
    return [("", pool_label)] + [(str(u.id), u.name) for u in team()]


def owner_id(raw: str | None) -> int | None:
    """The picked owner's id, or None for the pool; anything else is refused beside the owner field."""
    if not raw:
        return None
    picked = whole_number(raw)
    if picked is None:
        raise ServiceError("Pick a teammate from the list.", field="owner")
    return picked
