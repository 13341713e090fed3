"""Team-wide choices: the default timezone, the stage a booked appointment moves a lead to, and the
pool claim cap."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, g, has_request_context
from sqlalchemy import func, select

from app.extensions import db
from app.models import Stage, TeamSettings, User
from app.services import ServiceError, atomic

BOOKED_STAGE_NAME = "Appointment set"


@lru_cache(maxsize=1)
def timezone_names() -> list[str]:
    """Every IANA zone name, sorted, for the pickers."""
    return sorted(name for name in available_timezones() if "/" in name or name == "UTC")


@lru_cache(maxsize=1)
def timezone_names_version() -> str:
    """A short digest of timezone_names(): it changes only when the zone database does."""
    return hashlib.sha256("\n".join(timezone_names()).encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def _zone_lookup() -> dict[str, str]:
    """What people type, lower-cased, to the zone name: the name itself ("europe/paris") and, where
    only one zone has it, its city ("chicago", "new york", "new_york")."""
    names = timezone_names()
    cities: dict[str, list[str]] = {}
    for name in names:
        city = name.rsplit("/", 1)[-1].lower()
        for spelling in {city, city.replace("_", " ")}:
            cities.setdefault(spelling, []).append(name)
    lookup = {spelling: found[0] for spelling, found in cities.items() if len(found) == 1}
    lookup.update({name.lower(): name for name in names})
    return lookup


def check_timezone(name: str | None, field: str = "timezone") -> str:
    """The IANA zone a person meant ("Europe/Paris", "europe/paris" or just "Paris"); raises
    ServiceError naming the field if it is none."""
    found = _zone_lookup().get(" ".join((name or "").split()).lower())
    try:
        if found:
            ZoneInfo(found)
            return found
    except (ZoneInfoNotFoundError, ValueError):
        pass
    raise ServiceError("That is not a timezone we know. Type a zone such as Europe/Berlin or America/New_York, "
                       "or a city such as Chicago.", field=field)


def current() -> TeamSettings:
    """The settings row, or unsaved defaults when no admin has saved any (read once per request)."""
    if has_request_context():
        if "team_settings" not in g:
            g.team_settings = _load()
        return g.team_settings
    return _load()


def _load() -> TeamSettings:
    row = db.session.get(TeamSettings, 1)
    if row is None:
        row = TeamSettings(id=1, timezone=current_app.config["TEAM_TIMEZONE"], appointment_stage_id=None,
                           ask_next_task=False)
        row.appointment_stage_id = db.session.scalar(
            select(Stage.id).where(func.lower(Stage.name) == BOOKED_STAGE_NAME.lower()).limit(1))
    return row


def pool_claim_cap() -> int | None:
    """The most open leads a member may hold and still claim from the pool (None: no cap)."""
    return current().pool_claim_cap


def team_timezone() -> str:
    return current().timezone or "UTC"


def user_timezone(user: User | None) -> str:
    return (user.timezone if user is not None and user.timezone else None) or team_timezone()


MAX_CLAIM_CAP = 100_000
UNCHANGED = object()


def check_claim_cap(cap: int | None) -> int | None:
    """A pool claim cap as admins may set it: None (no cap) or a whole number from 1; raises ServiceError."""
    if cap is None:
        return None
    if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= MAX_CLAIM_CAP:
        raise ServiceError(f"A cap is a whole number from 1 to {MAX_CLAIM_CAP:,}; leave it empty for no cap.",
                           field="pool_claim_cap")
    return cap


def save(timezone: str, appointment_stage_id: int | None, pool_claim_cap=UNCHANGED,
         ask_next_task=UNCHANGED) -> TeamSettings:
    """Save the team's settings (the claim cap and the next-task question only when given); raises
    ServiceError naming a bad field."""
    timezone = check_timezone(timezone)
    if pool_claim_cap is not UNCHANGED:
        pool_claim_cap = check_claim_cap(pool_claim_cap)
    with atomic():
        if appointment_stage_id is not None and db.session.get(Stage, appointment_stage_id) is None:
            raise ServiceError("That stage no longer exists. Reload the page.", field="appointment_stage")
        row = db.session.get(TeamSettings, 1) or TeamSettings(id=1)
        row.timezone, row.appointment_stage_id = timezone, appointment_stage_id
        if pool_claim_cap is not UNCHANGED:
            row.pool_claim_cap = pool_claim_cap
        if ask_next_task is not UNCHANGED:
            row.ask_next_task = bool(ask_next_task)
        db.session.add(row)
    g.pop("team_settings", None)
    return row


def save_account(user_id: int, timezone: str | None, email_kinds: Iterable[str]) -> User:
    """A person's own choices at /account: their timezone (None: the team's) and which kinds of
    notification also email them. Raises ServiceError naming a bad timezone, UnknownKind."""
    from app.services.notifications import set_email_choices
    timezone = check_timezone(timezone) if timezone else None
    with atomic():
        user = db.session.get(User, user_id)
        user.timezone = timezone
        set_email_choices(user_id, email_kinds)
    return user


def set_user_timezone(user_id: int, timezone: str | None) -> User:
    """A person's own timezone for entering and reading times (None: the team's)."""
    timezone = check_timezone(timezone) if timezone else None
    with atomic():
        user = db.session.get(User, user_id)
        user.timezone = timezone
    return user
