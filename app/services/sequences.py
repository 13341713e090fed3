"""Nurture sequences: a few well-timed emails (and calls for the owner) that stop the moment the
prospect engages.

A sequence is ordered steps; each waits a delay (days, or the team's working days) after the step
before (the first: after enrolment) and then for its send window (weekdays and hours in the lead's
timezone). A lead is enrolled by hand, in bulk, or by a rule (captured from a form or source, lost
with a reason, its score reaching a band). The worker's tick (`run_due`) claims due enrolments with
a conditional UPDATE and, in the same transaction, queues the step's email in the outbox (or makes
the task) and records a `SequenceSend`, unique per enrolment and step: a step runs once, whatever
restarts, flushes or second workers happen. A step due while the worker was down runs when it is
back, inside its window, or waits for the next window.

Enrolments stop on what engagement or an ending means, each hook called in the transaction of the
event: an appointment booked (`on_booked`), a won or lost stage (`on_stage_change`), an unsubscribe
or a hard bounce (`on_address_refused`), a reply logged (`on_reply`), a manual stop, and enrolment
in another sequence (`Sequence.stop_on_other`). Every enrolment, send, skip and stop is on the lead's
timeline with its reason."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import (
    EmailTemplate, EnrolmentStatus, Lead, Sequence, SequenceEnrolment, SequenceRule, SequenceSend, SequenceStatus,
    SequenceStep, StepKind, TimelineEntry,
)
from app.services import audit
from app.services import (
    Conflict, NotFound, ServiceError, atomic, clean_name, settings_cache, taken_as, utcnow, whole_number,
)
from app.services.business_time import DAY_MINUTES, wall_clock_instant
from app.services.team_settings import team_timezone
from app.services.timeline import record

log = logging.getLogger(__name__)
BATCH = 200  # enrolments one tick transaction runs
SET_ASIDE = timedelta(hours=1)  # an enrolment whose step failed is tried again this much later
TICK_BATCHES = 50  # at most this many batches a tick; the rest wait for the next interval
MAX_DELAY_DAYS = 365
NAME_LIMIT = 100
TASK_TITLE_LIMIT = 200
EMAIL_KIND = "sequence_email"

STOP_REASONS = {
    "booked": "an appointment was booked",
    "won": "the lead was won",
    "lost": "the lead was lost",
    "unsubscribed": "the prospect unsubscribed",
    "bounced": "the address bounced",
    "replied": "the prospect replied",
    "manual": "by hand",
    "automation": "by an automation",
    "other_sequence": "enrolled in another sequence",
    "no_steps": "the sequence has no steps left",
    "merged": "the lead was merged into another",
    "deleted": "the lead was deleted",
}
SKIP_REASONS = {
    "no_email": "the lead has no email address",
    "template": "the template could not be written for this lead",
    "no_owner": "the lead has no owner to call",
    "suppressed": "the address is on the suppression list",
}
RULE_KINDS = {"form": "Captured from the form", "source": "Captured with the source",
              "lost_reason": "Lost with the reason", "band": "Score reaches the band"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class SequenceNotFound(NotFound):
    def __init__(self):
        super().__init__("That sequence no longer exists.")


class StepNotFound(NotFound):
    def __init__(self):
        super().__init__("That step no longer exists.")


class EnrolmentNotFound(NotFound):
    def __init__(self):
        super().__init__("That enrolment no longer exists.")


# --- the lead's timezone and the step's timing ------------------------------------------------------


@lru_cache(maxsize=1)
def country_zones() -> dict[str, str]:
    """{ISO country code: its zone} for countries whose zones all keep the same clock (Germany's
    Berlin and Büsingen; not the United States), from the zone database's zone.tab (tzdata package).
    Also the booking form's default prospect timezone."""
    zones: dict[str, list[str]] = {}
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            zones.setdefault(parts[0], []).append(parts[2])
    probes = [datetime(2026, month, 15, tzinfo=timezone.utc) for month in (1, 4, 7, 10)]

    def clock(name: str) -> tuple:
        return tuple(probe.astimezone(ZoneInfo(name)).utcoffset() for probe in probes)
    return {country: names[0] for country, names in zones.items() if len({clock(name) for name in names}) == 1}


