"""Reports (/reports): one function per report, each a few SQL aggregates (GROUP BY in the database)
returning plain rows (dicts). Python only arranges what the database already grouped: a handful of
stages, sources, members or weeks, never a row per lead, so a report costs the same at 100,000 leads.

Filters are plain values (clean_filters turns what a URL says into them, or raises FilterError naming
the field). Days are the team's local days (its time zone, daylight saving included): a range runs
from local midnight of its first day to local midnight after its last, inclusive of both ends.
Columns that are days already (expected_close_on, closed_on) are compared as they are."""
from __future__ import annotations

from dataclasses import dataclass
import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Callable, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import Date, and_, case, cast, func, literal, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import (Activity, Appointment, AppointmentStatus, CaptureForm, Lead, LostReason, Note, Sequence,
                        SequenceEnrolment, Stage, StageKind, Task, User)
from app.services import ServiceError, iso_day, lead_queries, utcnow, whole_number
from app.services.business_time import wall_clock_instant
from app.services.team_settings import team_timezone

MAX_SPAN_DAYS = 5 * 366  # a range longer than five years is refused: nobody reads decades at once
DEFAULT_DAYS = 90
FORECAST_MONTHS = 6
TOP = 50  # the most rows a by-source, by-form or by-campaign table shows (the largest first)
STUCK = 10  # the leads stuck longest, listed under stage ageing
FIVE_MINUTES = 300
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


class FilterError(ServiceError):
    """Filters in the URL that cannot be used: `errors` holds every one found, field (start, end, owner,
    source) to message, so a form can show them all at once; `field` and `message` are the first."""

    def __init__(self, message: str, *, field: str | None = None, errors: dict[str, str] | None = None):
        super().__init__(message, field=field)
        self.errors = errors if errors is not None else {field or "start": message}


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    owner_id: int | None = None
    source: str | None = None
    zone: str = "UTC"  # the team's time zone: what a day means

    @property
    def since(self) -> datetime:
        """The naive UTC instant of local midnight starting the first day."""
        return local_midnight(self.start, self.zone)

    @property
    def until(self) -> datetime:  # exclusive
        """The naive UTC instant of local midnight after the last day."""
        return local_midnight(self.end + timedelta(days=1), self.zone)


def local_midnight(day: date, zone: str) -> datetime:
    """The naive UTC instant at which `day` begins in `zone` (a midnight that daylight saving skips
    begins at the change)."""
    if zone == "UTC":
        return datetime.combine(day, time.min)
    return wall_clock_instant(day, 0, ZoneInfo(zone)).replace(tzinfo=None)


def local_today(zone: str, now: datetime | None = None) -> date:
    """The date it is now in `zone` (`now`: naive UTC)."""
    return (now or utcnow()).replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone)).date()


def default_range(report: str, today: date) -> tuple[date, date]:
    """The range a report shows when the URL names none: the last 90 days; the forecast looks ahead."""
    if report == "forecast":
        first = today.replace(day=1)
        year, month = divmod(first.month - 1 + FORECAST_MONTHS, 12)
        return first, date(first.year + year, month + 1, 1) - timedelta(days=1)
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def clean_filters(raw: Mapping[str, str], *, report: str, viewer_id: int, see_everyone: bool,
                  today: date | None = None, zone: str | None = None, visible_to: int | None = None) -> Filters:
    """Filters from a URL's values (start, end: YYYY-MM-DD; owner: a user id; source), their days in
    `zone` (default: the team's time zone), the default range ending on its today. Someone who may
    not see everyone sees only themselves, whatever the URL says. Raises FilterError with every
    field that is wrong, not just the first."""
    zone = zone or team_timezone()
    today = today or local_today(zone)
    default_start, default_end = default_range(report, today)
    errors: dict[str, str] = {}
    start = _day(raw.get("start"), "start", default_start, errors)
    end = _day(raw.get("end"), "end", default_end, errors)
    if start is not None and end is not None:
        if end < start:
            errors["end"] = "The range ends before it starts. Pick an end on or after the start."
        elif (end - start).days > MAX_SPAN_DAYS:
            errors["end"] = "Pick a range of five years or less."
    owner_id = None
    owner_raw = (raw.get("owner") or "").strip()
    if not see_everyone:
        owner_id = viewer_id
    elif owner_raw:
        owner_id = whole_number(owner_raw)
        if owner_id is None or db.session.get(User, owner_id) is None:
            errors["owner"] = "There is no such person on the team. Pick one from the list."
    source = (raw.get("source") or "").strip() or None
    if source is not None:
        if not lead_queries.has_source(source, visible_to):  # hidden leads' sources: as if none had it
            errors["source"] = f"No lead has the source “{source[:100]}”. Pick one from the list."
    if errors:
        field, message = next(iter(errors.items()))
        raise FilterError(message, field=field, errors=errors)
    return Filters(start, end, owner_id, source, zone)


