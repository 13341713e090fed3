"""First-response SLA: the team's business hours, holidays and target rules (settings), the clock
on each lead (when it started, when the first response is due, stored once), the badge cards show,
and the worker's escalation sweep (a warning at 80%, then the breach and its action).

The clock starts when a lead is added and again when a person is given it before anyone answered;
the first response (services/touches.touch) stops it. Business time comes from business_time.py
over the calendar read here; every function takes `now` so tests inject the clock.

Escalations happen once: the sweep claims due leads with UPDATE ... WHERE sla_warned_at IS NULL
(or sla_breached_at IS NULL) and only the claimed rows get their timeline entry, notifications and
breach action, in that same transaction. Two workers sweeping at once: on PostgreSQL the second
waits for the first's row locks, then its condition no longer matches; SQLite runs them one after
the other (BEGIN IMMEDIATE)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import BusinessHours, CaptureForm, Holiday, Lead, Role, SlaRule, User
from app.services import audit
from app.services import NotFound, ServiceError, atomic, iso_day, settings_cache, team_settings, transaction_memo, utcnow
from app.services import events
from app.services.notifications import notify
from app.services.business_time import DAY_MINUTES, Calendar, elapsed, reach
from app.services.scoring import band_of, band_named, bands
from app.services.timeline import record

MATCHES = {"source": "Source is", "form": "Came in through the form", "band": "Score band is",
           "any": "Everything else"}
ON_BREACH = {"nothing": "Nothing more (notify only)", "pool": "Back to the pool",
             "next": "To the next person by the assignment rules"}
UNITS = {"minutes": 1, "hours": 60}
MAX_TARGET_MINUTES = 30 * 24 * 60  # a month: a "first response" target longer than that is a typo
WARN_SHARE = 0.8  # the owner is warned when this share of the target has passed
HOLIDAYS_MAX = 400
RANGES_PER_DAY = 4
BATCH = 200  # leads one sweep transaction escalates
SWEEP_BATCHES = 20  # at most this many batches per sweep; the rest wait for the next interval
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RANGE = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?\s*$")


class SlaRuleNotFound(NotFound):
    def __init__(self):
        super().__init__("That target no longer exists. Reload the page to see the current targets.")


# --- settings: business hours and holidays ---------------------------------------------------------


def _clock(hours: str, minutes: str | None, field: str, day: str) -> int:
    h, m = int(hours), int(minutes or 0)
    if m > 59 or h > 24 or (h == 24 and m):
        raise ServiceError(f"{day}: {hours}:{minutes or '00'} is not a time of day; use 00:00 to 24:00.", field=field)
    return h * 60 + m


def parse_ranges(text: str | None, weekday: int) -> tuple[tuple[int, int], ...]:
    """A weekday's opening hours as typed ("09:00-17:00", "9-12, 13:00-17:30"; empty: closed) to
    (start, end) minutes in order; raises ServiceError naming the day's field."""
    field, day = f"day{weekday}", WEEKDAYS[weekday]
    parts = [p for p in re.split(r"[,;]", text or "") if p.strip()]
    if len(parts) > RANGES_PER_DAY:
        raise ServiceError(f"{day}: give at most {RANGES_PER_DAY} ranges.", field=field)
    ranges = []
    for part in parts:
        plain = part.replace("–", "-").replace("—", "-")  # en and em dashes, as word processors type them
        found = RANGE.match(plain) if plain.isascii() else None
        if not found:
            raise ServiceError(f"{day}: write hours as 09:00-17:00 (several with commas), or leave it empty "
                               "for a closed day.", field=field)
        start, end = _clock(found[1], found[2], field, day), _clock(found[3], found[4], field, day)
        if end <= start:
            raise ServiceError(f"{day}: {part.strip()} ends before it starts. Hours cannot run past midnight; "
                               "end the day at 24:00.", field=field)
        ranges.append((start, end))
    ranges.sort()
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        if start < end:
            raise ServiceError(f"{day}: two ranges overlap; make each start after the one before ends.", field=field)
    return tuple(ranges)