def lead_zone(lead: Lead) -> str:
    """The lead's timezone for send windows: its country's, when the whole country keeps one clock
    (France, Germany, Japan...); otherwise (no country, or one spanning zones: the US) the team's."""
    return country_zones().get((lead.country or "").upper()) or team_timezone()


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def _naive(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(tzinfo=None)


def _working_day(day: date, hours: dict, holidays: frozenset) -> bool:
    if day in holidays:
        return False
    return bool(hours.get(day.weekday())) if hours else day.weekday() < 5


def add_delay(step: SequenceStep, start: datetime, zone: str, calendar=None) -> datetime:
    """`start` plus the step's delay in days of the lead's calendar (`zone`), at the same wall-clock
    time (a day across a daylight-saving change is 23 or 25 hours): every day, or only the team's
    working days (its business hours' weekdays, Monday to Friday when none are set, never a holiday)."""
    if not step.delay_days:
        return start
    tz = ZoneInfo(zone)
    local = _utc(start).astimezone(tz)
    day, left = local.date(), step.delay_days
    if step.business_days:
        from app.services.sla import calendar as team_calendar  # sla imports scoring, which enrols by band
        calendar = calendar or team_calendar()
        while left:
            day += timedelta(days=1)
            if _working_day(day, calendar.hours, calendar.holidays):
                left -= 1
    else:
        day += timedelta(days=left)
    minute = local.hour * 60 + local.minute
    return _naive(wall_clock_instant(day, minute, tz)) + timedelta(seconds=local.second)


def window_open(step: SequenceStep, at: datetime, zone: str) -> datetime:
    """The first instant at or after `at` (naive UTC) inside the step's send window in `zone`; a
    window that a daylight-saving change shortens opens at the change."""
    days = {int(d) for d in step.window_days} if step.window_days else set(range(7))
    if step.window_start is None and len(days) == 7:
        return at
    tz = ZoneInfo(zone)
    start_minute = step.window_start if step.window_start is not None else 0
    end_minute = step.window_end if step.window_end is not None else DAY_MINUTES
    day = _utc(at).astimezone(tz).date()
    for _ in range(15):
        if day.weekday() in days:
            opens = _naive(wall_clock_instant(day, start_minute, tz))
            closes = _naive(wall_clock_instant(day, end_minute, tz))
            if at < closes:
                return max(at, opens)
        day += timedelta(days=1)
    return at  # unreachable: a window has at least one weekday


def describe_window(step: SequenceStep) -> str:
    """When in the week a step goes out: "sent weekdays, 09:00–17:00" (an email), "due any day" (a task)."""
    verb = "due" if step.kind == StepKind.task.value else "sent"
    return f"{verb} {_window_days_and_hours(step)}"


def _window_days_and_hours(step: SequenceStep) -> str:
    days = sorted(int(d) for d in step.window_days) if step.window_days else list(range(7))
    if days == list(range(5)):
        named = "weekdays"
    elif len(days) == 7:
        named = "any day"
    else:
        named = ", ".join(WEEKDAYS[d] for d in days)
    if step.window_start is None:
        return named
    return f"{named}, {_clock(step.window_start)}–{_clock(step.window_end if step.window_end is not None else DAY_MINUTES)}"


def describe_delay(step: SequenceStep) -> str:
    if not step.delay_days:
        return "right away"
    unit = "working day" if step.business_days else "day"
    return f"after {step.delay_days} {unit}{'s' if step.delay_days != 1 else ''}"


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# --- sequences and steps (/settings/sequences) ------------------------------------------------------


def sequences() -> list[Sequence]:
    return list(db.session.scalars(select(Sequence).order_by(func.lower(Sequence.name), Sequence.id)))


def get_sequence(sequence_id: int) -> Sequence:
    sequence = db.session.get(Sequence, sequence_id) if isinstance(sequence_id, int) else None
    if sequence is None:
        raise SequenceNotFound()
    return sequence


def get_step(step_id: int) -> SequenceStep:
    step = db.session.get(SequenceStep, step_id) if isinstance(step_id, int) else None
    if step is None or step.removed_at is not None:
        raise StepNotFound()
    return step


def steps(sequence_id: int) -> list[SequenceStep]:
    return list(db.session.scalars(select(SequenceStep).options(joinedload(SequenceStep.template)).where(
        SequenceStep.sequence_id == sequence_id, SequenceStep.removed_at.is_(None)).order_by(SequenceStep.position)))


def _clean_name(name: str | None, existing_id: int | None) -> str:
    name = clean_name(name, "sequence", NAME_LIMIT)
    taken = db.session.scalar(select(Sequence.id).where(func.lower(Sequence.name) == name.lower(),
                                                        Sequence.id != (existing_id or 0)))
    if taken is not None:
        raise _name_taken()
    return name


def _name_taken() -> Conflict:
    return Conflict("Another sequence has that name. Pick another.", field="name")


def create_sequence(name: str, stop_on_other: bool = True, actor_id: int | None = None,
                    now: datetime | None = None) -> Sequence:
    """A new sequence, in draft until it has steps and is started. Raises ServiceError (field name)."""
    now = now or utcnow()
    with taken_as(_name_taken), atomic():
        sequence = Sequence(name=_clean_name(name, None), status=SequenceStatus.draft.value,
                            stop_on_other=bool(stop_on_other), created_at=now, updated_at=now, created_by_id=actor_id)
        db.session.add(sequence)
        db.session.flush()
        audit.record(actor_id, "sequence.added", f"Sequence {sequence.name}")
    return sequence


def update_sequence(sequence_id: int, name: str, stop_on_other: bool, now: datetime | None = None,
                    actor_id: int | None = None) -> Sequence:
    with taken_as(_name_taken), atomic():
        sequence = get_sequence(sequence_id)
        new = _clean_name(name, sequence.id)
        audit.record(actor_id, "sequence.changed", f"Sequence {sequence.name}" + (f", now {new}" if new != sequence.name else ""))
        sequence.name, sequence.stop_on_other = new, bool(stop_on_other)
        sequence.updated_at = now or utcnow()
    return sequence


def delete_sequence(sequence_id: int, actor_id: int | None = None) -> None:
    """Delete a sequence nobody was ever enrolled in (else: pause it, its history stays)."""
    with atomic():
        sequence = get_sequence(sequence_id)
        if db.session.scalar(select(SequenceEnrolment.id).where(SequenceEnrolment.sequence_id == sequence.id).limit(1)):
            raise Conflict("Leads have been enrolled in this sequence, so its history stays: pause it instead.")
        db.session.execute(SequenceRule.__table__.delete().where(SequenceRule.sequence_id == sequence.id))
        db.session.execute(SequenceStep.__table__.delete().where(SequenceStep.sequence_id == sequence.id))
        audit.record(actor_id, "sequence.deleted", f"Sequence {sequence.name}")
        db.session.delete(sequence)


@dataclass
class StepSettings:
    kind: str = StepKind.email.value
    template_id: int | None = None
    task_title: str = ""
    delay_days: object = 0
    business_days: bool = False
    window_days: str = ""  # digits 0-6 (Monday = 0); "" = every day
    window_start: int | None = None  # minutes after midnight; None = any time
    window_end: int | None = None


def check_step(settings: StepSettings) -> StepSettings:
    """The step's settings checked; raises ServiceError naming the field."""
    if settings.kind not in (StepKind.email.value, StepKind.task.value):
        raise ServiceError("Choose an email or a call task.", field="kind")
    template_id, title = None, None
    if settings.kind == StepKind.email.value:
        if not isinstance(settings.template_id, int) or db.session.get(EmailTemplate, settings.template_id) is None:
            raise ServiceError("Choose the email template this step sends.", field="template_id")
        template_id = settings.template_id
    else:
        title = " ".join((settings.task_title or "").split())
        if not title:
            raise ServiceError("Say what the owner should do, e.g. “Call”.", field="task_title")
        if len(title) > TASK_TITLE_LIMIT:
            raise ServiceError(f"Keep the task to {TASK_TITLE_LIMIT} characters.", field="task_title")
    raw = str(settings.delay_days if settings.delay_days is not None else "").strip().replace("−", "-")
    if not re.fullmatch(r"-?\d{1,6}", raw):
        raise ServiceError("Give the delay in whole days (0 for right away).", field="delay_days")
    delay = int(raw)
    if delay < 0:
        raise ServiceError("A delay cannot be negative: use 0 for right away.", field="delay_days")
    if delay > MAX_DELAY_DAYS:
        raise ServiceError(f"Keep the delay to at most {MAX_DELAY_DAYS} days (a year).", field="delay_days")
    days = "".join(sorted(set(settings.window_days or "")))
    if not re.fullmatch(r"[0-6]*", days):
        raise ServiceError("Pick the weekdays from the list.", field="window_days")
    if len(days) == 7:
        days = ""
    start, end = settings.window_start, settings.window_end
    if (start is None) != (end is None):
        raise ServiceError("Give the window both a start and an end time, or neither.",
                           field="window_end" if end is None else "window_start")
    if start is not None:
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < DAY_MINUTES and 0 < end <= DAY_MINUTES):
            raise ServiceError("Give the window's times as hours and minutes, e.g. 09:00.", field="window_start")
        if end <= start:
            raise ServiceError("The window must end after it starts (e.g. 09:00 to 11:00).", field="window_end")
    return StepSettings(kind=settings.kind, template_id=template_id, task_title=title or "", delay_days=delay,
                        business_days=bool(settings.business_days) and delay > 0, window_days=days,
                        window_start=start, window_end=end)


