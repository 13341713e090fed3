"""Who can take a lead now: active, not away and inside their working hours; and how many open leads
each person holds. Assignment rules and the pool's claim cap build on these."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Lead, Stage, StageKind, User, WorkingHours
from app.services import NotFound, ServiceError, atomic, settings_cache, team_settings, utcnow


def local_now(zone: str, now: datetime | None = None) -> datetime:
    """`now` (naive UTC as stored, or aware; default: this moment) as wall-clock time in `zone`."""
    now = now or utcnow()
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(ZoneInfo(zone))


def is_away(away_until: date | None, today: date) -> bool:
    """Whether someone whose last day away is `away_until` is away on `today` (their local date)."""
    return away_until is not None and today <= away_until


def within_hours(shifts: dict[int, tuple[time, time]], at: datetime) -> bool:
    """Whether local wall-clock time `at` falls in one of the weekly shifts {weekday: (start, end)}.

    No shifts at all: always within hours. A shift whose end is not after its start runs past
    midnight, so Monday 22:00-06:00 also covers Tuesday before 06:00."""
    if not shifts:
        return True
    day, clock = at.weekday(), at.time().replace(tzinfo=None)
    today = shifts.get(day)
    if today is not None:
        start, end = today
        if start < end and start <= clock < end:
            return True
        if end <= start and clock >= start:
            return True
    yesterday = shifts.get((day - 1) % 7)
    if yesterday is not None:
        start, end = yesterday
        if end <= start and clock < end:
            return True
    return False


def available(user_ids: list[int], now: datetime | None = None) -> set[int]:
    """The ids among `user_ids` who may be given a lead at `now` (naive UTC or aware; default: this
    moment): active, not away in their timezone, and inside their working hours (people without
    working hours always are).

    Who is active, their last day away and their shifts are settings: two queries per set of people
    the first time, then none while the settings are unchanged (services.settings_cache; saving a
    person or their hours renews the token). Whether they are away or at work now is worked out
    from `now` on every call."""
    if not user_ids:
        return set()
    ids = tuple(sorted(set(user_ids)))
    # One entry per token: {ids: their rows}, filled as routing asks (as many sets as rules, at most).
    known = settings_cache("availability.people", dict)
    people = known.get(ids)
    if people is None:
        people = known[ids] = _people(ids)
    team_zone = team_settings.team_timezone()
    now = now or utcnow()
    ready = set()
    for user_id, zone, away_until, shifts in people:
        at = local_now(zone or team_zone, now)
        if not is_away(away_until, at.date()) and within_hours(shifts, at):
            ready.add(user_id)
    return ready


def _people(ids: tuple[int, ...]) -> tuple[tuple, ...]:
    """(id, timezone, last day away, {weekday: (start, end)}) of the active people among `ids`."""
    users = db.session.execute(
        select(User.id, User.timezone, User.away_until).where(User.id.in_(ids), User.active)).all()
    if not users:
        return ()
    shifts: dict[int, dict[int, tuple[time, time]]] = defaultdict(dict)
    for row in db.session.execute(
            select(WorkingHours.user_id, WorkingHours.weekday, WorkingHours.starts_at, WorkingHours.ends_at)
            .where(WorkingHours.user_id.in_([u.id for u in users]))):
        shifts[row.user_id][row.weekday] = (row.starts_at, row.ends_at)
    return tuple((user.id, user.timezone, user.away_until, dict(shifts.get(user.id, {}))) for user in users)


def open_lead_counts(user_ids: list[int]) -> dict[int, int]:
    """How many leads each of `user_ids` owns in open stages (not won or lost): every id asked for
    is a key, 0 when they hold none. One grouped query (leads by owner, on ix_leads_owner_id)."""
    counts = {user_id: 0 for user_id in user_ids}
    if not counts:
        return counts
    rows = db.session.execute(
        select(Lead.owner_id, func.count()).join(Stage, Stage.id == Lead.stage_id)
        .where(Lead.owner_id.in_(list(counts)), Stage.kind == StageKind.open.value)
        .group_by(Lead.owner_id))
    for owner_id, count in rows:
        counts[owner_id] = count
    return counts



WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def set_availability(user_id: int, away_until: date | None, shifts: dict[int, tuple[time, time]],
                     now: datetime | None = None) -> User:
    """Save a person's last day away (None: not away) and weekly shifts {weekday 0-6: (start, end)}
    in their timezone (empty: any time); raises ServiceError naming the bad field."""
    with atomic():
        user = db.session.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFound("That teammate no longer exists.")
        today = local_now(team_settings.user_timezone(user), now).date()
        if away_until is not None and away_until < today:
            raise ServiceError("Pick today or a later day, or leave it empty if you are not away.",
                               field="away_until")
        for weekday, (start, end) in shifts.items():
            if weekday not in range(7):
                raise ServiceError("Pick a day of the week.")
            if start == end:
                raise ServiceError(f"{WEEKDAYS[weekday]}'s hours start and end at the same time; "
                                   "give an end time, or leave the day empty.", field=f"day{weekday}_start")
        user.away_until = away_until
        db.session.execute(delete(WorkingHours).where(WorkingHours.user_id == user.id))
        db.session.add_all(WorkingHours(user_id=user.id, weekday=weekday, starts_at=start, ends_at=end)
                           for weekday, (start, end) in sorted(shifts.items()))
    db.session.expire(user, ["working_hours"])
    return user


def away_now(users: list[User], now: datetime | None = None) -> dict[int, date]:
    """{user id: last day away} for those of `users` who are away today in their own timezone."""
    team_zone = team_settings.team_timezone()
    return {user.id: user.away_until for user in users
            if is_away(user.away_until, local_now(user.timezone or team_zone, now).date())}


def shifts_of(user: User) -> dict[int, tuple[time, time]]:
    """A person's weekly shifts as {weekday: (start, end)}, for forms and summaries."""
    return {hours.weekday: (hours.starts_at, hours.ends_at) for hours in user.working_hours}