def parse_holidays(text: str | None) -> dict[date, str]:
    """One holiday a line, "2026-12-25 Christmas" (the name optional), to {day: name}; raises
    ServiceError naming the line that is wrong."""
    days: dict[date, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        raw, _, name = line.strip().partition(" ")
        day = iso_day(raw)
        if day is None:
            raise ServiceError(f"Line {number}: “{line.strip()[:40]}” does not start with a date such as 2026-12-25.",
                               field="holidays")
        if not 2000 <= day.year <= 2100:
            raise ServiceError(f"Line {number}: give a day between the years 2000 and 2100.", field="holidays")
        if day in days:
            raise ServiceError(f"Line {number}: {day.isoformat()} is listed twice; keep one line for it.",
                               field="holidays")
        days[day] = " ".join(name.split())[:80]
    if len(days) > HOLIDAYS_MAX:
        raise ServiceError(f"List at most {HOLIDAYS_MAX} holidays.", field="holidays")
    return days


def save_calendar(days: dict[int, str | None], holidays_text: str | None, actor_id: int | None = None) -> None:
    """Replace the business hours (typed per weekday) and holidays; raises ServiceError naming the
    field, and then nothing is saved. Clocks already running keep the due time they were given."""
    hours = {weekday: parse_ranges(days.get(weekday), weekday) for weekday in range(7)}
    holidays = parse_holidays(holidays_text)
    with atomic():
        db.session.execute(delete(BusinessHours))
        db.session.execute(delete(Holiday))
        db.session.add_all(BusinessHours(weekday=weekday, start_minute=start, end_minute=end)
                           for weekday, ranges in hours.items() for start, end in ranges)
        db.session.add_all(Holiday(day=day, name=name) for day, name in sorted(holidays.items()))
        audit.record(actor_id, "business_hours.saved", f"Business hours and {len(holidays)} holidays")


def hours() -> dict[int, tuple[tuple[int, int], ...]]:
    found: dict[int, list[tuple[int, int]]] = {}
    for row in db.session.scalars(select(BusinessHours).order_by(BusinessHours.weekday, BusinessHours.start_minute)):
        found.setdefault(row.weekday, []).append((row.start_minute, row.end_minute))
    return {weekday: tuple(ranges) for weekday, ranges in found.items()}


def holidays() -> list[Holiday]:
    return list(db.session.scalars(select(Holiday).order_by(Holiday.day)))


def format_ranges(ranges) -> str:
    """(start, end) minutes back to "09:00-17:00, ..." as the form shows them."""
    return ", ".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in ranges)


def format_holidays(rows: list[Holiday]) -> str:
    return "\n".join(f"{row.day.isoformat()} {row.name}".strip() for row in rows)


def calendar() -> Calendar:
    """The team's business calendar in the team timezone: plain data, kept between transactions while
    the settings are unchanged (services.settings_cache), so a capture reads no hours or holidays."""
    def load():
        return Calendar(team_settings.team_timezone(), hours(), frozenset(db.session.scalars(select(Holiday.day))))
    return settings_cache("sla.calendar", load)


# --- settings: target rules ------------------------------------------------------------------------


def rules() -> list[SlaRule]:
    """The target rules in the order they are tried."""
    return transaction_memo("sla.rules", lambda: list(db.session.scalars(
        select(SlaRule).order_by(SlaRule.position, SlaRule.id))))


@dataclass(frozen=True)
class Target:
    """A target rule as plain data (what a capture's clock reads), kept by services.settings_cache."""

    id: int
    match: str
    value: str
    target_minutes: int
    business_time: bool
    on_breach: str


def targets() -> tuple[Target, ...]:
    """The target rules in the order they are tried, as plain data: no query while they are unchanged."""
    return settings_cache("sla.targets", lambda: tuple(
        Target(r.id, r.match, r.value or "", r.target_minutes, bool(r.business_time), r.on_breach)
        for r in rules()))