def _write_step(step: SequenceStep, settings: StepSettings, now: datetime) -> None:
    step.kind, step.template_id = settings.kind, settings.template_id
    step.task_title = settings.task_title or None
    step.delay_days, step.business_days = settings.delay_days, settings.business_days
    step.window_days, step.window_start, step.window_end = settings.window_days, settings.window_start, settings.window_end
    step.updated_at = now


def add_step(sequence_id: int, settings: StepSettings, now: datetime | None = None,
             actor_id: int | None = None) -> SequenceStep:
    """A step at the end of the sequence. Leads already past the end are not brought back."""
    now = now or utcnow()
    with atomic():
        sequence = get_sequence(sequence_id)
        settings = check_step(settings)
        last = db.session.scalar(select(func.max(SequenceStep.position)).where(SequenceStep.sequence_id == sequence.id))
        step = SequenceStep(sequence_id=sequence.id, position=(last or 0) + 1, created_at=now)
        _write_step(step, settings, now)
        db.session.add(step)
        sequence.updated_at = now
        db.session.flush()
        audit.record(actor_id, "sequence_step.added", f"{describe_step(step)} in the sequence {sequence.name}")
    return step


def update_step(step_id: int, settings: StepSettings, now: datetime | None = None,
                actor_id: int | None = None) -> SequenceStep:
    """Change a step: what was sent stays as it was; the next sends use the new settings (a send
    reads its step when it runs; an enrolment already waiting for this step keeps its due time)."""
    now = now or utcnow()
    with atomic():
        step = get_step(step_id)
        _write_step(step, check_step(settings), now)
        sequence = db.session.get(Sequence, step.sequence_id)
        sequence.updated_at = now
        db.session.flush()
        db.session.expire(step, ["template"])  # the template it names now
        audit.record(actor_id, "sequence_step.changed", f"{describe_step(step)} in the sequence {sequence.name}")
    return step


def remove_step(step_id: int, now: datetime | None = None, actor_id: int | None = None) -> None:
    """Take a step out; enrolments waiting for it go on to the step after (due as they were)."""
    now = now or utcnow()
    with atomic():
        step = get_step(step_id)
        audit.record(actor_id, "sequence_step.removed", f"{describe_step(step)} in the sequence {get_sequence(step.sequence_id).name}")
        step.removed_at = now
        db.session.flush()
        following = _step_after(step.sequence_id, step.position)
        waiting = (update(SequenceEnrolment).where(SequenceEnrolment.step_id == step.id,
                                                   SequenceEnrolment.ended_at.is_(None))
                   .execution_options(synchronize_session=False))
        if following is not None:
            db.session.execute(waiting.values(step_id=following.id))
        else:
            _end_waiting_on(step, now)


def _end_waiting_on(step: SequenceStep, now: datetime) -> None:
    ids = list(db.session.scalars(select(SequenceEnrolment.id).where(SequenceEnrolment.step_id == step.id,
                                                                     SequenceEnrolment.ended_at.is_(None))))
    if ids:
        _finish(ids, now)


def move_step(step_id: int, offset: int) -> None:
    with atomic():
        step = get_step(step_id)
        ordered = steps(step.sequence_id)
        index = next(i for i, s in enumerate(ordered) if s.id == step.id)
        target = index + (1 if offset > 0 else -1)
        if 0 <= target < len(ordered):
            other = ordered[target]
            step.position, other.position = other.position, step.position


def _step_after(sequence_id: int, position: int) -> SequenceStep | None:
    return db.session.scalar(select(SequenceStep).where(
        SequenceStep.sequence_id == sequence_id, SequenceStep.removed_at.is_(None),
        SequenceStep.position > position).order_by(SequenceStep.position).limit(1))


def start(sequence_id: int, now: datetime | None = None, actor_id: int | None = None) -> Sequence:
    """Draft or paused to active; a sequence with no steps cannot be started. Resuming lets the
    waiting enrolments go on: a step that fell due meanwhile goes out in its next window."""
    now = now or utcnow()
    with atomic():
        sequence = get_sequence(sequence_id)
        if not steps(sequence.id):
            raise ServiceError("Add a step before starting the sequence.", field="steps")
        if sequence.status == SequenceStatus.paused.value:
            db.session.execute(update(SequenceEnrolment).where(
                SequenceEnrolment.sequence_id == sequence.id, SequenceEnrolment.status == EnrolmentStatus.paused.value)
                .values(status=EnrolmentStatus.active.value).execution_options(synchronize_session=False))
        sequence.status, sequence.updated_at = SequenceStatus.active.value, now
        audit.record(actor_id, "sequence.started", f"Sequence {sequence.name}")
    return sequence


def pause(sequence_id: int, now: datetime | None = None, actor_id: int | None = None) -> Sequence:
    """Nothing more is sent until it is resumed; enrolments keep their place (and can still stop)."""
    now = now or utcnow()
    with atomic():
        sequence = get_sequence(sequence_id)
        if sequence.status != SequenceStatus.active.value:
            raise Conflict("Only a running sequence can be paused.")
        db.session.execute(update(SequenceEnrolment).where(
            SequenceEnrolment.sequence_id == sequence.id, SequenceEnrolment.status == EnrolmentStatus.active.value)
            .values(status=EnrolmentStatus.paused.value).execution_options(synchronize_session=False))
        sequence.status, sequence.updated_at = SequenceStatus.paused.value, now
        audit.record(actor_id, "sequence.paused", f"Sequence {sequence.name}")
    return sequence


# --- enrolment rules ----------------------------------------------------------------------------------


def rules(sequence_id: int) -> list[SequenceRule]:
    return list(db.session.scalars(select(SequenceRule).where(SequenceRule.sequence_id == sequence_id)
                                   .order_by(SequenceRule.id)))


def _rule_value(kind: str, value) -> str:
    from app.models import CaptureForm, LostReason
    from app.services.scoring import band_named
    text = " ".join(str(value if value is not None else "").split())
    if kind == "form":
        form_id = whole_number(text)
        form = db.session.get(CaptureForm, form_id) if form_id is not None else None
        if form is None:
            raise ServiceError("Choose one of the capture forms.", field="value")
        return str(form.id)
    if kind == "lost_reason":
        reason_id = whole_number(text)
        reason = db.session.get(LostReason, reason_id) if reason_id is not None else None
        if reason is None:
            raise ServiceError("Choose one of the lost reasons.", field="value")
        return str(reason.id)
    if kind == "band":
        band = band_named(text)
        if band is None:
            raise ServiceError("Choose one of the score bands.", field="value")
        return band.name
    if not text:
        raise ServiceError("Give the source, as leads carry it (e.g. “webinar”).", field="value")
    if len(text) > 100:
        raise ServiceError("Keep the source to 100 characters.", field="value")
    return text.lower()