def _day(raw: str | None, field: str, default: date, errors: dict[str, str]) -> date | None:
    """The day `raw` names (the default when blank), or None with a message under `field`."""
    if raw is None or not raw.strip():
        return default
    day = iso_day(raw.strip())
    if day is None:
        errors[field] = "Give a date like 2026-01-31."
    elif not EARLIEST <= day <= LATEST:  # and the day after the end must still be a date
        errors[field] = f"Pick a date from {EARLIEST.year} to {LATEST.year}."
    else:
        return day
    return None


def sources(visible_to: int | None = None) -> list[str]:
    """The sources leads have, for the source picker: the pool's own list (a loose index scan), only
    of the leads `visible_to` may see (permissions.visible_to)."""
    return lead_queries.sources(visible_to)


# --- helpers --------------------------------------------------------------------------------------


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _seconds_since(column, now: datetime) -> ColumnElement:
    """now - column, in seconds, on either database."""
    if _dialect() == "postgresql":
        return func.extract("epoch", literal(now) - column)
    return (func.julianday(literal(now.isoformat(sep=" "))) - func.julianday(column)) * 86400.0


ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")


def _sql_text(value: str) -> ColumnElement:
    """A string as an SQL literal. Literal, not bound: a bound argument would differ between SELECT
    and GROUP BY, and PostgreSQL would not see them as one expression."""
    return literal_column("'" + value.replace("'", "''") + "'")


def _week(column, f: Filters) -> ColumnElement:
    """The local Monday (in the filters' zone) starting the week of the column's naive UTC instant,
    as a date (PostgreSQL) or 'YYYY-MM-DD' (SQLite), for rows inside the filters' range.

    PostgreSQL knows the zones: the instant is read as UTC and turned to the zone's wall clock with
    AT TIME ZONE (timezone()), whose Monday date_trunc finds. SQLite knows no zones, so each instant
    is shifted by the UTC offset in force at that instant, then its Monday is found: the offsets and
    the instants where they change (daylight saving) inside the range are worked out here in Python
    and written into the query as a CASE of a few branches (two a year), so the database still
    groups. Shifting by the offset in force gives the true local wall clock of every instant, so a
    DST week is exact at both ends (the alternative, a CASE of every week's boundaries, needs a
    branch per week: 260 compares a row over five years)."""
    if not ZONE_NAME.fullmatch(f.zone):
        raise ValueError(f"not a time zone name: {f.zone!r}")
    if _dialect() == "postgresql":
        local = func.timezone(_sql_text(f.zone), func.timezone(literal_column("'UTC'"), column))
        return cast(func.date_trunc(literal_column("'week'"), local), Date)
    spans = _offsets(f.since, f.until, ZoneInfo(f.zone))
    shift = _sql_text(_modifier(spans[-1][1]))
    if len(spans) > 1:  # before each change, the offset before it
        shift = case(*[(column < _sql_text(changed.isoformat(sep=" ")), _sql_text(_modifier(offset)))
                       for (_, offset), (changed, _) in zip(spans, spans[1:])], else_=shift)
    return func.date(column, shift, literal_column("'-6 days'"), literal_column("'weekday 1'"))


def _modifier(offset: timedelta) -> str:
    return f"{int(offset.total_seconds()):+d} seconds"


