"""Business time: how much of a span fell inside the team's opening hours, and when a target of
business seconds is reached. Pure functions over a Calendar (no database, no clock): the SLA service
builds the calendar from the settings and passes `now` in.

Instants are naive UTC (as stored) or aware; answers are naive UTC. Opening hours are wall-clock
ranges in the team's zone, so a working day that a daylight-saving change shortens or lengthens
counts the hours that really passed; a wall-clock time the change skips opens at the change."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
DAY_MINUTES = 24 * 60
SEARCH_DAYS = 800  # reach() gives up (None) when a calendar has no open time for this long


@dataclass(frozen=True)
class Calendar:
    """The team's week: {weekday 0-6: ((start minute, end minute), ...)} in `zone`, end up to 1440
    (midnight); a weekday missing is closed. No hours at all: every day is open all day. Holidays
    are closed whatever the weekday."""

    zone: str = "UTC"
    hours: dict[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    def ranges(self, day: date) -> tuple[tuple[int, int], ...]:
        if day in self.holidays:
            return ()
        if not self.hours:
            return ((0, DAY_MINUTES),)
        return self.hours.get(day.weekday(), ())


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The aware UTC instant of wall-clock `minute` on `day` in `zone`. A time repeated by a change
    back is its first occurrence; a time skipped by a change forward is the moment of the change."""
    if minute >= DAY_MINUTES:
        day, minute = day + timedelta(days=1), minute - DAY_MINUTES
    local = datetime.combine(day, time(minute // 60, minute % 60))
    for _ in range(24 * 60):  # a gap is at most a day (Samoa, 2011); usually an hour
        aware = local.replace(tzinfo=zone)
        instant = aware.astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == local:
            return instant
        local += timedelta(minutes=1)
    raise ValueError(f"no wall-clock time after {local} exists in {zone}")


wall_clock_instant = _instant  # for other services: sequences' send windows


def _open_spans(calendar: Calendar, start: datetime, until_day: date | None = None):
    """Open (from, to) aware UTC spans clipped to start at `start`, in order, day by day (local)."""
    zone = ZoneInfo(calendar.zone)
    day = start.astimezone(zone).date() - timedelta(days=1)  # yesterday's range may end past midnight UTC
    last = until_day or day + timedelta(days=SEARCH_DAYS)
    while day <= last:
        for begin, end in calendar.ranges(day):
            opens, closes = _instant(day, begin, zone), _instant(day, end, zone)
            if closes > start:
                yield max(opens, start), closes
        day += timedelta(days=1)


def elapsed(calendar: Calendar | None, start: datetime, end: datetime) -> int:
    """Whole business seconds between two instants (0 if end is not after start). calendar None:
    clock time, every second counts."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return 0
    if calendar is None:
        return int((end - start).total_seconds())
    until_day = end.astimezone(ZoneInfo(calendar.zone)).date() + timedelta(days=1)
    total = 0.0
    for opens, closes in _open_spans(calendar, start, until_day):
        if opens >= end:
            break
        total += (min(closes, end) - opens).total_seconds()
    return int(total)


def reach(calendar: Calendar | None, start: datetime, seconds: int) -> datetime | None:
    """The instant (naive UTC) at which `seconds` of business time have passed since `start`; None
    when the calendar has no open time within about two years. calendar None: clock time."""
    start = _utc(start)
    if calendar is None or seconds <= 0:
        return (start + timedelta(seconds=max(seconds, 0))).replace(tzinfo=None)
    left = float(seconds)
    for opens, closes in _open_spans(calendar, start):
        span = (closes - opens).total_seconds()
        if span >= left:
            return (opens + timedelta(seconds=left)).replace(tzinfo=None)
        left -= span
    return None