def add_rule(sequence_id: int, kind: str, value, now: datetime | None = None, actor_id: int | None = None) -> SequenceRule:
    """Enrol leads in this sequence when `kind` happens with `value`. Raises ServiceError."""
    if kind not in RULE_KINDS:
        raise ServiceError("Choose when leads are enrolled.", field="kind")
    with atomic():
        sequence = get_sequence(sequence_id)
        value = _rule_value(kind, value)
        if db.session.scalar(select(SequenceRule.id).where(SequenceRule.sequence_id == sequence.id,
                                                           SequenceRule.kind == kind, SequenceRule.value == value)):
            raise Conflict("This sequence already has that rule.", field="value")
        rule = SequenceRule(sequence_id=sequence.id, kind=kind, value=value, created_at=now or utcnow())
        db.session.add(rule)
        db.session.flush()
        audit.record(actor_id, "sequence_rule.added", f"Sequence {sequence.name}: {describe_rule(rule)}")
    return rule


def remove_rule(rule_id: int, actor_id: int | None = None) -> None:
    with atomic():
        rule = db.session.get(SequenceRule, rule_id) if isinstance(rule_id, int) else None
        if rule is None:
            raise NotFound("That rule no longer exists.")
        audit.record(actor_id, "sequence_rule.removed", f"Sequence {get_sequence(rule.sequence_id).name}: {describe_rule(rule)}")
        db.session.delete(rule)


def describe_rule(rule: SequenceRule) -> str:
    from app.models import CaptureForm, LostReason
    if rule.kind == "form":
        form = db.session.get(CaptureForm, int(rule.value))
        return f"Captured from the form “{form.name if form else 'deleted form'}”"
    if rule.kind == "lost_reason":
        reason = db.session.get(LostReason, int(rule.value))
        return f"Lost with the reason “{reason.name if reason else 'deleted reason'}”"
    return f"{RULE_KINDS[rule.kind]} “{rule.value}”"


def _rules_by_kind() -> dict[tuple[str, str], list[int]]:
    """{(kind, value): [sequence ids]} of running sequences' rules (no query while settings are unchanged)."""
    def load():
        found: dict[tuple[str, str], list[int]] = {}
        for kind, value, sequence_id in db.session.execute(
                select(SequenceRule.kind, SequenceRule.value, SequenceRule.sequence_id).join(Sequence)
                .where(Sequence.status == SequenceStatus.active.value)):
            found.setdefault((kind, value), []).append(sequence_id)
        return found
    return settings_cache("sequences.rules", load)


# --- enrolling -----------------------------------------------------------------------------------------


def _first_due(sequence_id: int, lead: Lead, now: datetime) -> tuple[SequenceStep | None, datetime | None]:
    first = _step_after(sequence_id, -1)
    if first is None:
        return None, None
    zone = lead_zone(lead)
    return first, window_open(first, add_delay(first, now, zone), zone)


def enrol(lead_id: int, sequence_id: int, actor_id: int | None, *, how: str = "hand",
          now: datetime | None = None) -> SequenceEnrolment:
    """Enrol one lead (one transaction, or a savepoint inside the caller's). Raises ServiceError:
    the sequence is not started, the lead is in it already, its address refuses email, or the team
    requires marketing consent it has not given (services/consent.py)."""
    from app.services.leads import get_lead
    from app.services.suppression import is_suppressed
    now = now or utcnow()
    with atomic():
        sequence, lead = get_sequence(sequence_id), get_lead(lead_id)
        _lock(sequence.id)
        if sequence.status == SequenceStatus.draft.value:
            raise ServiceError(f"“{sequence.name}” is not started yet: start it in Settings → Sequences first.",
                               field="sequence_id")
        if _current(lead.id, sequence.id) is not None:
            raise Conflict(f"This lead is already in “{sequence.name}”.", field="sequence_id")
        if lead.email and (is_suppressed(lead.email) or lead.email_undeliverable_at is not None):
            raise ServiceError("This lead's address does not take our emails (unsubscribed or bounced), "
                               "so a sequence cannot write to it.", field="sequence_id")
        from app.services.consent import enrol_refusal
        if (refusal := enrol_refusal(lead)) is not None:
            raise ServiceError(refusal, field="sequence_id")
        if not lead.email and all(step.kind == StepKind.email.value for step in steps(sequence.id)):
            raise ServiceError(f"This lead has no email address, and every step of “{sequence.name}” is an email. "
                               "Add an address with Edit details first.", field="sequence_id")
        return _enrol(lead, sequence, actor_id, how, now)


def _lock(sequence_id: int) -> None:
    """Hold the sequence's row until the transaction ends (PostgreSQL; SQLite writes one at a time
    anyway), so two enrolments of one lead at the same moment are one enrolment and one "already in"."""
    db.session.execute(select(Sequence.id).where(Sequence.id == sequence_id).with_for_update())


def _current(lead_id: int, sequence_id: int) -> SequenceEnrolment | None:
    return db.session.scalar(select(SequenceEnrolment).where(
        SequenceEnrolment.lead_id == lead_id, SequenceEnrolment.sequence_id == sequence_id,
        SequenceEnrolment.ended_at.is_(None)))


def _enrol(lead: Lead, sequence: Sequence, actor_id: int | None, how: str, now: datetime) -> SequenceEnrolment:
    _stop_others(lead.id, sequence.id, now)
    step, due = _first_due(sequence.id, lead, now)
    status = EnrolmentStatus.paused.value if sequence.status == SequenceStatus.paused.value else EnrolmentStatus.active.value
    enrolment = SequenceEnrolment(sequence_id=sequence.id, lead_id=lead.id, status=status,
                                  step_id=step.id if step else None, next_at=due, enrolled_at=now,
                                  enrolled_by_id=actor_id, how=how, sent=0)
    db.session.add(enrolment)
    db.session.flush()
    record(lead.id, "sequence_enrolled", actor_id, {"sequence": sequence.name, "how": how,
                                                    "next_at": due.isoformat() if due else None}, now)
    return enrolment


def _stop_others(lead_id: int, sequence_id: int, now: datetime) -> None:
    """Enrolling in `sequence_id` stops the lead's enrolments in sequences that say so."""
    others = list(db.session.scalars(select(SequenceEnrolment.id).join(Sequence).where(
        SequenceEnrolment.lead_id == lead_id, SequenceEnrolment.ended_at.is_(None),
        SequenceEnrolment.sequence_id != sequence_id, Sequence.stop_on_other.is_(True))))
    if others:
        _stop(others, "other_sequence", None, now)


