"""What the pool page, the bulk actions, the import and the export read alike: the pool's filters
and page from the query string, the pager's links, and the owner picker's choices and answer."""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, request, url_for
from flask_login import current_user

from app.forms import refusal
from app.leads.forms import PoolFilterForm
from app.services import ServiceError, permissions, whole_number
from app.services.lead_queries import Page, PoolFilters, decode_cursor, encode_cursor
from app.services.users import team

PAGER_ARGS = ("after", "before", "last")


def read_pool_filters() -> tuple[PoolFilters, dict[str, str]]:
    """The pool's search, filters, sort and page from the query string, and {name: message} of the
    bad filters (left out; see NarrowingForm.narrowing). A bad page cursor (garbage, tampered, another sort's)
    just means the first page."""
    form = PoolFilterForm(request.args)
    shared, errors = form.narrowing()
    filters = PoolFilters(q=form.q.data or "", stage_id=form.stage.data, owner=form.owner.data or "",
                          source=form.source.data or "", country=form.country.data or "",
                          next_step=form.next_step.data or "", stale=form.stale.data == "1",
                          response=form.response.data or "",
                          import_id=whole_number(request.args.get("import")),
                          sort=form.sort.data or "created", direction=form.dir.data or "desc", **shared)
    filters.after = decode_cursor(filters, request.args["after"]) if request.args.get("after") else None
    filters.before = decode_cursor(filters, request.args["before"]) if request.args.get("before") else None
    filters.last = request.args.get("last") == "1"
    raw_import = request.args.get("import")
    if raw_import and (filters.import_id is None or filters.import_id > 2**31 - 1):
        filters.import_id = None
        errors["import"] = "That is not an import of this team, so every lead is shown."
    # Only the leads this person may see (Forbidden when the owner filter names someone else's).
    return permissions.scoped(filters, current_user), errors


def pool_filters() -> PoolFilters:
    """The pool's filters for an action on them (bulk, export): a bad filter is a 400 naming it."""
    filters, errors = read_pool_filters()
    if errors:
        abort(400, description=refusal(errors))
    return filters


def pager_args() -> dict:
    """The page this request's address asks for, as sent (an old `page=` counts, to be dropped)."""
    return {name: request.args[name] for name in (*PAGER_ARGS, "page") if request.args.get(name)}


@dataclass
class Pager:
    here: dict  # the address arguments of the page shown
    first: str | None = None  # links, or None where there is no such page
    prev: str | None = None
    next: str | None = None
    last: str | None = None


def pager(filters: PoolFilters, page: Page) -> Pager:
    """The pager for `page`: First and Previous when a page comes before it, Next and Last when
    one comes after; each link keeps the filters and sort."""
    def link(**where) -> str:
        return url_for("leads.index", **filters.as_args(**where))

    here = {"first": {}, "last": {"last": "1"},
            "after": {"after": encode_cursor(filters, filters.after)} if filters.after else {},
            "before": {"before": encode_cursor(filters, filters.before)} if filters.before else {}}[page.at]
    result = Pager(here=here)
    if page.has_prev and page.start:
        result.first, result.prev = link(), link(before=encode_cursor(filters, page.start))
    if page.has_next and page.end:
        result.next, result.last = link(after=encode_cursor(filters, page.end)), link(last="1")
    return result


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