def _offsets(since: datetime, until: datetime, zone: ZoneInfo) -> list[tuple[datetime, timedelta]]:
    """[(from, UTC offset)] for naive UTC [since, until): the offset at `since`, then each change of
    it, to the second. Looks a day at a time (zones change at most once a day), then bisects."""
    def offset(at: datetime) -> timedelta:
        return at.replace(tzinfo=timezone.utc).astimezone(zone).utcoffset()

    spans = [(since, offset(since))]
    at = since
    while at < until:
        step = min(at + timedelta(days=1), until)
        if offset(step) != spans[-1][1]:
            low, high = at, step  # offset(low) is the old one, offset(high) the new
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if offset(middle) == spans[-1][1]:
                    low = middle
                else:
                    high = middle
            spans.append((high, offset(high)))
        at = step
    return spans


def _month(column) -> ColumnElement:
    if _dialect() == "postgresql":
        return func.to_char(column, literal_column("'YYYY-MM'"))
    return func.strftime(literal_column("'%Y-%m'"), column)


def _as_day(value) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else date.fromisoformat(str(value)[:10])


def _scoped(query, f: Filters, *, created: bool = True):
    """Leads captured in the range (when `created`), owned by the filter's owner, from its source;
    never one in the trash."""
    query = query.where(Lead.deleted_at.is_(None))
    if created:
        query = query.where(Lead.created_at >= f.since, Lead.created_at < f.until)
    if f.owner_id is not None:
        query = query.where(Lead.owner_id == f.owner_id)
    if f.source is not None:
        query = query.where(Lead.source == f.source)
    return query


def _money(value, divide: int = 1) -> Decimal:
    """A sum of money as both databases return it (Decimal, or float on SQLite), to the cent."""
    return (Decimal(str(value or 0)) / divide).quantize(Decimal("0.01"))


def _share(part, whole) -> float | None:
    """A percentage, one decimal; None when there is nothing to divide."""
    return round(100.0 * float(part or 0) / float(whole), 1) if whole else None


def _users(ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())


WON = case((Stage.kind == StageKind.won.value, 1), else_=0)
LOST = case((Stage.kind == StageKind.lost.value, 1), else_=0)
WON_VALUE = case((Stage.kind == StageKind.won.value, func.coalesce(Lead.value, 0)), else_=0)


# --- funnel ---------------------------------------------------------------------------------------


def funnel(f: Filters) -> list[dict]:
    """Leads captured in the range, stage by stage. `leads`: in this stage now. `reached`, for an open
    stage: leads that got this far along the pipeline at some time, in this stage or a later open one
    (the further of Lead.reached_stage_id and the open stage they are in now, as the pipeline is
    ordered today), or won; every lead counts as reaching the first open stage. So a lead lost from
    the third stage counts as reaching the first three, and one moved back still counts where it got
    to. For a won or lost stage, `reached` is the leads in it. `conversion`: reached here out of
    reached the stage before (lost stages are left out of that chain), so won out of reached the last
    open stage on the won row; won and lost rows carry the win rate (won out of won and lost).

    One GROUP BY (stage now, furthest stage) read from the covering ix_leads_reports: at most the
    number of stages squared of groups, which Python spreads over the stages."""
    groups = db.session.execute(
        _scoped(select(Lead.stage_id, Lead.reached_stage_id, func.count(), func.coalesce(func.sum(Lead.value), 0)), f)
        .group_by(Lead.stage_id, Lead.reached_stage_id)).all()
    stages = list(db.session.scalars(select(Stage).order_by(Stage.position, Stage.id)))
    place = {s.id: (s.position, s.id) for s in stages}  # how far along the pipeline, as pipeline() orders it
    kind = {s.id: s.kind for s in stages}
    open_stages = [s for s in stages if s.kind == StageKind.open.value]
    counts: dict[int, list] = {}
    reached = dict.fromkeys(place, 0)
    for stage_id, reached_id, n, value in groups:
        here = counts.setdefault(stage_id, [0, 0])
        here[0] += n
        here[1] += Decimal(str(value or 0))
        if kind.get(stage_id) == StageKind.won.value:
            furthest = max(place.values())  # won: past every open stage
        else:
            marks = [place[reached_id]] if reached_id in place else []
            if kind.get(stage_id) == StageKind.open.value:
                marks.append(place[stage_id])
            if open_stages:
                marks.append(place[open_stages[0].id])
            furthest = max(marks, default=(-1, -1))
        for s in open_stages:
            if place[s.id] <= furthest:
                reached[s.id] += n
    won = sum(counts.get(s.id, (0, 0))[0] for s in stages if s.kind == StageKind.won.value)
    lost = sum(counts.get(s.id, (0, 0))[0] for s in stages if s.kind == StageKind.lost.value)
    rows, previous = [], None
    for stage in stages:
        n, value = counts.get(stage.id, (0, 0))
        here = reached[stage.id] if stage.kind == StageKind.open.value else n
        conversion = None
        if stage.kind != StageKind.lost.value and previous is not None:
            conversion = _share(here, previous)
        rows.append({"stage": stage.name, "kind": stage.kind, "leads": n, "reached": here,
                     "conversion": conversion, "value": _money(value),
                     "win_rate": _share(won, won + lost) if stage.kind != StageKind.open.value else None})
        if stage.kind != StageKind.lost.value:
            previous = here
    return rows