def enrol_many(lead_ids: list[int], sequence_id: int, actor_id: int | None, *, how: str = "bulk",
               now: datetime | None = None) -> int:
    """Enrol these leads (one transaction, or a savepoint inside the caller's): those already in it,
    who replied to it before, deleted, without an address for an all-email sequence, or whose
    address refuses email are passed over. Set-based: a few statements whatever
    the number of leads (one read, one insert of enrolments, one of timeline entries). Returns how
    many were enrolled. Raises ServiceError (the sequence is not started, more than MAX_BULK leads)."""
    from app.services.leads import MAX_BULK
    from app.services.suppression import suppressed_among
    now = now or utcnow()
    with atomic():
        sequence = get_sequence(sequence_id)
        _lock(sequence.id)
        if sequence.status == SequenceStatus.draft.value:
            raise ServiceError(f"“{sequence.name}” is not started yet: start it in Settings → Sequences first.",
                               field="sequence_id")
        wanted = sorted({lead_id for lead_id in lead_ids if isinstance(lead_id, int)})
        if not wanted:
            return 0
        if len(wanted) > MAX_BULK:  # a batch stays within what one IN (...) may hold
            raise ServiceError(f"Select at most {MAX_BULK} leads at a time.", field="lead_ids")
        already = (select(SequenceEnrolment.id).where(
            SequenceEnrolment.lead_id == Lead.id, SequenceEnrolment.sequence_id == sequence.id,
            SequenceEnrolment.ended_at.is_(None)).exists())
        not_an_email = select(SequenceStep.id).where(SequenceStep.sequence_id == sequence.id,
                                                     SequenceStep.kind != StepKind.email.value).exists()
        from app.services.consent import clause as consented
        rows = db.session.execute(select(Lead.id, Lead.email, Lead.country).where(
            Lead.id.in_(wanted), Lead.deleted_at.is_(None), Lead.email_undeliverable_at.is_(None), ~already, ~_replied_to(sequence.id),
            or_(Lead.email.is_not(None), not_an_email), *[c for c in (consented(),) if c is not None])
            .order_by(Lead.id)).all()
        refused = suppressed_among([row.email for row in rows if row.email])
        rows = [row for row in rows if not (row.email and row.email in refused)]
        if not rows:
            return 0
        ids = [row.id for row in rows]
        others = list(db.session.scalars(select(SequenceEnrolment.id).join(Sequence).where(
            SequenceEnrolment.lead_id.in_(ids), SequenceEnrolment.ended_at.is_(None),
            SequenceEnrolment.sequence_id != sequence.id, Sequence.stop_on_other.is_(True))))
        if others:
            _stop(others, "other_sequence", None, now)
        first = _step_after(sequence.id, -1)
        status = EnrolmentStatus.paused.value if sequence.status == SequenceStatus.paused.value else EnrolmentStatus.active.value
        due_in: dict[str, datetime | None] = {}  # the first step's due time, once per timezone
        enrolments, entries = [], []
        for row in rows:
            zone = lead_zone(row)
            if zone not in due_in:
                due_in[zone] = window_open(first, add_delay(first, now, zone), zone) if first else None
            due = due_in[zone]
            enrolments.append({"sequence_id": sequence.id, "lead_id": row.id, "status": status,
                               "step_id": first.id if first else None, "next_at": due, "enrolled_at": now,
                               "enrolled_by_id": actor_id, "how": how, "sent": 0})
            entries.append({"lead_id": row.id, "kind": "sequence_enrolled", "actor_id": actor_id, "created_at": now,
                            "data": {"sequence": sequence.name, "how": how,
                                     "next_at": due.isoformat() if due else None}})
        db.session.execute(insert(SequenceEnrolment), enrolments)
        db.session.execute(insert(TimelineEntry), entries)
        return len(rows)


def _replied_to(sequence_id: int):
    """Whether the lead answered this sequence once (an enrolment in it stopped for a reply): a
    person has the conversation now, so bulk and rule enrolment pass them over (a rep enrolling
    the one lead by hand still may)."""
    return select(SequenceEnrolment.id).where(
        SequenceEnrolment.lead_id == Lead.id, SequenceEnrolment.sequence_id == sequence_id,
        SequenceEnrolment.stop_reason == "replied").exists()


def _enrol_by_rules(lead: Lead, keys: list[tuple[str, str]], now: datetime) -> None:
    """Enrol the lead in the running sequences whose rules match one of `keys` (inside the event's
    transaction); a lead already in one, or whose address refuses email, is passed over."""
    wanted = _rules_by_kind()
    if not wanted:
        return
    from app.services.consent import enrol_refusal
    if enrol_refusal(lead) is not None:
        return
    sequence_ids = sorted({sid for key in keys for sid in wanted.get(key, ())})
    for sequence_id in sequence_ids:
        _lock(sequence_id)
        if lead.email_undeliverable_at is not None or _current(lead.id, sequence_id) is not None:
            continue
        from app.services.suppression import is_suppressed
        if lead.email and is_suppressed(lead.email):
            continue
        _enrol(lead, db.session.get(Sequence, sequence_id), None, "rule", now)


def on_captured(lead: Lead, now: datetime) -> None:
    """A new lead was captured: enrol it where a form or source rule says."""
    keys = [("source", (lead.source or "").strip().lower())]
    if lead.capture_form_id is not None:
        keys.append(("form", str(lead.capture_form_id)))
    _enrol_by_rules(lead, keys, now)


def on_band_reached(lead_ids_bands: list[tuple[int, str]], now: datetime) -> None:
    """Leads whose score just entered a band: enrol them where a band rule says. Set-based, a
    sequence at a time (a mass rescore can carry thousands of leads across a band)."""
    from app.services.leads import MAX_BULK
    wanted = _rules_by_kind()
    by_sequence: dict[int, set[int]] = {}
    for lead_id, band in lead_ids_bands:
        for sequence_id in wanted.get(("band", band), ()):
            by_sequence.setdefault(sequence_id, set()).add(lead_id)
    for sequence_id in sorted(by_sequence):
        ids = sorted(by_sequence[sequence_id])
        for start in range(0, len(ids), MAX_BULK):
            enrol_many(ids[start:start + MAX_BULK], sequence_id, None, how="rule", now=now)


# --- stopping ------------------------------------------------------------------------------------------


def _stop(enrolment_ids: list[int], reason: str, actor_id: int | None, now: datetime) -> int:
    """End these enrolments with `reason` (only those still current), each on its lead's timeline."""
    stopped = db.session.execute(
        update(SequenceEnrolment).where(SequenceEnrolment.id.in_(enrolment_ids), SequenceEnrolment.ended_at.is_(None))
        .values(status=EnrolmentStatus.stopped.value, stop_reason=reason, ended_at=now, next_at=None, step_id=None)
        .returning(SequenceEnrolment.lead_id, SequenceEnrolment.sequence_id)
        .execution_options(synchronize_session=False)).all()
    if stopped:
        names = dict(db.session.execute(select(Sequence.id, Sequence.name).where(
            Sequence.id.in_({sequence_id for _, sequence_id in stopped}))).all())
        db.session.execute(insert(TimelineEntry), [
            {"lead_id": lead_id, "kind": "sequence_stopped", "actor_id": actor_id, "created_at": now,
             "data": {"sequence": names.get(sequence_id), "reason": reason}} for lead_id, sequence_id in stopped])
        for enrolment in db.session.identity_map.values():
            if isinstance(enrolment, SequenceEnrolment) and enrolment.id in enrolment_ids:
                db.session.expire(enrolment)
    return len(stopped)