def get_rule(rule_id: int) -> SlaRule:
    rule = db.session.get(SlaRule, rule_id)
    if rule is None:
        raise SlaRuleNotFound()
    return rule


def check_target(amount, unit: str | None) -> int:
    """A target as typed (a whole number of minutes or hours) in minutes; raises ServiceError."""
    text = amount.strip() if isinstance(amount, str) else str(amount or "")
    if unit not in UNITS:
        raise ServiceError("Pick minutes or hours.", field="unit")
    if not (text.isascii() and text.isdigit()):
        raise ServiceError("Give the target as a whole number, such as 5 or 30.", field="amount")
    if len(text) > 6:
        raise ServiceError("Keep the target to 30 days (720 hours) or less.", field="amount")
    minutes = int(text) * UNITS[unit]
    if minutes < 1:
        raise ServiceError("A target of zero can never be met; give at least 1 minute.", field="amount")
    if minutes > MAX_TARGET_MINUTES:
        raise ServiceError("Keep the target to 30 days (720 hours) or less.", field="amount")
    return minutes


def _check_value(match: str, value: str | None) -> str:
    value = " ".join((value or "").split())
    if match == "any":
        return ""
    if match == "source":
        if not value:
            raise ServiceError("Name the source, as leads carry it (e.g. website).", field="source")
        return value[:100]
    if match == "form":
        form_id = int(value) if value.isdigit() else None
        if form_id is None or db.session.get(CaptureForm, form_id) is None:
            raise ServiceError("Pick one of the capture forms.", field="form_id")
        return str(form_id)
    band = band_named(value)
    if band is None:
        raise ServiceError("Pick one of the score bands.", field="band")
    return band.name


def _checked(match: str, on_breach: str, amount, unit: str) -> int:
    """The target in minutes, once what it applies to and what a breach does are known choices."""
    if match not in MATCHES:
        raise ServiceError("Pick what the target applies to.", field="match")
    if on_breach not in ON_BREACH:
        raise ServiceError("Pick what happens at a breach.", field="on_breach")
    return check_target(amount, unit)


def _refuse_twice(others: list[SlaRule], match: str, value: str) -> None:
    """A second target for the same source, form or band (in any case) could never apply."""
    if match != "any" and any(r.match == match and r.value.casefold() == value.casefold() for r in others):
        field = {"source": "source", "form": "form_id", "band": "band"}[match]
        raise ServiceError("There is already a target for this; edit that one instead.", field=field)


def _ordered(rules: list[SlaRule]) -> None:
    """Number the rules in their order, "everything else" last."""
    for position, row in enumerate([r for r in rules if r.match != "any"] + [r for r in rules if r.match == "any"]):
        row.position = position


def add_rule(*, match: str, value: str | None, amount, unit: str, business_time: bool, on_breach: str,
             actor_id: int | None = None) -> SlaRule:
    """Add a target rule at the end (before "everything else" if there is one); raises ServiceError
    naming the bad field. Only one "everything else" rule may exist."""
    minutes = _checked(match, on_breach, amount, unit)
    with atomic():
        value = _check_value(match, value)
        existing = list(db.session.scalars(select(SlaRule).order_by(SlaRule.position, SlaRule.id).with_for_update()))
        if match == "any" and any(r.match == "any" for r in existing):
            raise ServiceError("There is already an “everything else” target; edit that one instead.", field="match")
        _refuse_twice(existing, match, value)
        rule = SlaRule(match=match, value=value, target_minutes=minutes, business_time=business_time,
                       on_breach=on_breach)
        db.session.add(rule)
        _ordered([*existing, rule])
        audit.record(actor_id, "sla_rule.saved", f"{describe_match(rule)}: {describe_target(rule)}")
    return rule