# --- conversion by source, form, campaign ------------------------------------------------------


def _conversion(f: Filters, key, label: Callable[[object], str]) -> list[dict]:
    query = (_scoped(select(key.label("key"), func.count().label("leads"), func.sum(WON).label("won"),
                            func.sum(LOST).label("lost"), func.sum(WON_VALUE).label("won_value")), f)
             .join(Stage, Stage.id == Lead.stage_id).group_by(key).order_by(func.count().desc(), key).limit(TOP))
    rows = db.session.execute(query).all()
    names = label([r.key for r in rows])
    return [{"name": names(r.key), "leads": r.leads, "won": int(r.won or 0), "lost": int(r.lost or 0),
             "conversion": _share(r.won, r.leads), "win_rate": _share(r.won, (r.won or 0) + (r.lost or 0)),
             "won_value": _money(r.won_value)} for r in rows]


def _plain(none: str):
    return lambda keys: (lambda key: key if key else none)


def _form_names(keys):
    ids = [k for k in keys if k is not None]
    names = dict(db.session.execute(select(CaptureForm.id, CaptureForm.name).where(CaptureForm.id.in_(ids))).all()) \
        if ids else {}
    return lambda key: names.get(key, "Deleted form") if key is not None else "No form (typed, imported or API)"


def conversion_by_source(f: Filters) -> list[dict]:
    """Per source: leads captured in the range, how many are won and lost now, conversion (won of all),
    win rate (won of closed) and won value; the 50 largest sources."""
    return _conversion(f, Lead.source, _plain("No source"))


def conversion_by_form(f: Filters) -> list[dict]:
    """As conversion_by_source, per capture form."""
    return _conversion(f, Lead.capture_form_id, _form_names)


def conversion_by_campaign(f: Filters) -> list[dict]:
    """As conversion_by_source, per UTM campaign."""
    return _conversion(f, Lead.utm_campaign, _plain("No campaign"))


# --- speed to lead --------------------------------------------------------------------------------