def _finish(enrolment_ids: list[int], now: datetime) -> None:
    finished = db.session.execute(
        update(SequenceEnrolment).where(SequenceEnrolment.id.in_(enrolment_ids), SequenceEnrolment.ended_at.is_(None))
        .values(status=EnrolmentStatus.finished.value, ended_at=now, next_at=None, step_id=None)
        .returning(SequenceEnrolment.lead_id, SequenceEnrolment.sequence_id)
        .execution_options(synchronize_session=False)).all()
    if finished:
        names = dict(db.session.execute(select(Sequence.id, Sequence.name)).all())
        db.session.execute(insert(TimelineEntry), [
            {"lead_id": lead_id, "kind": "sequence_finished", "actor_id": None, "created_at": now,
             "data": {"sequence": names.get(sequence_id)}} for lead_id, sequence_id in finished])


def stop_lead(lead_ids: list[int], reason: str, now: datetime | None = None, actor_id: int | None = None) -> int:
    """Stop every current enrolment of these leads with `reason` (a key of STOP_REASONS), inside the
    caller's transaction. One indexed read when the leads are in no sequence."""
    ids = list(db.session.scalars(select(SequenceEnrolment.id).where(
        SequenceEnrolment.lead_id.in_(lead_ids), SequenceEnrolment.ended_at.is_(None))))
    return _stop(ids, reason, actor_id, now or utcnow()) if ids else 0


def set_aside_for_trash(lead_id: int, now: datetime, actor_id: int | None = None) -> int:
    """Stop the lead's current enrolments as it goes to the trash (reason "deleted"), inside the
    caller's transaction, keeping each one's place (its next step and when it was due) so that
    `resume_after_restore` can carry on from there. Returns how many stopped."""
    ids = list(db.session.scalars(select(SequenceEnrolment.id).where(
        SequenceEnrolment.lead_id == lead_id, SequenceEnrolment.ended_at.is_(None))))
    if not ids:
        return 0
    places = dict((row[0], row[1:]) for row in db.session.execute(
        select(SequenceEnrolment.id, SequenceEnrolment.step_id, SequenceEnrolment.next_at)
        .where(SequenceEnrolment.id.in_(ids))))
    stopped = _stop(ids, "deleted", actor_id, now)
    for enrolment_id, (step_id, next_at) in places.items():  # only the ones _stop ended at `now`
        db.session.execute(update(SequenceEnrolment).where(
            SequenceEnrolment.id == enrolment_id, SequenceEnrolment.ended_at == now,
            SequenceEnrolment.stop_reason == "deleted").values(step_id=step_id, next_at=next_at)
            .execution_options(synchronize_session=False))
    return stopped


def resume_after_restore(lead: Lead, trashed_at: datetime, now: datetime, actor_id: int | None = None) -> int:
    """The lead came back from the trash: the enrolments its deletion stopped (reason "deleted",
    ended at the moment it was trashed, with their place kept) carry on from their next step, inside
    the caller's transaction; ones stopped for any other reason stay stopped. An enrolment stays
    stopped too if its sequence has a current enrolment of the lead, or the lead may no longer be
    written to (its address refuses email, or consent the team now requires is missing). A step due
    while the lead was in the trash goes out at the next tick, in its window. Returns how many resumed."""
    from app.services.consent import enrol_refusal
    from app.services.suppression import is_suppressed
    kept = list(db.session.scalars(select(SequenceEnrolment).where(
        SequenceEnrolment.lead_id == lead.id, SequenceEnrolment.stop_reason == "deleted",
        SequenceEnrolment.ended_at == trashed_at, SequenceEnrolment.step_id.is_not(None))
        .order_by(SequenceEnrolment.id)))
    if not kept:
        return 0
    if (lead.email_undeliverable_at is not None or (lead.email and is_suppressed(lead.email))
            or enrol_refusal(lead) is not None):
        return 0
    resumed, entries = 0, []
    for enrolment in kept:
        sequence = db.session.get(Sequence, enrolment.sequence_id)
        _lock(sequence.id)
        if _current(lead.id, sequence.id) is not None:
            continue
        step = db.session.get(SequenceStep, enrolment.step_id)
        if step is not None and step.removed_at is not None:  # taken out meanwhile: the step after it
            step = _step_after(sequence.id, step.position)
        if step is None:
            continue
        status = (EnrolmentStatus.paused.value if sequence.status == SequenceStatus.paused.value
                  else EnrolmentStatus.active.value)
        enrolment.status, enrolment.stop_reason, enrolment.ended_at = status, None, None
        enrolment.step_id, enrolment.next_at = step.id, enrolment.next_at or now
        entries.append({"lead_id": lead.id, "kind": "sequence_resumed", "actor_id": actor_id, "created_at": now,
                        "data": {"sequence": sequence.name, "reason": "restored"}})
        resumed += 1
        db.session.flush()
    if entries:
        db.session.execute(insert(TimelineEntry), entries)
    return resumed


def stop_enrolments(enrolment_ids: list[int], reason: str, now: datetime | None = None,
                    actor_id: int | None = None) -> int:
    """Stop these current enrolments with `reason` (a key of STOP_REASONS), inside the caller's
    transaction (an automation stopping one sequence of a lead)."""
    return _stop(list(enrolment_ids), reason, actor_id, now or utcnow()) if enrolment_ids else 0


def stop_in_stage(stage_id: int, reason: str, now: datetime) -> int:
    """Stop the enrolments of every lead in this stage (a deleted stage's leads moved to won or lost)."""
    ids = list(db.session.scalars(select(SequenceEnrolment.id).join(Lead, Lead.id == SequenceEnrolment.lead_id)
                                  .where(Lead.stage_id == stage_id, SequenceEnrolment.ended_at.is_(None))))
    return sum(_stop(ids[start:start + 500], reason, None, now) for start in range(0, len(ids), 500))


def stop_enrolment(enrolment_id: int, actor_id: int | None, now: datetime | None = None) -> SequenceEnrolment:
    """A person stops one enrolment by hand."""
    now = now or utcnow()
    with atomic():
        enrolment = db.session.get(SequenceEnrolment, enrolment_id) if isinstance(enrolment_id, int) else None
        if enrolment is None:
            raise EnrolmentNotFound()
        if enrolment.ended_at is not None:
            raise Conflict("This enrolment has already ended.")
        _stop([enrolment.id], "manual", actor_id, now)
    db.session.refresh(enrolment)
    return enrolment


def on_stage_change(lead: Lead, stage, now: datetime) -> None:
    """The lead moved into `stage` (leads.change_stage): a won or lost stage stops its sequences; a
    loss with a reason a rule names enrols it in that rule's sequence."""
    from app.services.closing import is_closed, is_won
    if not is_closed(stage):
        return
    stop_lead([lead.id], "won" if is_won(stage) else "lost", now)
    if not is_won(stage) and lead.lost_reason_id is not None:
        _enrol_by_rules(lead, [("lost_reason", str(lead.lost_reason_id))], now)


def on_booked(lead: Lead, now: datetime) -> None:
    stop_lead([lead.id], "booked", now)


def on_reply(lead: Lead, now: datetime, actor_id: int | None = None) -> None:
    stop_lead([lead.id], "replied", now, actor_id)