def update_rule(rule_id: int, *, match: str, value: str | None, amount, unit: str, business_time: bool,
                on_breach: str, actor_id: int | None = None) -> SlaRule:
    """Change a target rule in place, keeping its place in the order; raises ServiceError naming the
    bad field, SlaRuleNotFound. Leads it already timed keep the due time they were given."""
    minutes = _checked(match, on_breach, amount, unit)
    with atomic():
        value = _check_value(match, value)
        existing = list(db.session.scalars(select(SlaRule).order_by(SlaRule.position, SlaRule.id).with_for_update()))
        rule = get_rule(rule_id)
        if match == "any" and any(r.match == "any" and r.id != rule.id for r in existing):
            raise ServiceError("There is already an “everything else” target; edit that one instead.", field="match")
        _refuse_twice([r for r in existing if r.id != rule.id], match, value)
        rule.match, rule.value, rule.target_minutes = match, value, minutes
        rule.business_time, rule.on_breach = business_time, on_breach
        _ordered(existing)
        audit.record(actor_id, "sla_rule.saved", f"{describe_match(rule)}: {describe_target(rule)}")
    return rule


def delete_rule(rule_id: int, actor_id: int | None = None) -> None:
    """Delete a target rule; leads it already timed keep their due time, and a breach then does
    nothing more than tell people. Their rule id is let go (read through ix_leads_sla_next: only
    running clocks), since SQLite may give the same id to the next rule added."""
    with atomic():
        rule = get_rule(rule_id)
        audit.record(actor_id, "sla_rule.deleted", f"{describe_match(rule)}: {describe_target(rule)}")
        db.session.delete(rule)
        db.session.execute(update(Lead).where(Lead.sla_next_at.is_not(None), Lead.sla_rule_id == rule_id)
                           .values(sla_rule_id=None).execution_options(synchronize_session=False))


def shift_rule(rule_id: int, offset: int) -> None:
    """Move a rule up (-1) or down (+1); "everything else" stays last."""
    with atomic():
        existing = list(db.session.scalars(select(SlaRule).order_by(SlaRule.position, SlaRule.id).with_for_update()))
        ordered = [r for r in existing if r.match != "any"]
        rule = get_rule(rule_id)
        if rule in ordered:
            index = ordered.index(rule)
            ordered.insert(min(max(index + offset, 0), len(ordered) - 1), ordered.pop(index))
            _ordered(ordered + [r for r in existing if r.match == "any"])


def describe_target(rule: SlaRule) -> str:
    """"5 min, business time" / "2 h, clock time"."""
    minutes = rule.target_minutes
    amount = f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
    return f"{amount} in {'business' if rule.business_time else 'clock'} time"


def describe_match(rule: SlaRule, form_names: dict[int, str] | None = None) -> str:
    if rule.match == "any":
        return "Everything else"
    if rule.match == "form":
        names = form_names if form_names is not None else form_choices_by_id()
        return f"Came in through the form “{names.get(int(rule.value), 'a deleted form')}”"
    if rule.match == "band" and band_named(rule.value) is None:
        return f"{MATCHES[rule.match]} “{rule.value}” (no band has this name now, so this target never applies: edit it)"
    return f"{MATCHES[rule.match]} “{rule.value}”"


def form_choices_by_id() -> dict[int, str]:
    return dict(db.session.execute(select(CaptureForm.id, CaptureForm.name).order_by(CaptureForm.name)).all())


def band_names() -> list[str]:
    return [band.name for band in bands()]


# --- the clock on a lead -----------------------------------------------------------------------------


def rule_for(lead: Lead, candidates=None) -> Target | SlaRule | None:
    """The first target rule that matches the lead (its source, form, or score band), or None."""
    band = None
    for rule in candidates if candidates is not None else targets():
        if rule.match == "any":
            return rule
        if rule.match == "source" and (lead.source or "").casefold() == rule.value.casefold():
            return rule
        if rule.match == "form" and lead.capture_form_id is not None and str(lead.capture_form_id) == rule.value:
            return rule
        if rule.match == "band":
            band = band or band_of(lead.score or 0)
            if band is not None and band.name.casefold() == rule.value.casefold():
                return rule
    return None