def _speed(f: Filters, key, names) -> list[dict]:
    """Median and 90th percentile (nearest rank) of the first response, the share answered within
    five minutes and within the lead's SLA target, per key, the 50 keys with most answers."""
    seconds = Lead.first_response_seconds
    everyone = key is None  # one row for the whole team
    key = literal_column("'all'") if everyone else key
    pg = _dialect() == "postgresql"
    columns = [key.label("key"), func.count().label("answered"),
               func.sum(case((seconds <= FIVE_MINUTES, 1), else_=0)).label("in_five"),
               func.sum(case((and_(Lead.sla_due_at.is_not(None), Lead.first_response_at <= Lead.sla_due_at), 1),
                             else_=0)).label("in_sla"),
               func.sum(case((Lead.sla_due_at.is_not(None), 1), else_=0)).label("has_sla")]
    if pg:  # percentile_disc is the nearest rank: the first value whose cumulative share reaches p
        columns += [func.percentile_disc(0.5).within_group(seconds).label("median"),
                    func.percentile_disc(0.9).within_group(seconds).label("p90")]
    query = _scoped(select(*columns), f).where(seconds.is_not(None))
    if not everyone:  # PostgreSQL refuses a constant in GROUP BY and ORDER BY
        query = query.group_by(key).order_by(func.count().desc(), key).limit(TOP)
    rows = db.session.execute(query).all()
    percentiles = {r.key: (r.median, r.p90) for r in rows} if pg else _ranked_percentiles(f, key, everyone)
    name = names([r.key for r in rows])
    return [{"name": name(r.key), "answered": r.answered, "median_minutes": _minutes(percentiles[r.key][0]),
             "p90_minutes": _minutes(percentiles[r.key][1]), "within_5_minutes": _share(r.in_five, r.answered),
             "within_sla": _share(r.in_sla, r.has_sla)} for r in rows if r.answered]


def _ranked_percentiles(f: Filters, key, everyone: bool) -> dict:
    """SQLite, which has no ordered-set aggregates: each answer ranked in its group by one window
    (row number and the group's size share its sort), then the first rank reaching 50% and 90%."""
    seconds = Lead.first_response_seconds
    ranked = (_scoped(select(key.label("key"), seconds.label("s"),
                             func.row_number().over(partition_by=key, order_by=seconds).label("rn"),
                             func.count().over(partition_by=key, order_by=seconds, rows=(None, None)).label("n")), f)
              .where(seconds.is_not(None)).subquery())
    query = select(ranked.c.key, func.min(case((ranked.c.rn >= ranked.c.n * 0.5, ranked.c.s))),
                   func.min(case((ranked.c.rn >= ranked.c.n * 0.9, ranked.c.s))))
    if not everyone:
        query = query.group_by(ranked.c.key)
    return {k: (median, p90) for k, median, p90 in db.session.execute(query)}


def _minutes(seconds) -> float | None:
    return None if seconds is None else round(float(seconds) / 60.0, 1)


def _user_names(keys):
    names = _users(keys)
    return lambda key: names.get(key, "Someone no longer on the team") if key is not None else "Nobody"


def speed_by_member(f: Filters) -> list[dict]:
    """Speed to lead per member who answered first, over leads captured in the range and answered."""
    return _speed(f, Lead.first_response_by_id, _user_names)


def speed_by_source(f: Filters) -> list[dict]:
    """Speed to lead per source, over leads captured in the range and answered."""
    return _speed(f, Lead.source, _plain("No source"))


def speed_overall(f: Filters) -> dict:
    """The whole team's speed to lead and how many leads still wait for a first response."""
    rows = _speed(f, None, _plain("Everyone"))
    waiting = db.session.scalar(_scoped(select(func.count()).select_from(Lead), f)
                                .where(Lead.first_response_at.is_(None), Lead.closed_on.is_(None)))
    return {**(rows[0] if rows else {"answered": 0}), "waiting": waiting}


# --- stage ageing ---------------------------------------------------------------------------------


def stage_ageing(f: Filters, now: datetime | None = None) -> list[dict]:
    """Per open stage, the leads captured in the range that sit in it now: how many, their average and
    longest time in the stage, in days."""
    now = now or utcnow()
    age = _seconds_since(Lead.stage_entered_at, now)
    rows = {r.stage_id: r for r in db.session.execute(
        _scoped(select(Lead.stage_id, func.count().label("leads"), func.avg(age).label("average"),
                       func.max(age).label("longest")), f)
        .join(Stage, Stage.id == Lead.stage_id).where(Stage.kind == StageKind.open.value).group_by(Lead.stage_id))}
    stages = db.session.scalars(select(Stage).where(Stage.kind == StageKind.open.value).order_by(Stage.position))
    return [{"stage": s.name, "leads": rows[s.id].leads if s.id in rows else 0,
             "average_days": _days(rows[s.id].average) if s.id in rows else None,
             "longest_days": _days(rows[s.id].longest) if s.id in rows else None} for s in stages]


