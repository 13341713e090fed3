"""Saved views: a pool or board filter kept under a name, private to its owner or shared with the
team. A view is its query string against the pool or the board, so it opens whatever those pages
can filter on, today's filters and tomorrow's alike; what it names that no longer exists (a
deleted stage, custom field or score band) is left out when it opens, with a notice."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import CustomField, SavedView, Stage, User
from app.services import Conflict, Forbidden, NotFound, ServiceError, atomic, utcnow, whole_number
from app.services.lead_queries import CUSTOM_SORT

TARGETS = {"pool": "Leads", "board": "Board"}
NAME_MAX = 80
QUERY_MAX = 2000
NAV_LIMIT = 30  # views the navigation lists (yours and shared, by name)
# Not part of a view: where a page of the pool was, and the form's own bookkeeping.
NOT_KEPT = {"after", "before", "last", "page", "csrf_token"}
FIELD_ARGS = ("field", "field_value", "field_min", "field_max")


class ViewNotFound(NotFound):
    def __init__(self):
        super().__init__("That saved view no longer exists, or is private to someone else.")


def clean_query(raw: str) -> str:
    """The filters of a pool or board address as a view keeps them: its query string without the
    page it was on; raises ServiceError(field="query") when it is too long to keep."""
    pairs = [(k, v) for k, v in parse_qsl((raw or "").lstrip("?"), keep_blank_values=False)
             if k not in NOT_KEPT and "\x00" not in k + v]
    query = urlencode(pairs)
    if len(query) > QUERY_MAX:
        raise ServiceError("These filters are too long to save as a view.", field="query")
    return query


def _clean_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise ServiceError("Give the view a name.", field="name")
    if len(name) > NAME_MAX:
        raise ServiceError(f"Keep the name under {NAME_MAX} characters.", field="name")
    return name


def _taken(owner_id: int, name: str, except_id: int | None = None) -> bool:
    """Whether the owner has another view of this name in any case ("Hot" and "HOT" are one name).
    Compared case-folded in Python (SQLite's lower() folds ASCII only); a unique index on
    (owner_id, lower(name)) settles a race between two tabs."""
    names = db.session.scalars(select(SavedView.name).where(SavedView.owner_id == owner_id,
                                                           SavedView.id != (except_id or 0)))
    return any(other.casefold() == name.casefold() for other in names)


def save_view(owner_id: int, name: str, target: str, query: str, shared: bool = False) -> SavedView:
    """Save a filter as a named view of `target` ("pool" or "board"); raises ServiceError naming
    the field: a name in use (Conflict), or filters naming what no longer exists (field="query")."""
    name = _clean_name(name)
    if target not in TARGETS:
        raise ServiceError("Save a view of the lead pool or of the board.", field="target")
    query = clean_query(query)
    gone = _gone(dict(parse_qsl(query)))
    if gone:
        raise ServiceError(f"{gone[0].saving} Choose the filters again, then save.", field="query")
    with atomic():
        if _taken(owner_id, name):
            raise Conflict(f"You already have a view called “{name}”. Pick another name.", field="name")
        view = SavedView(owner_id=owner_id, name=name, target=target, query=query, shared=bool(shared),
                         created_at=utcnow())
        db.session.add(view)
        try:
            db.session.flush()
        except IntegrityError:  # the same name saved at the same moment from another tab
            raise Conflict(f"You already have a view called “{name}”. Pick another name.", field="name") from None
    return view


def forget_stage(stage_id: int) -> None:
    """A deleted stage leaves the views that filtered on it (inside the deletion's atomic()): its id
    may name another stage later (SQLite reuses the highest id), so they keep `stage=deleted`,
    which opens as every stage, with the notice."""
    for view in db.session.scalars(select(SavedView).where(SavedView.query.contains("stage="))):
        args = parse_qsl(view.query, keep_blank_values=False)
        if any(k == "stage" and v == str(stage_id) for k, v in args):
            view.query = urlencode([(k, "deleted" if k == "stage" and v == str(stage_id) else v) for k, v in args])


def visible_views(user_id: int, limit: int = NAV_LIMIT) -> list[SavedView]:
    """The views `user_id` may open: their own and the team's shared ones, by name (at most `limit`)."""
    return list(db.session.scalars(
        select(SavedView).where(or_(SavedView.owner_id == user_id, SavedView.shared.is_(True)))
        .order_by(SavedView.name, SavedView.id).limit(limit)))


def get_view(view_id: int, user_id: int) -> SavedView:
    """A view its reader may open (theirs, or shared); raises ViewNotFound otherwise."""
    view = db.session.get(SavedView, view_id)
    if view is None or (view.owner_id != user_id and not view.shared):
        raise ViewNotFound()
    return view


def may_change(view: SavedView, user: User) -> bool:
    """Owners rename and delete their views; admins also the team's shared ones."""
    return view.owner_id == user.id or (view.shared and user.is_admin)


def _changeable(view_id: int, user_id: int) -> SavedView:
    user = db.session.get(User, user_id)
    view = get_view(view_id, user_id)
    if user is None or not may_change(view, user):
        raise Forbidden("Only its owner (or an admin, for a shared view) can change this view.")
    return view


def rename_view(view_id: int, user_id: int, name: str, shared: bool | None = None) -> SavedView:
    """Rename a view (and, for its owner, share or unshare it); raises ViewNotFound, Forbidden,
    ServiceError/Conflict(field="name")."""
    name = _clean_name(name)
    with atomic():
        view = _changeable(view_id, user_id)
        if _taken(view.owner_id, name, except_id=view.id):
            raise Conflict(f"There is already a view called “{name}”. Pick another name.", field="name")
        view.name = name
        if shared is not None and view.owner_id == user_id:
            view.shared = bool(shared)
    return view


def delete_view(view_id: int, user_id: int) -> str:
    """Delete a view; returns its name. Raises ViewNotFound, Forbidden."""
    with atomic():
        view = _changeable(view_id, user_id)
        name = view.name
        db.session.delete(view)
    return name


@dataclass
class Gone:
    """A filter of a view naming what no longer exists: the arguments to leave out, and what to say."""
    args: set[str]
    opening: str  # when the view opens without it
    saving: str  # when a view is being saved with it


def _gone(values: dict[str, str]) -> list[Gone]:
    """The filters among `values` (a view's query string) that name a stage, custom field or score
    band that does not exist (deleted since, or never)."""
    from app.services import scoring  # noqa: PLC0415 (scoring is heavy and imports the lead queries)
    found = []
    stage = values.get("stage")
    if stage is not None and (whole_number(stage) is None or db.session.get(Stage, whole_number(stage)) is None):
        found.append(Gone({"stage"}, "The stage this view filtered on has been deleted, so it shows every stage.",
                          "The stage these filters name no longer exists."))
    key = values.get("field")
    if key and db.session.scalar(select(CustomField.id).where(CustomField.key == key)) is None:
        found.append(Gone(set(FIELD_ARGS),
                          "The custom field this view filtered on has been deleted, so that filter is left out.",
                          "The custom field these filters name no longer exists."))
    sort = values.get("sort", "")
    if sort.startswith(CUSTOM_SORT) and db.session.scalar(
            select(CustomField.id).where(CustomField.key == sort.removeprefix(CUSTOM_SORT))) is None:
        found.append(Gone({"sort", "dir"},
                          "The custom field this view was sorted by has been deleted, so it is sorted by date.",
                          "The custom field these leads are sorted by no longer exists."))
    band = values.get("band")
    if band and scoring.band_named(band) is None:
        found.append(Gone({"band"}, f"The score band “{band[:40]}” this view filtered on no longer exists.",
                          f"The score band “{band[:40]}” no longer exists."))
    return found


@dataclass
class Opening:
    target: str  # "pool" or "board"
    args: list[tuple[str, str]]  # the query string to open, without what no longer exists
    notices: list[str]


def open_view(view_id: int, user_id: int) -> Opening:
    """The address a view opens: its filters, less any that name a stage, custom field or band
    deleted since (each said in a notice). Raises ViewNotFound."""
    view = get_view(view_id, user_id)
    args = parse_qsl(view.query, keep_blank_values=False)
    gone = _gone(dict(args))
    dropped = set().union(*(item.args for item in gone))
    return Opening(target=view.target, args=[(k, v) for k, v in args if k not in dropped],
                   notices=[item.opening for item in gone])