def _due(rule: SlaRule, start: datetime, share: float = 1.0) -> datetime | None:
    seconds = int(rule.target_minutes * 60 * share)
    return reach(calendar() if rule.business_time else None, start, seconds)


def start_clock(lead: Lead, now: datetime) -> None:
    """Start (or restart) the lead's first-response clock at `now` under the rule that matches it,
    storing its due and warning instants (call inside atomic(), after the lead is scored). A lead
    already answered or closed (won or lost), or matching no rule, gets no clock."""
    if lead.first_response_at is not None or lead.closed_on is not None:
        return
    rule = rule_for(lead)
    due = _due(rule, now) if rule else None
    if due is None:
        lead.sla_rule_id = lead.sla_started_at = lead.sla_due_at = lead.sla_next_at = None
    else:
        lead.sla_rule_id, lead.sla_started_at, lead.sla_due_at = rule.id, now, due
        lead.sla_next_at = min(_due(rule, now, WARN_SHARE) or due, due)
    lead.sla_warned_at = lead.sla_breached_at = None


def owner_changed(lead: Lead, now: datetime) -> None:
    """A person was given the lead (call inside the atomic() that gave it): their clock starts now,
    unless it was already answered. Back to the pool keeps the clock running (and any breach)."""
    if lead.owner_id is not None and lead.first_response_at is None:
        start_clock(lead, now)


def response_seconds(lead: Lead, at: datetime) -> int:
    """How long the first response took, in the team's business time since the lead was captured."""
    return elapsed(calendar(), lead.created_at, at)


@dataclass(frozen=True)
class Badge:
    state: str  # "running", "due_soon", "breached"
    text: str
    due_at: datetime


def badge(lead: Lead, now: datetime) -> Badge | None:
    """What the card and lead page show of the SLA at `now`: None when the lead has no clock or was
    answered or closed; else the time left, "due soon" past the warning, or breached."""
    from app.services.touches import duration_words  # touches reads this module for response_seconds
    due = lead.sla_due_at
    if due is None or lead.first_response_at is not None or lead.closed_on is not None:
        return None
    if lead.sla_breached_at is not None or now >= due:
        return Badge("breached", f"Response overdue by {duration_words(int((now - due).total_seconds()))}", due)
    left = duration_words(int((due - now).total_seconds()))
    soon = lead.sla_warned_at is not None or (lead.sla_next_at is not None and lead.sla_next_at <= now)
    return Badge("due_soon" if soon else "running", f"{left} left to respond", due)


# --- escalation (the worker's sweep) ---------------------------------------------------------------


def _admins() -> list[int]:
    return list(db.session.scalars(select(User.id).where(User.role == Role.admin.value, User.active.is_(True))))


def _claim(values: dict, *conditions, now: datetime, batch: int) -> list[int]:
    """Mark up to `batch` due leads matching `conditions` with `values`; returns the ids this
    transaction claimed (the WHERE is checked again on the row, so a lead is claimed once)."""
    conditions = (*conditions, Lead.deleted_at.is_(None))  # the trash escalates nothing
    due = (select(Lead.id).where(Lead.sla_next_at <= now, *conditions)
           .order_by(Lead.sla_next_at).limit(batch).scalar_subquery())
    return list(db.session.scalars(
        update(Lead).where(Lead.id.in_(due), Lead.sla_next_at <= now, Lead.first_response_at.is_(None), *conditions)
        .values(**values).returning(Lead.id).execution_options(synchronize_session=False)))


def _leads(ids: list[int]) -> list[Lead]:
    return list(db.session.scalars(select(Lead).options(joinedload(Lead.owner)).where(Lead.id.in_(ids))
                                   .order_by(Lead.id).execution_options(populate_existing=True)))