def stuck_leads(f: Filters, now: datetime | None = None, limit: int = STUCK) -> list[dict]:
    """The open leads (captured in the range) that have been in their stage longest: the first few of
    each open stage in (stage_id, stage_entered_at) index order, then the oldest of those."""
    now = now or utcnow()
    found = []
    for stage_id, stage in db.session.execute(select(Stage.id, Stage.name).where(Stage.kind == StageKind.open.value)):
        query = (_scoped(select(Lead.id, Lead.first_name, Lead.last_name, Lead.email, Lead.company,
                                Lead.stage_entered_at), f)
                 .where(Lead.stage_id == stage_id).order_by(Lead.stage_entered_at, Lead.id).limit(limit)
                 # SQLite would read the range from ix_leads_reports and sort it (170 ms at 100,000 leads);
                 # walking the stage's index in order stops at the tenth match (1 ms).
                 .with_hint(Lead, "INDEXED BY ix_leads_stage_entered", "sqlite"))
        found += [(r, stage) for r in db.session.execute(query)]
    found.sort(key=lambda pair: (pair[0].stage_entered_at, pair[0].id))
    return [{"lead_id": r.id, "name": f"{r.first_name} {r.last_name}".strip() or r.email or r.company or "Unnamed lead",
             "stage": stage, "days": _days((now - r.stage_entered_at).total_seconds())} for r, stage in found[:limit]]


def _days(seconds) -> float | None:
    return None if seconds is None else round(float(seconds) / 86400.0, 1)


# --- team activity --------------------------------------------------------------------------------


def team_activity(f: Filters) -> list[dict]:
    """Per member per week (weeks start on the team's local Monday): touches (calls, emails and meetings logged, notes
    written), tasks done, appointments booked and, of those booked, confirmed by the prospect.
    The owner filter picks the member; the source filter, the leads' source."""
    measures = {
        "touches": [(Activity.user_id, Activity.created_at, Activity.lead_id, None),
                    (Note.author_id, Note.created_at, Note.lead_id, None)],
        "tasks_done": [(Task.done_by_id, Task.done_at, Task.lead_id, None)],
        "booked": [(Appointment.booked_by_id, Appointment.created_at, Appointment.lead_id, None)],
        "confirmed": [(Appointment.booked_by_id, Appointment.created_at, Appointment.lead_id,
                       Appointment.status == AppointmentStatus.confirmed.value)],
    }
    cells: dict[tuple[int, date], dict[str, int]] = {}
    for measure, parts in measures.items():
        for who, at, lead_id, extra in parts:
            week = _week(at, f)
            query = (select(who, week, func.count()).where(at >= f.since, at < f.until, who.is_not(None))
                     .group_by(who, week))
            if extra is not None:
                query = query.where(extra)
            if f.owner_id is not None:
                query = query.where(who == f.owner_id)
            if f.source is not None:
                query = query.join(Lead, Lead.id == lead_id).where(Lead.source == f.source)
            for user_id, day, n in db.session.execute(query):
                cell = cells.setdefault((user_id, _as_day(day)), dict.fromkeys(measures, 0))
                cell[measure] += n
    names = _users(uid for uid, _ in cells)
    rows = [{"member": names.get(uid, "Someone no longer on the team"), "week": week, **cell}
            for (uid, week), cell in cells.items()]
    rows.sort(key=lambda r: (r["week"], r["member"].lower()), reverse=False)
    return rows


def activity_totals(rows: list[dict]) -> list[dict]:
    """team_activity's rows summed per member (for the chart)."""
    totals: dict[str, dict] = {}
    for row in rows:
        t = totals.setdefault(row["member"], {"member": row["member"], "touches": 0, "tasks_done": 0,
                                              "booked": 0, "confirmed": 0})
        for key in ("touches", "tasks_done", "booked", "confirmed"):
            t[key] += row[key]
    return sorted(totals.values(), key=lambda t: (-t["touches"], t["member"].lower()))