def on_address_refused(address: str, lead_id: int | None, reason: str, now: datetime | None = None) -> int:
    """An address unsubscribed or bounced (`reason`: unsubscribed, bounced): stop the enrolments of
    the lead named and of every lead with that address."""
    from app.services.suppression import key
    # Leads store their email lower-cased (as key() makes it): one read of ix_leads_email.
    ids = set(db.session.scalars(select(Lead.id).where(Lead.email == key(address)).limit(1000))) if address else set()
    if lead_id is not None:
        ids.add(lead_id)
    return stop_lead(sorted(ids), reason, now) if ids else 0


# --- the lead page -------------------------------------------------------------------------------------


@dataclass
class LeadEnrolment:
    enrolment: SequenceEnrolment
    name: str
    next_step: str | None


def for_lead(lead_id: int, limit: int = 10) -> list[LeadEnrolment]:
    """The lead's current enrolments, then its recent ended ones (newest first)."""
    rows = list(db.session.scalars(select(SequenceEnrolment).options(joinedload(SequenceEnrolment.sequence))
                                   .where(SequenceEnrolment.lead_id == lead_id)
                                   .order_by(SequenceEnrolment.ended_at.is_not(None), SequenceEnrolment.id.desc())
                                   .limit(limit)))
    step_ids = [row.step_id for row in rows if row.step_id]
    named = {step.id: step for step in db.session.scalars(
        select(SequenceStep).options(joinedload(SequenceStep.template)).where(SequenceStep.id.in_(step_ids)))} \
        if step_ids else {}
    return [LeadEnrolment(row, row.sequence.name, describe_step(named[row.step_id]) if row.step_id in named else None)
            for row in rows]


def describe_step(step: SequenceStep) -> str:
    if step.kind == StepKind.task.value:
        return f"Task: {step.task_title}"
    return f"Email: {step.template.name if step.template else 'a template'}"


def enrol_choices() -> list[tuple[int, str]]:
    """(id, name) of the sequences a lead can be enrolled in now (running or paused)."""
    return [(s.id, s.name + (" (paused)" if s.status == SequenceStatus.paused.value else ""))
            for s in sequences() if s.status != SequenceStatus.draft.value]


# --- the tick (worker housekeeping) --------------------------------------------------------------------


def _claim(now: datetime, batch: int) -> list[int]:
    """Take up to `batch` due enrolments (the WHERE is checked again on the row: one claimer each)."""
    due = (select(SequenceEnrolment.id).where(SequenceEnrolment.status == EnrolmentStatus.active.value,
                                              SequenceEnrolment.next_at <= now)
           .order_by(SequenceEnrolment.next_at).limit(batch).scalar_subquery())
    return list(db.session.scalars(
        update(SequenceEnrolment).where(SequenceEnrolment.id.in_(due), SequenceEnrolment.next_at <= now,
                                        SequenceEnrolment.status == EnrolmentStatus.active.value)
        .values(next_at=None).returning(SequenceEnrolment.id).execution_options(synchronize_session=False)))


@dataclass
class Tick:
    sent: int = 0
    tasks: int = 0
    skipped: int = 0
    waiting: int = 0  # outside their window: moved to its next opening
    finished: int = 0
    stopped: int = 0


def run_batch(now: datetime, batch: int = BATCH) -> Tick:
    """Run one batch of due steps, in one transaction."""
    from app.services.suppression import suppressed_among
    tick = Tick()
    with atomic():
        ids = _claim(now, batch)
        if not ids:
            return tick
        enrolments = list(db.session.scalars(select(SequenceEnrolment).where(SequenceEnrolment.id.in_(ids))
                                             .order_by(SequenceEnrolment.id).execution_options(populate_existing=True)))
        leads = {lead.id: lead for lead in db.session.scalars(
            select(Lead).options(joinedload(Lead.owner)).where(Lead.id.in_({e.lead_id for e in enrolments})))}
        # Every live step of the batch's sequences, in order, read once (not a query per enrolment).
        ordered: dict[int, list[SequenceStep]] = {}
        for step in db.session.scalars(select(SequenceStep).options(joinedload(SequenceStep.template)).where(
                SequenceStep.sequence_id.in_({e.sequence_id for e in enrolments}), SequenceStep.removed_at.is_(None))
                .order_by(SequenceStep.position)):
            ordered.setdefault(step.sequence_id, []).append(step)
        step_rows = {step.id: step for steps_of in ordered.values() for step in steps_of}
        # The steps each enrolment has run: a step moved or put back never runs twice for a lead.
        ran: dict[int, set[int]] = {}
        for enrolment_id, step_id in db.session.execute(select(SequenceSend.enrolment_id, SequenceSend.step_id)
                                                        .where(SequenceSend.enrolment_id.in_(ids))):
            ran.setdefault(enrolment_id, set()).add(step_id)

        def after(enrolment: SequenceEnrolment, position: int) -> SequenceStep | None:
            done = ran.get(enrolment.id, ())
            return next((s for s in ordered.get(enrolment.sequence_id, ())
                         if s.position > position and s.id not in done), None)
        names = dict(db.session.execute(select(Sequence.id, Sequence.name).where(
            Sequence.id.in_({e.sequence_id for e in enrolments}))).all())
        refused = suppressed_among([lead.email for lead in leads.values() if lead.email])
        to_stop: dict[str, list[int]] = {}
        to_finish: list[int] = []
        sends: list[dict] = []
        entries: list[dict] = []
        changes: dict[int, dict] = {}  # by enrolment: its next step, due time and count (one UPDATE)
        with db.session.no_autoflush:  # each outbox row flushes itself; nothing else needs to go first
            for enrolment in enrolments:
                lead, step = leads.get(enrolment.lead_id), step_rows.get(enrolment.step_id)
                if lead is None:
                    continue
                if step is None or step.id in ran.get(enrolment.id, ()):
                    # Removed since (remove_step moves waiting enrolments on; this is a race with it), or
                    # run already (the steps were reordered): the next step not yet run.
                    gone = step or (db.session.get(SequenceStep, enrolment.step_id) if enrolment.step_id else None)
                    step = after(enrolment, gone.position) if gone else None
                    if step is None:
                        to_finish.append(enrolment.id)
                        continue
                    changes[enrolment.id] = {"step_id": step.id}
                if lead.email_undeliverable_at is not None or (lead.email and lead.email in refused):
                    to_stop.setdefault("bounced" if lead.email_undeliverable_at else "unsubscribed", []).append(enrolment.id)
                    continue
                zone = lead_zone(lead)
                opens = window_open(step, now, zone)
                if opens > now:  # the window has passed (the worker was down, or the sequence paused): the next one
                    changes.setdefault(enrolment.id, {})["next_at"] = opens
                    tick.waiting += 1
                    continue
                outcome = _run_step(enrolment, step, lead, names.get(enrolment.sequence_id, ""), now, sends, entries)
                change = changes.setdefault(enrolment.id, {})
                if outcome == "sent":
                    change["sent"] = enrolment.sent + 1
                setattr(tick, outcome, getattr(tick, outcome) + 1)
                following = after(enrolment, step.position)
                if following is None:
                    to_finish.append(enrolment.id)
                else:
                    change.update(step_id=following.id, next_at=window_open(following, add_delay(following, now, zone), zone))
        db.session.flush()
        if changes:
            db.session.execute(update(SequenceEnrolment).execution_options(synchronize_session=False),
                               [{"id": enrolment_id, **change} for enrolment_id, change in changes.items()])
        if sends:  # one statement each for the batch (unique per enrolment and step: a step runs once)
            db.session.execute(insert(SequenceSend), sends)
            db.session.execute(insert(TimelineEntry), entries)
        for reason, stop_ids in to_stop.items():
            tick.stopped += _stop(stop_ids, reason, None, now)
        if to_finish:
            _finish(to_finish, now)
            tick.finished += len(to_finish)
    return tick