def warn_due(now: datetime, batch: int = BATCH) -> int:
    """Warn the owners of leads past the warning instant and not yet due (one transaction)."""
    with atomic():
        ids = _claim({"sla_warned_at": now, "sla_next_at": Lead.sla_due_at},
                     Lead.sla_warned_at.is_(None), Lead.sla_breached_at.is_(None), Lead.sla_due_at > now,
                     now=now, batch=batch)
        for lead in _leads(ids):
            left = int((lead.sla_due_at - now).total_seconds()) // 60
            record(lead.id, "sla_warning", None, {"due_at": lead.sla_due_at.isoformat(), "minutes_left": left}, now)
            notify([lead.owner_id], "sla_warning",
                    f"{lead.full_name} is waiting for a first response: {max(left, 1)} min left.", lead_id=lead.id, now=now)
            events.emit("lead.sla_warning", lead_id=lead.id, data={"due_at": lead.sla_due_at.isoformat()}, now=now)
        return len(ids)


def breach_due(now: datetime, batch: int = BATCH) -> int:
    """Record the breach of leads past due (one transaction): notify the owner and admins, then do
    what the lead's rule says (back to the pool, or the next person by the assignment rules)."""
    from app.services.assignment import route  # assignment imports leads, which starts clocks here
    from app.services.scoring import rescore
    with atomic():
        ids = _claim({"sla_breached_at": now, "sla_next_at": None},
                     Lead.sla_breached_at.is_(None), Lead.sla_due_at <= now, now=now, batch=batch)
        if not ids:
            return 0
        rules_by_id = {rule.id: rule for rule in rules()}
        admins = _admins()
        for lead in _leads(ids):
            rule = rules_by_id.get(lead.sla_rule_id)
            action = rule.on_breach if rule else "nothing"
            owner = lead.owner
            record(lead.id, "sla_breached", None, {"due_at": lead.sla_due_at.isoformat(), "owner": owner.name if owner else None,
                                                   "action": action if owner else "nothing"}, now)
            notify([lead.owner_id, *admins], "sla_breach",
                    f"{lead.full_name} had no first response in time{f' from {owner.name}' if owner else ''}.",
                    lead_id=lead.id, now=now)
            events.emit("lead.sla_breached", lead_id=lead.id,
                        data={"due_at": lead.sla_due_at.isoformat(), "owner_id": owner.id if owner else None}, now=now)
            if owner is None or action == "nothing":
                continue
            lead.owner_id, lead.owner = None, None
            lead.updated_at, lead.version = now, Lead.version + 1
            db.session.flush()
            routed = route(lead, now, exclude=frozenset({owner.id})) if action == "next" else None
            if routed is None:
                record(lead.id, "assigned", None, {"from": owner.name, "to": None, "why": "first-response target missed"}, now)
                events.emit("lead.assigned", lead_id=lead.id, data={"previous_owner_id": owner.id, "owner_id": None},
                            now=now)
            else:
                db.session.expire(lead, ["owner"])
                start_clock(lead, now)  # the next person gets the full target
            rescore(lead, now)
        return len(ids)


def escalate_due(now: datetime | None = None, *, batch: int = BATCH, batches: int = SWEEP_BATCHES) -> tuple[int, int]:
    """Warn and breach whatever is due at `now`, a batch per transaction; returns (warned, breached).
    Reads only the leads with an escalation due (ix_leads_sla_next), never all leads."""
    now = now or utcnow()
    warned = breached = 0
    for _ in range(batches):
        done = warn_due(now, batch)
        warned += done
        if done < batch:
            break
    for _ in range(batches):
        done = breach_due(now, batch)
        breached += done
        if done < batch:
            break
    return warned, breached


def sweep() -> None:
    """Housekeeping (worker.py): the SLA warnings and breaches now due."""
    escalate_due()