# --- lost reasons ---------------------------------------------------------------------------------


def lost_reasons(f: Filters) -> list[dict]:
    """Leads lost in the range (their close day), per lost reason: how many, their value, and the share."""
    query = (_scoped(select(Lead.lost_reason_id, func.count(), func.coalesce(func.sum(Lead.value), 0)), f, created=False)
             .join(Stage, Stage.id == Lead.stage_id)
             .where(Stage.kind == StageKind.lost.value, Lead.closed_on >= f.start, Lead.closed_on <= f.end)
             .group_by(Lead.lost_reason_id).order_by(func.count().desc()))
    rows = db.session.execute(query).all()
    names = dict(db.session.execute(select(LostReason.id, LostReason.name)).all())
    total = sum(n for _, n, _ in rows)
    return [{"reason": names.get(rid, "Unknown reason") if rid is not None else "No reason given",
             "leads": n, "share": _share(n, total), "value": _money(value)} for rid, n, value in rows]


# --- sequence results -----------------------------------------------------------------------------


def sequence_results(f: Filters) -> list[dict]:
    """Per sequence, the enrolments made in the range (of leads the filters pick): how many, still
    running, finished every step, stopped early (replied, booked, closed, unsubscribed...), emails
    sent, and how many of those leads are won now."""
    e = SequenceEnrolment
    query = (select(e.sequence_id, func.count().label("enrolled"),
                    func.sum(case((e.status.in_(("active", "paused")), 1), else_=0)).label("running"),
                    func.sum(case((e.status == "finished", 1), else_=0)).label("finished"),
                    func.sum(case((e.status == "stopped", 1), else_=0)).label("stopped"),
                    func.coalesce(func.sum(e.sent), 0).label("sent"), func.sum(WON).label("won"))
             .join(Lead, Lead.id == e.lead_id).join(Stage, Stage.id == Lead.stage_id)
             .where(e.enrolled_at >= f.since, e.enrolled_at < f.until)
             .group_by(e.sequence_id).order_by(func.count().desc()).limit(TOP))
    rows = db.session.execute(_scoped(query, f, created=False)).all()
    names = dict(db.session.execute(select(Sequence.id, Sequence.name)
                                    .where(Sequence.id.in_([r.sequence_id for r in rows]))).all()) if rows else {}
    return [{"sequence": names.get(r.sequence_id, "Deleted sequence"), "enrolled": r.enrolled,
             "running": int(r.running or 0), "finished": int(r.finished or 0), "stopped": int(r.stopped or 0),
             "sent": int(r.sent or 0), "won": int(r.won or 0), "won_share": _share(r.won, r.enrolled)}
            for r in rows]


# --- forecast -------------------------------------------------------------------------------------


def forecast(f: Filters) -> list[dict]:
    """Open leads expected to close in the range, by month: their value and their value weighted by
    their stage's probability (a stage without one counts as 0%). Open leads with no expected close
    day come last, as one row, whatever the range."""
    month = _month(Lead.expected_close_on)
    weighted = func.sum(func.coalesce(Lead.value, 0) * func.coalesce(Stage.probability, 0))
    base = (_scoped(select(month.label("month"), func.count().label("leads"),
                           func.coalesce(func.sum(Lead.value), 0).label("value"), weighted.label("weighted")),
                    f, created=False)
            .join(Stage, Stage.id == Lead.stage_id).where(Stage.kind == StageKind.open.value))
    dated = (base.where(Lead.expected_close_on >= f.start, Lead.expected_close_on <= f.end)
             .group_by(month).order_by(month))
    undated = base.where(Lead.expected_close_on.is_(None)).group_by(month)
    rows = [{"month": r.month, "leads": r.leads, "value": _money(r.value),
             "weighted": _money(r.weighted, 100)} for r in db.session.execute(dated)]
    for r in db.session.execute(undated):
        if r.leads:
            rows.append({"month": None, "leads": r.leads, "value": _money(r.value),
                         "weighted": _money(r.weighted, 100)})
    return rows