def _run_step(enrolment: SequenceEnrolment, step: SequenceStep, lead: Lead, name: str, now: datetime,
              sends: list[dict], entries: list[dict]) -> str:
    """Send the step's email or make its task; its send row and timeline entry join `sends` and
    `entries` (inserted once per batch). Returns the Tick field it counts in."""
    send = {"enrolment_id": enrolment.id, "sequence_id": enrolment.sequence_id, "step_id": step.id,
            "lead_id": lead.id, "at": now, "reason": None, "outbox_id": None, "task_id": None}
    entry = {"sequence": name, "step": step.position}
    if step.kind == StepKind.task.value:
        outcome = _make_task(step, lead, now, send)
    else:
        outcome = _send_email(step, lead, now, send)
    send["outcome"] = {"sent": "sent", "tasks": "task", "skipped": "skipped"}[outcome]
    sends.append(send)
    subject = send.pop("subject", None)
    if outcome == "sent":
        kind, data = "sequence_sent", {**entry, "subject": subject}
    elif outcome == "skipped":
        kind, data = "sequence_skipped", {**entry, "reason": send["reason"]}
    else:
        kind, data = "sequence_task", {**entry, "title": step.task_title}
    entries.append({"lead_id": lead.id, "kind": kind, "actor_id": None, "created_at": now, "data": data})
    return outcome


def _send_email(step: SequenceStep, lead: Lead, now: datetime, send: dict) -> str:
    from app.services.lead_emails import queue_template_email
    row, reason = queue_template_email(step.template, lead, now, kind=EMAIL_KIND)
    if row is not None:
        send["outbox_id"], send["subject"] = row.id, row.subject
    if reason is not None:
        send["reason"] = reason
        return "skipped"
    return "sent"


def _make_task(step: SequenceStep, lead: Lead, now: datetime, send: dict) -> str:
    from app.services.tasks import create_task
    if lead.owner_id is None or lead.owner is None or not lead.owner.active:
        send["reason"] = "no_owner"
        return "skipped"
    task = create_task(lead.id, None, title=step.task_title or "Call", due_at=now, kind="call",
                       owner_id=lead.owner_id, now=now)
    send["task_id"] = task.id
    return "tasks"


def run_due(now: datetime | None = None, *, batch: int = BATCH, batches: int = TICK_BATCHES) -> Tick:
    """Housekeeping (worker.py): every step due at `now`, a batch per transaction. Reads only the
    enrolments due (ix_sequence_enrolments_due), never all of them."""
    now = now or utcnow()
    total = Tick()
    for _ in range(batches):
        try:
            done = run_batch(now, batch)
        except Exception:  # one enrolment that cannot run must not hold up the others
            log.exception("A batch of sequence steps failed; running it one enrolment at a time")
            done = _run_singly(now, batch)
        for field in ("sent", "tasks", "skipped", "waiting", "finished", "stopped"):
            setattr(total, field, getattr(total, field) + getattr(done, field))
        if not any(vars(done).values()):  # a step with no delay after one just run is due now: go again
            break
    return total


def _run_singly(now: datetime, count: int) -> Tick:
    """Run up to `count` due enrolments one per transaction; one that fails is set aside for an hour
    (and logged), so the earliest due enrolment can never block every tick."""
    total = Tick()
    for _ in range(count):
        try:
            done = run_batch(now, 1)
        except Exception:
            log.exception("A sequence step failed; trying that enrolment again in an hour")
            with atomic():
                first = select(SequenceEnrolment.id).where(
                    SequenceEnrolment.status == EnrolmentStatus.active.value, SequenceEnrolment.next_at <= now
                ).order_by(SequenceEnrolment.next_at).limit(1).scalar_subquery()
                db.session.execute(update(SequenceEnrolment).where(SequenceEnrolment.id == first)
                                   .values(next_at=now + SET_ASIDE).execution_options(synchronize_session=False))
            continue
        if not any(vars(done).values()):
            break
        for field in vars(total):
            setattr(total, field, getattr(total, field) + getattr(done, field))
    return total


def sweep() -> None:
    run_due()


# --- figures -------------------------------------------------------------------------------------------


@dataclass
class Figures:
    enrolled: int
    active: int
    paused: int
    finished: int
    stopped: dict[str, int]
    booked_after: int
    per_step: list[tuple[SequenceStep, int, int]]  # (step, sent or tasks made, skipped)


def figures(sequence_id: int) -> Figures:
    """The sequence's figures, from two grouped reads of indexes (ix_sequence_enrolments_figures,
    ix_sequence_sends_figures)."""
    sequence = get_sequence(sequence_id)
    by_state: dict[tuple[str, str | None], int] = {
        (status, reason): count for status, reason, count in db.session.execute(
            select(SequenceEnrolment.status, SequenceEnrolment.stop_reason, func.count())
            .where(SequenceEnrolment.sequence_id == sequence.id)
            .group_by(SequenceEnrolment.status, SequenceEnrolment.stop_reason))}
    sends: dict[tuple[int, str], int] = {
        (step_id, outcome): count for step_id, outcome, count in db.session.execute(
            select(SequenceSend.step_id, SequenceSend.outcome, func.count())
            .where(SequenceSend.sequence_id == sequence.id).group_by(SequenceSend.step_id, SequenceSend.outcome))}
    stopped = {reason: count for (status, reason), count in by_state.items()
               if status == EnrolmentStatus.stopped.value and reason}
    return Figures(
        enrolled=sum(by_state.values()),
        active=sum(c for (s, _), c in by_state.items() if s == EnrolmentStatus.active.value),
        paused=sum(c for (s, _), c in by_state.items() if s == EnrolmentStatus.paused.value),
        finished=sum(c for (s, _), c in by_state.items() if s == EnrolmentStatus.finished.value),
        stopped=stopped, booked_after=stopped.get("booked", 0),
        per_step=[(step, sends.get((step.id, "sent"), 0) + sends.get((step.id, "task"), 0),
                   sends.get((step.id, "skipped"), 0)) for step in steps(sequence.id)])

