"""Automations: when something happens to a lead (a trigger), if it holds (conditions, the same
engine scoring and assignment use: services/conditions.py), then do these actions in order.

Shape, so that the catalogue grows one small class at a time:
- TRIGGERS: each a Trigger subclass with an `event` (services/events.py names), check(options),
  describe(options) and fires(options, event, lead).
- ACTIONS: each an Action subclass with check(row), describe(params) and run(context, params), which
  calls the service that owns the operation (tasks, tags, sequences, leads, notifications) and
  returns what it did in words. "wait" is the one action that does not run: it leaves a row
  (AutomationWait) for the worker's sweep (run_due_waits) to carry on from.

How they run:
- events.emit() calls noticed(), which queues the event in the session when an active automation
  listens for it (nothing at all otherwise). Just before the outermost atomic() commits, run_pending()
  runs them, so an automation sees the lead as the whole change left it (captured, scored, routed)
  and its effect is part of the same transaction. An event from a savepoint that rolled back is
  forgotten with it.
- Each run is a savepoint, and each action one inside it: a failing action is recorded and the rest
  go on; a run that fails as a whole is undone alone. The event itself is never blocked.
- Loop guard: a run's actions cause events one level deeper; at MAX_DEPTH a chain stops, and an
  automation runs at most once per lead per original event. Both are written to the run history.
- Every run that did something writes one "automation" timeline entry, and one AutomationRun row.
  A trigger whose conditions do not hold writes nothing (the history would be every capture);
  "skipped" means the automation could not run (a condition names something deleted)."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import event as sa_event, func, select, text as sql_text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import (
    Automation, AutomationCursor, AutomationOccurrence, AutomationRun, AutomationWait, CaptureForm, EmailTemplate, Lead,
    Sequence, SequenceEnrolment, Stage, User, WebhookEndpoint,
)
from app.models.task import KIND_LABELS
from app.services import (
    PENDING_EVENTS, Conflict, NotFound, ServiceError, atomic, audit, clean_name, conditions, settings_cache, utcnow,
)
from app.services.leads import WAYS_IN
from app.services.timeline import record

log = logging.getLogger(__name__)

PENDING = PENDING_EVENTS
CAUSE = "leadboard_automation_cause"
MAX_DEPTH = 3  # a chain of automations triggering each other stops after this many
MAX_AUTOMATIONS = 200
MAX_CONDITIONS = 20
MAX_ACTIONS = 20
MAX_WAIT_MINUTES = 365 * 24 * 60
MAX_DUE_MINUTES = 365 * 24 * 60
NAME_LIMIT = 120
WAIT_BATCH = 200
HISTORY_DAYS = 14
STATUSES = {"ok": "Ran", "failed": "Failed", "skipped": "Skipped", "loop": "Stopped by the loop guard"}


class AutomationNotFound(NotFound):
    def __init__(self):
        super().__init__("That automation no longer exists.")


# --- what the engine holds between transactions -------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """An active automation as plain data (settings_cache keeps these between transactions)."""
    id: int
    name: str
    trigger: str
    options: tuple  # sorted (key, value) pairs
    match: str
    conditions: tuple
    actions: tuple
    digest: str = ""  # of the actions: a wait left under other steps does not carry on (actions_digest)

    @property
    def opts(self) -> dict:
        return dict(self.options)


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def actions_digest(actions) -> str:
    """A short digest of an automation's steps, kept with each wait (see run_due_waits)."""
    text = json.dumps(list(actions or ()), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _rule(row: Automation) -> Rule:
    return Rule(row.id, row.name, row.trigger, _freeze(row.trigger_options or {}), row.match or "all",
                tuple(row.conditions or ()), tuple(row.actions or ()), actions_digest(row.actions))


def active_rules() -> tuple[Rule, ...]:
    """Every active automation (read once while the settings are unchanged)."""
    return settings_cache("automations.active", lambda: tuple(_rule(row) for row in db.session.scalars(
        select(Automation).where(Automation.active.is_(True)).order_by(Automation.id))))


def wanted(event_name: str) -> bool:
    """Whether an active automation listens for this event."""
    return any(TRIGGERS[rule.trigger].event == event_name for rule in active_rules() if rule.trigger in TRIGGERS)


# --- events -------------------------------------------------------------------------------------


@dataclass
class Event:
    name: str
    lead_id: int
    data: dict
    subject_id: int | None
    now: datetime
    depth: int  # 0: a person's (or a job's) change; n: caused by a run n levels down
    seen: set  # (automation id, lead id) that ran for the original event
    chain: tuple = field(repr=False, default=())  # the session transactions it was emitted in


def _chain(session) -> tuple:
    current = session.get_nested_transaction() or session.get_transaction()
    links = []
    while current is not None:
        links.append(current)
        current = current.parent
    return tuple(links)


def noticed(event_name: str, lead_ids: list[int], *, data: dict | None = None, subject_id: int | None = None,
            now: datetime | None = None) -> None:
    """Queue this event for the automations that listen (events.emit calls it, inside the transaction)."""
    if not lead_ids or not wanted(event_name):
        return
    session = db.session()
    depth, seen = session.info.get(CAUSE) or (0, None)
    chain, now = _chain(session), now or utcnow()
    queue = session.info.setdefault(PENDING, [])
    for lead_id in lead_ids:
        queue.append(Event(event_name, lead_id, dict(data or {}), subject_id, now, depth,
                           seen if seen is not None else set(), chain))


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction) -> None:
    queue = session.info.get(PENDING)
    if queue:
        session.info[PENDING] = [e for e in queue if previous_transaction not in e.chain]


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session, transaction) -> None:
    """A transaction that ended without atomic()'s commit (a rollback, a test's plain commit) takes
    its events with it: they never run in a later one."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)
        session.info.pop(CAUSE, None)


def run_pending() -> None:
    """Run the queued events' automations (atomic() calls this before the outermost commit); what
    their actions cause is queued behind and run too, down to MAX_DEPTH. Each event's runs are a
    savepoint: whatever goes wrong there is undone alone, and the event still commits."""
    session = db.session()
    while session.info.get(PENDING):
        queued = session.info[PENDING].pop(0)
        try:
            with atomic():
                _dispatch(queued)
        except Exception:  # never the event's fault: it still commits
            log.exception("Automations for %s on lead %s failed", queued.name, queued.lead_id)


def _live_lead(lead_id: int) -> Lead | None:
    lead = db.session.get(Lead, lead_id, populate_existing=True)
    return lead if lead is not None and lead.deleted_at is None else None


def _dispatch(ev: Event) -> None:
    rules = [rule for rule in active_rules() if rule.trigger in TRIGGERS and TRIGGERS[rule.trigger].event == ev.name]
    if not rules:
        return
    lead = _live_lead(ev.lead_id)
    if lead is None:
        return
    known = conditions.fields(with_score=True)
    needs = {c["field"] for rule in rules for c in rule.conditions}
    facts = None  # read once for every rule of the event, again only after a run changed the lead
    for rule in rules:
        if not TRIGGERS[rule.trigger].fires(rule.opts, ev, lead):
            continue
        problem = _broken(rule, known)
        if problem:
            _record_run(rule.id, lead.id, ev.name, "skipped", f"A condition cannot be checked: {problem}", ev.now)
            continue
        if rule.conditions:
            if facts is None:
                facts = _facts(lead, ev.now, needs)
            if not _answer(rule, facts):
                continue
        key = (rule.id, lead.id)
        if key in ev.seen or ev.depth >= MAX_DEPTH:
            # One "stopped" row per automation and lead in a chain: automations that set fields
            # triggering each other would otherwise write one per step per listener.
            if (*key, "loop") not in ev.seen:
                ev.seen.add((*key, "loop"))
                _record_run(rule.id, lead.id, ev.name, "loop",
                            "Stopped: it had already run for this lead on the event that started this chain."
                            if key in ev.seen else
                            f"Stopped: {MAX_DEPTH} automations in a row had triggered each other.", ev.now)
            continue
        ev.seen.add(key)
        run_rule(rule, lead.id, ev.name, ev.now, depth=ev.depth, seen=ev.seen, checked=True)
        lead, facts = _live_lead(ev.lead_id), None
        if lead is None:
            return


def _record_run(automation_id: int, lead_id: int | None, event_name: str, status: str, detail: str,
                now: datetime) -> None:
    db.session.add(AutomationRun(automation_id=automation_id, lead_id=lead_id, event=event_name, status=status,
                                 detail=detail[:4000], at=now))
    db.session.flush()


def _broken(rule: Rule, known: dict) -> str | None:
    for cond in rule.conditions:
        problem = conditions.broken(dict(cond), known)
        if problem:
            return problem
    return None


def _facts(lead: Lead, now: datetime, needs: set) -> dict:
    facts = conditions.facts_for([lead], now, needs)[lead.id]
    return conditions.refresh_score(facts, lead)


def _answer(rule: Rule, facts: dict) -> bool:
    answers = (conditions.matches(dict(c), facts) for c in rule.conditions)
    return any(answers) if rule.match == "any" else all(answers)


def broken(rule: Rule) -> str | None:
    """Why the rule's conditions cannot be checked (a field they name was deleted), or None."""
    return _broken(rule, conditions.fields(with_score=True))


def answer(rule: Rule, facts: dict) -> bool:
    """Whether the rule's conditions (all or any) hold for a lead's facts (conditions.facts_for)."""
    return _answer(rule, facts)


def holds(rule: Rule, lead: Lead, now: datetime) -> tuple[bool, str | None]:
    """(whether the rule's conditions hold for the lead, why it cannot be checked or None)."""
    if not rule.conditions:
        return True, None
    problem = _broken(rule, conditions.fields(with_score=True))
    if problem:
        return False, problem
    return _answer(rule, _facts(lead, now, {c["field"] for c in rule.conditions})), None


@dataclass
class Context:
    rule: Rule
    lead_id: int
    now: datetime


def run_rule(rule: Rule, lead_id: int, event_name: str, now: datetime, *, depth: int = 0, seen: set | None = None,
             start: int = 0, checked: bool = False) -> str | None:
    """Run one automation for one lead in a savepoint (from action `start` on; 0 checks its
    conditions first unless the caller has: `checked`). Returns the run's status, or None when its
    conditions did not hold."""
    session = db.session()
    seen = seen if seen is not None else {(rule.id, lead_id)}
    try:
        with atomic():
            lead = _live_lead(lead_id)
            if lead is None:
                return None
            if start == 0 and not checked:
                ok, problem = holds(rule, lead, now)
                if problem:
                    _record_run(rule.id, lead_id, event_name, "skipped", f"A condition cannot be checked: {problem}",
                                now)
                    return "skipped"
                if not ok:
                    return None
            did, failed = [], []
            previous = session.info.get(CAUSE)
            session.info[CAUSE] = (depth + 1, seen)
            try:
                for index in range(start, len(rule.actions)):
                    params = dict(rule.actions[index])
                    action = ACTIONS.get(params.get("kind"))
                    if action is None:
                        failed.append("An action of a kind this version does not know was skipped.")
                        continue
                    if isinstance(action, Wait):
                        did.append(action.schedule(Context(rule, lead_id, now), params, index, event_name))
                        break
                    try:
                        with atomic():
                            did.append(action.run(Context(rule, lead_id, now), params))
                    except ServiceError as exc:
                        failed.append(f"{action.describe(params)}: {exc.message}")
                    except Exception as exc:  # a database refusal, a bug: this action only
                        log.exception("Automation %s: action %s failed on lead %s", rule.id, index, lead_id)
                        failed.append(f"{action.describe(params)}: it could not be done ({type(exc).__name__}).")
            finally:
                session.info[CAUSE] = previous
            status = "failed" if failed else "ok"
            record(lead_id, "automation", None, {"automation": rule.name, "did": did, "failed": failed}, now)
            _record_run(rule.id, lead_id, event_name, status, "; ".join([*did, *failed]) or "Nothing to do.", now)
            return status
    except Exception as exc:
        log.exception("Automation %s failed on lead %s", rule.id, lead_id)
        try:
            with atomic():
                _record_run(rule.id, lead_id, event_name, "failed", f"The automation could not run ({type(exc).__name__}).",
                            now)
        except Exception:
            log.exception("Could not record automation %s's failure", rule.id)
        return "failed"


# --- names for what rules point at -------------------------------------------------------------


def _user(user_id) -> User | None:
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    return user if user is not None and user.active else None


def _id(raw) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def _name_of(model, object_id, column="name") -> str | None:
    if object_id is None:
        return None
    return db.session.scalar(select(getattr(model, column)).where(model.id == object_id))


def _quoted(text) -> str:
    return f"“{text}”"


# --- triggers -----------------------------------------------------------------------------------


class Trigger:
    key = ""
    label = ""
    event = ""  # the event it listens for ("" for the time-based ones, which the sweep finds)
    timed = False
    options: tuple[str, ...] = ()  # which trigger_* controls it uses

    def check(self, raw: dict) -> dict:
        """The options normalised, or ServiceError naming the control (trigger_<option>)."""
        return {}

    def describe(self, options: dict) -> str:
        return self.label

    def fires(self, options: dict, ev: Event, lead: Lead) -> bool:
        return True

    def problem(self, options: dict) -> str | None:
        """Why the stored options no longer work (something they name was deleted), or None."""
        try:
            self.check(options)
        except ServiceError as exc:
            return exc.message
        return None


def _stage_option(raw: dict, required: bool = False) -> dict:
    stage_id = _id(raw.get("stage_id"))
    if stage_id is None:
        if required or str(raw.get("stage_id") or "").strip():
            raise ServiceError("Choose a stage.", field="trigger_stage")
        return {"stage_id": None}
    if db.session.get(Stage, stage_id) is None:
        raise ServiceError("That stage was deleted; choose another.", field="trigger_stage")
    return {"stage_id": stage_id}


def ways_in(lead_ids: list[int]) -> dict[int, str]:
    """How each lead came in (a key of leads.WAYS_IN), from its "created" timeline entry: what a
    capture trigger's way in is checked against when there is no event (a dry run, applying an
    automation to existing leads). A lead with no such entry counts as added by hand."""
    from app.models import TimelineEntry
    from app.services.leads import way_in
    found = {lead_id: "hand" for lead_id in lead_ids}
    for lead_id, data in db.session.execute(select(TimelineEntry.lead_id, TimelineEntry.data).where(
            TimelineEntry.lead_id.in_(lead_ids), TimelineEntry.kind == "created")):
        found[lead_id] = way_in(str((data or {}).get("via") or ""))
    return found


def as_captured(lead_ids: list[int], now: datetime) -> dict[int, "Event"]:
    """A lead.created event for each existing lead, as it was captured (its way in)."""
    ways = ways_in(lead_ids)
    return {lead_id: Event("lead.created", lead_id, {"way": ways[lead_id]}, None, now, 0, set())
            for lead_id in lead_ids}


class LeadCaptured(Trigger):
    key, label, event = "lead_captured", "A lead is captured", "lead.created"
    options = ("form", "source")

    def check(self, raw):
        form_raw = str(raw.get("form_id") or "").strip()
        way = raw.get("way") or None
        if form_raw.startswith("way:"):  # the editor's one list: a way in, or one form
            way, form_raw = form_raw[4:], ""
        if way is not None and way not in WAYS_IN:
            raise ServiceError("Choose one of the listed ways in.", field="trigger_form")
        form_id = _id(form_raw)
        if form_raw and (form_id is None or db.session.get(CaptureForm, form_id) is None):
            raise ServiceError("That capture form was deleted; choose another, or any way in.", field="trigger_form")
        source = " ".join(str(raw.get("source") or "").split())
        if len(source) > 100:
            raise ServiceError("Keep the source under 100 characters.", field="trigger_source")
        return {"form_id": form_id, "way": None if form_id else way, "source": source or None}

    def describe(self, options):
        parts = []
        if options.get("form_id"):
            parts.append(f"through the form {_quoted(_name_of(CaptureForm, options['form_id']) or 'deleted form')}")
        elif options.get("way"):
            parts.append(WAYS_IN.get(options["way"], "some way"))
        if options.get("source"):
            parts.append(f"with source {_quoted(options['source'])}")
        return self.label + (" " + " and ".join(parts) if parts else " (any way in)")

    def fires(self, options, ev, lead):
        if options.get("form_id") and lead.capture_form_id != options["form_id"]:
            return False
        if options.get("way") and (ev is None or (ev.data or {}).get("way") != options["way"]):
            return False
        if options.get("source") and (lead.source or "").strip().casefold() != options["source"].casefold():
            return False
        return True


class StageEntered(Trigger):
    key, label, event = "stage_entered", "A lead enters a stage", "lead.stage_changed"
    options = ("stage",)
    data_key = "stage_id"

    def check(self, raw):
        return _stage_option(raw)

    def describe(self, options):
        name = _name_of(Stage, options.get("stage_id"))
        verb = "enters" if self.data_key == "stage_id" else "leaves"
        return f"A lead {verb} {_quoted(name) if name else 'any stage'}"

    def fires(self, options, ev, lead):
        return options.get("stage_id") is None or ev.data.get(self.data_key) == options["stage_id"]


class StageLeft(StageEntered):
    key, label = "stage_left", "A lead leaves a stage"
    data_key = "previous_stage_id"


class OwnerChanged(Trigger):
    key, label, event = "owner_changed", "A lead's owner changes", "lead.assigned"
    options = ("to",)
    TO = {"": "to anyone or the pool", "person": "to a person", "pool": "back to the pool"}

    def check(self, raw):
        to = str(raw.get("to") or "")
        if to not in self.TO:
            raise ServiceError("Choose one of the listed choices.", field="trigger_to")
        return {"to": to or None}

    def describe(self, options):
        return f"A lead's owner changes {self.TO[options.get('to') or '']}"

    def fires(self, options, ev, lead):
        to = options.get("to")
        return not to or (to == "pool") == (ev.data.get("owner_id") is None)


class TagAdded(Trigger):
    key, label, event = "tag_added", "A tag is added to a lead", "lead.tagged"
    options = ("tag",)

    def check(self, raw):
        from app.services import tags
        name = " ".join(str(raw.get("tag") or "").split())
        if not name:
            return {"tag": None}
        tag = tags.find_tag(name)
        if tag is None:
            raise ServiceError(f"There is no tag {_quoted(name)}; choose one of the team's tags, or leave it empty "
                               "for any tag.", field="trigger_tag")
        return {"tag": tag.name}

    def describe(self, options):
        return f"The tag {_quoted(options['tag'])} is added to a lead" if options.get("tag") else "Any tag is added to a lead"

    def fires(self, options, ev, lead):
        wanted_tag = options.get("tag")
        return not wanted_tag or wanted_tag.casefold() in {t.casefold() for t in ev.data.get("tags", ())}


class FieldChanged(Trigger):
    key, label, event = "field_changed", "A lead's field changes", "lead.updated"
    options = ("field",)
    CUSTOM = "custom:"  # + a custom field's key (it keeps its key when renamed)

    def check(self, raw):
        from app.services.leads import FIELD_LABELS
        name = str(raw.get("field") or "")
        if name.startswith(self.CUSTOM):
            if self._custom(name) is None:
                raise ServiceError("That custom field was removed; choose another.", field="trigger_field")
            return {"field": name}
        if name not in FIELD_LABELS:
            raise ServiceError("Choose which field.", field="trigger_field")
        return {"field": name}

    def _custom(self, name: str):
        from app.services.custom_fields import active_fields
        key = name[len(self.CUSTOM):]
        return next((f for f in active_fields() if f.key == key), None)

    def describe(self, options):
        from app.services.leads import FIELD_LABELS
        name = options.get("field") or ""
        if name.startswith(self.CUSTOM):
            custom = self._custom(name)
            return f"A lead's {_quoted(custom.label) if custom else 'removed custom field'} changes"
        return f"A lead's {FIELD_LABELS.get(name, 'field').lower()} changes"

    def fires(self, options, ev, lead):
        name = options.get("field") or ""
        if name.startswith(self.CUSTOM):  # events name custom fields by their label at the time
            custom = self._custom(name)
            return custom is not None and custom.label in (ev.data.get("custom_changed") or ())
        return name in (ev.data.get("changed") or ())


class TaskCompleted(Trigger):
    key, label, event = "task_completed", "A task on a lead is done", "task.completed"


class AppointmentConfirmed(Trigger):
    key, label, event = "appointment_confirmed", "A prospect confirms an appointment", "appointment.confirmed"


class AppointmentCancelled(Trigger):
    key, label, event = "appointment_cancelled", "An appointment is cancelled", "appointment.cancelled"


class AppointmentBooked(Trigger):
    key, label, event = "appointment_booked", "An appointment is booked", "appointment.booked"


class NewTimeAsked(Trigger):
    key, label, event = "new_time_asked", "A prospect asks for another appointment time", \
        "appointment.new_time_requested"


class ScoreBand(Trigger):
    key, label, event = "score_band", "A lead's score crosses into a band", "lead.score_band_changed"
    options = ("band",)

    def check(self, raw):
        from app.services.scoring import band_named
        name = " ".join(str(raw.get("band") or "").split())
        if not name:
            return {"band": None}
        band = band_named(name)
        if band is None:
            raise ServiceError(f"There is no score band {_quoted(name)} any more; choose one of the bands "
                               "(Settings → Scoring), or any band.", field="trigger_band")
        return {"band": band.name}

    def describe(self, options):
        if options.get("band"):
            return f"A lead's score crosses into the band {_quoted(options['band'])}"
        return "A lead's score crosses into another band"

    def fires(self, options, ev, lead):
        wanted_band = options.get("band")
        return not wanted_band or str(ev.data.get("to") or "").casefold() == wanted_band.casefold()


class EmailBounced(Trigger):
    key, event = "email_bounced", "lead.email_bounced"
    label = "A lead's email bounces (the address is refused for good)"


class Unsubscribed(Trigger):
    key, label, event = "unsubscribed", "A lead unsubscribes", "lead.unsubscribed"


class SlaWarning(Trigger):
    key, event = "sla_warning", "lead.sla_warning"
    label = "A first response is about to be late (the SLA warning)"


class SlaBreached(Trigger):
    key, event = "sla_breached", "lead.sla_breached"
    label = "A first response is late (the SLA target is missed)"


# --- time-based triggers --------------------------------------------------------------------------
#
# Found by the worker's sweep (run_time_triggers), not by an event. Each occurrence has an instant
# (when the lead had been idle N days, when a task became overdue, the day a date was reached) and
# a key; the sweep reads, per automation, the occurrences whose instant lies between its cursor
# (AutomationCursor: how far it looked) and now, a keyset batch at a time over an index, so a sweep
# costs what falls due, not what the table holds. The cursor starts when the automation is saved
# with its trigger or resumed: what was already past then never fires (the builder says how many
# leads that is). A fired occurrence is a row (AutomationOccurrence), unique, inserted in the
# transaction that runs the automation: two workers never run it twice, and a crash runs it again.

SETTLE = timedelta(minutes=2)  # each sweep looks again this far back, for rows committed late
TIME_BATCH = 100  # occurrences per transaction
TIME_BATCHES = 10  # transactions per automation per sweep; the rest waits for the next sweep
BACKLOG_CAP = 10_000  # the builder counts the leads already past the point up to this many


@dataclass(frozen=True)
class Due:
    at: datetime  # the occurrence's instant, its place in the sweep's order
    key_id: int  # the tie-break among equal instants (the lead's or the task's id)
    lead_id: int
    key: str


def _whole_days(raw, field: str, *, low: int, high: int = 365) -> int:
    text = str(raw if raw is not None else "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise ServiceError("Enter a whole number of days.", field=field)
    value = int(text)
    if value < low:
        raise ServiceError(f"Enter at least {_days_text(low)}.", field=field)
    if value > high:
        raise ServiceError(f"Enter at most {_days_text(high)} (a year).", field=field)
    return value


def _days_text(days: int) -> str:
    return f"{days} day{'s' if days != 1 else ''}"


def _bounded_count(query) -> int:
    """How many rows the query gives, counting at most BACKLOG_CAP + 1 (the builder's figure)."""
    return db.session.scalar(select(func.count()).select_from(query.limit(BACKLOG_CAP + 1).subquery()))


class TimeTrigger(Trigger):
    timed = True
    run_event = ""  # what the run history and a wait call the occurrence

    def due(self, options: dict, after: tuple[datetime, int], upto: datetime, limit: int) -> list[Due]:
        """The occurrences after `after` (instant, key id) and at or before `upto`, in that order."""
        raise NotImplementedError

    def already(self, options: dict, now: datetime) -> int:
        """How many occurrences are already past at `now` (counted up to BACKLOG_CAP + 1)."""
        raise NotImplementedError

    backlog_words = ("lead is already past this point", "leads are already past this point")  # one, more


def idle_since():
    """A lead's last activity: its last touch, or its capture when nobody touched it yet."""
    return func.coalesce(Lead.last_touch_at, Lead.created_at)


class NoActivity(TimeTrigger):
    key, label, run_event = "no_activity", "A lead has had no activity for a number of days", "time.no_activity"
    options = ("days",)
    backlog_words = ("open lead has had no activity for that long already",
                     "open leads have had no activity for that long already")

    def check(self, raw):
        return {"days": _whole_days(raw.get("days"), "trigger_days", low=1)}

    def describe(self, options):
        return f"An open lead has had no activity for {_days_text(options.get('days') or 0)}"

    def _open(self):
        return (Lead.closed_on.is_(None), Lead.deleted_at.is_(None))  # ix_leads_idle_open's own WHERE

    def due(self, options, after, upto, limit):
        shift = timedelta(days=options["days"])
        basis, low = idle_since(), after[0] - shift
        rows = db.session.execute(
            select(basis, Lead.id).where(*self._open(), basis >= low, tuple_(basis, Lead.id) > tuple_(low, after[1]),
                                         basis <= upto - shift)
            .order_by(basis, Lead.id).limit(limit)).all()
        return [Due(at + shift, lead_id, lead_id, f"idle:{at.isoformat()}") for at, lead_id in rows]

    def already(self, options, now):
        return _bounded_count(select(Lead.id).where(*self._open(),
                                                    idle_since() <= now - timedelta(days=options["days"])))


class TaskOverdue(TimeTrigger):
    key, label, run_event = "task_overdue", "A task on a lead is overdue", "time.task_overdue"
    options = ("amount", "unit")
    backlog_words = ("open task is overdue by that much already", "open tasks are overdue by that much already")

    def check(self, raw):
        if "amount" not in raw and isinstance(raw.get("minutes"), int):  # as stored
            raw = {"amount": str(raw["minutes"]), "unit": "minutes"}
        return {"minutes": _minutes(raw, "trigger_amount", allow_zero=True, limit=MAX_WAIT_MINUTES,
                                    what="how long overdue")}

    def describe(self, options):
        minutes = options.get("minutes") or 0
        return "A task on a lead is overdue" + (f" by {_span(minutes)}" if minutes else " (as soon as it is due)")

    def due(self, options, after, upto, limit):
        from app.models import Task
        shift = timedelta(minutes=options["minutes"])
        low = after[0] - shift
        rows = db.session.execute(
            select(Task.due_at, Task.id, Task.lead_id)
            .where(Task.done_at.is_(None), Task.due_at >= low, tuple_(Task.due_at, Task.id) > tuple_(low, after[1]),
                   Task.due_at <= upto - shift)
            .order_by(Task.due_at, Task.id).limit(limit)).all()
        return [Due(at + shift, task_id, lead_id, f"task:{task_id}:{at.isoformat()}") for at, task_id, lead_id in rows]

    def already(self, options, now):
        from app.models import Task
        return _bounded_count(select(Task.id).where(Task.done_at.is_(None),
                                                    Task.due_at <= now - timedelta(minutes=options["minutes"])))


EXPECTED_CLOSE = "expected_close_on"
WHEN = {"before": "before", "after": "after"}


def date_fields() -> list[tuple[str, str]]:
    """The dates a "date is reached" trigger can watch: the expected close date and every custom
    date field, as (option value, label)."""
    from app.models.fields import FieldKind
    from app.services import custom_fields
    return [(EXPECTED_CLOSE, "Expected close date")] + [
        (f"custom.{f.key}", f.label) for f in custom_fields.active_fields() if f.kind == FieldKind.date.value]


class DateReached(TimeTrigger):
    key, label, run_event = "date_reached", "A date on a lead is reached", "time.date_reached"
    options = ("date_field", "days", "when")
    backlog_words = ("lead has that date behind it already", "leads have that date behind them already")

    def check(self, raw):
        name = str(raw.get("date_field") or "")
        if not name:
            raise ServiceError("Choose which date.", field="trigger_date_field")
        if name not in dict(date_fields()):
            raise ServiceError("That date field was deleted or is not a date; choose another.",
                               field="trigger_date_field")
        days = _whole_days(raw.get("days") if str(raw.get("days") or "").strip() else "0", "trigger_days", low=0)
        when = str(raw.get("when") or "after")
        if when not in WHEN:
            raise ServiceError("Choose before or after.", field="trigger_when")
        return {"date_field": name, "days": days, "when": when if days else "after"}

    def describe(self, options):
        label = dict(date_fields()).get(options.get("date_field"))
        if options.get("date_field") == EXPECTED_CLOSE:
            what = "a lead's expected close date"
        else:
            what = f"a lead's date {_quoted(label)}" if label else "a deleted date field"
        days = options.get("days") or 0
        if not days:
            return f"The day of {what} comes"
        return f"{_days_text(days)} {options.get('when')} {what}"

    def _shift(self, options) -> int:
        days = options.get("days") or 0
        return days if options.get("when") == "after" else -days

    def _source(self, options):
        """(the date column, the lead id column, what else the rows must meet)."""
        name = options["date_field"]
        if name == EXPECTED_CLOSE:
            return Lead.expected_close_on, Lead.id, (Lead.deleted_at.is_(None),)
        from app.models import CustomField, LeadFieldValue
        field_id = db.session.scalar(select(CustomField.id).where(CustomField.key == name.removeprefix("custom.")))
        if field_id is None:
            raise ServiceError("That date field was deleted.")
        return LeadFieldValue.value_date, LeadFieldValue.lead_id, (LeadFieldValue.field_id == field_id,)

    def due(self, options, after, upto, limit):
        from app.services.team_settings import team_timezone
        zone = ZoneInfo(team_timezone())
        shift = timedelta(days=self._shift(options))
        column, lead_column, extra = self._source(options)
        since = after[0].replace(tzinfo=timezone.utc).astimezone(zone)
        floor = since.date() - shift
        # The cursor is a day's start when a batch stopped there: the rest of that day comes after it.
        beyond = tuple_(column, lead_column) > tuple_(floor, after[1]) if since.time() == time(0) else column > floor
        top = upto.replace(tzinfo=timezone.utc).astimezone(zone).date() - shift
        rows = db.session.execute(select(column, lead_column).where(*extra, column >= floor, beyond, column <= top)
                                  .order_by(column, lead_column).limit(limit)).all()
        return [Due(_day_start(day + shift, zone), lead_id, lead_id, f"date:{options['date_field']}:{day.isoformat()}")
                for day, lead_id in rows]

    def already(self, options, now):
        from app.services.team_settings import team_timezone
        column, lead_column, extra = self._source(options)
        today = now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(team_timezone())).date()
        return _bounded_count(select(lead_column).where(*extra, column <= today - timedelta(days=self._shift(options))))


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of `day` in the team's zone, as naive UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc).replace(tzinfo=None)


TRIGGERS: dict[str, Trigger] = {t.key: t for t in (
    LeadCaptured(), StageEntered(), StageLeft(), OwnerChanged(), TagAdded(), FieldChanged(), TaskCompleted(),
    AppointmentConfirmed(), AppointmentCancelled(), AppointmentBooked(), NewTimeAsked(), ScoreBand(), EmailBounced(),
    Unsubscribed(), SlaWarning(), SlaBreached(), NoActivity(), TaskOverdue(), DateReached())}


def is_timed(trigger_key: str | None) -> bool:
    """Whether the trigger is found by the worker's sweep rather than by an event."""
    return getattr(TRIGGERS.get(trigger_key or ""), "timed", False)


# --- actions ------------------------------------------------------------------------------------


class Action:
    key = ""
    label = ""
    uses: tuple[str, ...] = ()  # which controls of an action row it reads

    def check(self, row: dict, field_prefix: str) -> dict:
        """The action as stored ({"kind": key, ...}), or ServiceError naming `<prefix><control>`."""
        return {"kind": self.key}

    def describe(self, params: dict) -> str:
        return self.label

    def run(self, ctx: Context, params: dict) -> str:
        raise NotImplementedError

    def problem(self, params: dict) -> str | None:
        try:
            self.check(_as_row(params), "")
        except ServiceError as exc:
            return exc.message
        return None


def _as_row(params: dict) -> dict:
    """A stored action as the controls of its row hold it (for problem() and the editor)."""
    row = {k: ("" if v is None else str(v)) for k, v in params.items()}
    if params.get("kind") == "assign":
        row["user"] = "rules" if params.get("by_rules") else "pool" if params.get("user_id") is None \
            else str(params["user_id"])
        row.pop("by_rules", None)
    if params.get("kind") == "send_email":
        row["template"] = str(params.get("template_id") or "")
    if params.get("kind") == "call_webhook":
        row["endpoint"] = str(params.get("endpoint_id") or "")
    if params.get("kind") == "create_task":
        row["owner"] = "" if params.get("owner_id") is None else str(params["owner_id"])
        row["amount"], row["unit"] = _split_minutes(params.get("due_minutes") or 0, bool(params.get("business")))
        row.pop("business", None)
    if params.get("kind") == "wait":
        row["amount"], row["unit"] = _split_minutes(params.get("minutes") or 0)
    if params.get("kind") in ("move_stage",):
        row["stage"] = str(params.get("stage_id") or "")
    if params.get("kind") in ("enrol", "stop_sequence"):
        row["sequence"] = str(params.get("sequence_id") or "")
    if params.get("kind") == "notify":
        row["people"] = str(params.get("to") or "")
    return row


UNITS = {"minutes": 1, "hours": 60, "days": 1440, "business hours": 60}
BUSINESS = "business hours"  # a task's due time counted in the team's opening hours (Settings → SLA)


def _split_minutes(minutes: int, business: bool = False) -> tuple[str, str]:
    if business:
        return str(minutes // UNITS[BUSINESS]), BUSINESS
    for unit in ("days", "hours"):
        if minutes and minutes % UNITS[unit] == 0:
            return str(minutes // UNITS[unit]), unit
    return str(minutes), "minutes"


def _minutes(row: dict, field: str, *, allow_zero: bool, limit: int, what: str, business: bool = False) -> int:
    amount, unit = str(row.get("amount") or "").strip(), str(row.get("unit") or "minutes")
    if unit not in UNITS or (unit == BUSINESS and not business):
        raise ServiceError("Choose minutes, hours or days." + (" (Business hours are for a task's due time.)"
                                                               if unit == BUSINESS else ""), field=field)
    if not (amount.isascii() and amount.isdigit()) or len(amount) > 7:
        raise ServiceError(f"Enter {what} as a whole number.", field=field)
    minutes = int(amount) * UNITS[unit]
    if minutes == 0 and not allow_zero:
        raise ServiceError(f"Enter {what} of at least 1 minute.", field=field)
    if minutes > limit:
        raise ServiceError(f"Enter {what} of at most a year (365 days).", field=field)
    return minutes


def _span(minutes: int, business: bool = False) -> str:
    amount, unit = _split_minutes(minutes, business)
    unit = unit if amount != "1" else unit[:-1]
    return f"{amount} {unit}"


def _existing(model, raw, field: str, missing: str, deleted: str) -> int:
    """The id a control chose of a row that still exists; ServiceError naming the control otherwise."""
    object_id = _id(raw)
    if object_id is None:
        raise ServiceError(missing, field=field)
    if db.session.get(model, object_id) is None:
        raise ServiceError(deleted, field=field)
    return object_id


def _active_user_id(raw, field: str) -> int:
    user_id = _id(raw)
    if user_id is None:
        raise ServiceError("Choose a person.", field=field)
    if _user(user_id) is None:
        raise ServiceError("That person was deactivated or removed; choose someone else.", field=field)
    return user_id


def _existing_tag(raw, field: str) -> str:
    from app.services import tags
    name = " ".join(str(raw or "").split())
    if not name:
        raise ServiceError("Name the tag.", field=field)
    tag = tags.find_tag(name)
    if tag is None:
        raise ServiceError(f"There is no tag {_quoted(name)}: it was deleted or never made. Choose one of the "
                           "team's tags (Settings → Tags).", field=field)
    return tag.name


def _sequence_id(raw, field: str, required: bool) -> int | None:
    sequence_id = _id(raw)
    if sequence_id is None:
        if required:
            raise ServiceError("Choose a sequence.", field=field)
        return None
    if db.session.get(Sequence, sequence_id) is None:
        raise ServiceError("That sequence was deleted; choose another.", field=field)
    return sequence_id


class Assign(Action):
    key, label, uses = "assign", "Assign to a person, by the rules, or the pool", ("user",)

    def check(self, row, prefix):
        raw = str(row.get("user") or "")
        if raw == "pool":
            return {"kind": self.key, "user_id": None}
        if raw == "rules":
            return {"kind": self.key, "user_id": None, "by_rules": True}
        return {"kind": self.key, "user_id": _active_user_id(raw, prefix + "user")}

    def describe(self, params):
        if params.get("by_rules"):
            return "Assign by the assignment rules (a lead in the pool)"
        if params.get("user_id") is None:
            return "Put back in the shared pool"
        return f"Assign to {_name_of(User, params['user_id']) or 'a removed person'}"

    def run(self, ctx, params):
        from app.services import leads
        if params.get("by_rules"):
            return self._route(ctx)
        if params.get("user_id") is not None and _user(params["user_id"]) is None:
            raise ServiceError("that person was deactivated or removed")
        leads.assign_lead(ctx.lead_id, params.get("user_id"), None)
        return "put the lead in the pool" if params.get("user_id") is None else \
            f"assigned the lead to {_name_of(User, params['user_id'])}"

    def _route(self, ctx) -> str:
        """The assignment rules give a lead in the pool to their next available person (groups take
        turns, away and capped people are skipped); an owned lead keeps its owner: to hand one on,
        put it back in the pool first (the action before this one)."""
        from app.services import assignment
        lead = db.session.get(Lead, ctx.lead_id)
        if lead.owner_id is not None:
            return f"left the lead with {_name_of(User, lead.owner_id)} (the rules assign leads in the pool)"
        routed = assignment.route(lead, ctx.now)
        if routed is None:
            return "left the lead in the pool (no assignment rule matched, or nobody was available)"
        return f"assigned the lead to {_name_of(User, lead.owner_id)} by the assignment rules"


class MoveStage(Action):
    key, label, uses = "move_stage", "Move to a stage", ("stage",)

    def check(self, row, prefix):
        stage_id = _existing(Stage, row.get("stage"), prefix + "stage", "Choose a stage.",
                             "That stage was deleted; choose another.")
        return {"kind": self.key, "stage_id": stage_id}

    def describe(self, params):
        return f"Move to {_quoted(_name_of(Stage, params.get('stage_id')) or 'a deleted stage')}"

    def run(self, ctx, params):
        from app.services import leads
        lead = db.session.get(Lead, ctx.lead_id)
        if lead.stage_id == params["stage_id"]:
            return f"left the lead in {_quoted(_name_of(Stage, params['stage_id']))} (it was there already)"
        leads.move_lead(ctx.lead_id, params["stage_id"], None, None, None)
        return f"moved the lead to {_quoted(_name_of(Stage, params['stage_id']))}"


class AddTag(Action):
    key, label, uses = "add_tag", "Add a tag", ("tag",)

    def check(self, row, prefix):
        return {"kind": self.key, "tag": _existing_tag(row.get("tag"), prefix + "tag")}

    def describe(self, params):
        return f"Add the tag {_quoted(params.get('tag'))}"

    def run(self, ctx, params):
        from app.services import tags
        if tags.find_tag(params["tag"]) is None:
            raise ServiceError("that tag was deleted")
        tags.add_tags(ctx.lead_id, [params["tag"]], None, ctx.now)
        return f"added the tag {_quoted(params['tag'])}"


class RemoveTag(AddTag):
    key, label = "remove_tag", "Remove a tag"

    def describe(self, params):
        return f"Remove the tag {_quoted(params.get('tag'))}"

    def run(self, ctx, params):
        from app.services import tags
        tags.remove_tag(ctx.lead_id, params["tag"], None, ctx.now)
        return f"removed the tag {_quoted(params['tag'])}"


class SetField(Action):
    key, label, uses = "set_field", "Set a field", ("field", "value")

    def check(self, row, prefix):
        from app.services.leads import FIELD_LABELS, clean_field
        from app.services.identity import IDENTIFYING_FIELDS
        name = str(row.get("field") or "")
        if name not in FIELD_LABELS:
            raise ServiceError("Choose a field.", field=prefix + "field")
        if name in IDENTIFYING_FIELDS:
            raise ServiceError("An automation cannot change what identifies a lead (name, email, phone, company).",
                               field=prefix + "field")
        value = str(row.get("value") or "").strip()
        try:
            clean_field(name, value)
        except ServiceError as exc:
            raise ServiceError(exc.message, field=prefix + "value") from None
        return {"kind": self.key, "field": name, "value": value}

    def describe(self, params):
        from app.services.leads import FIELD_LABELS
        label = FIELD_LABELS.get(params.get("field"), "a field")
        return f"Set {label.lower()} to {_quoted(params['value'])}" if params.get("value") else f"Clear {label.lower()}"

    def run(self, ctx, params):
        from app.services import leads
        leads.change_lead(ctx.lead_id, {params["field"]: params.get("value") or ""}, None)
        text = self.describe(params)
        return text[0].lower() + text[1:]


class CreateTask(Action):
    key, label, uses = "create_task", "Create a task", ("title", "task_kind", "owner", "amount", "unit")

    def check(self, row, prefix):
        from app.services.tasks import check_kind, check_title
        try:
            title = check_title(row.get("title"))
        except ServiceError as exc:
            raise ServiceError(exc.message, field=prefix + "title") from None
        try:
            kind = check_kind(row.get("task_kind") or "todo")
        except ServiceError as exc:
            raise ServiceError(exc.message, field=prefix + "task_kind") from None
        owner = str(row.get("owner") or "")
        owner_id = _active_user_id(owner, prefix + "owner") if owner else None
        minutes = _minutes(row, prefix + "amount", allow_zero=True, limit=MAX_DUE_MINUTES, what="when it is due",
                           business=True)
        cleaned = {"kind": self.key, "title": title, "task_kind": kind, "owner_id": owner_id, "due_minutes": minutes}
        if str(row.get("unit") or "") == BUSINESS:
            cleaned["business"] = True
        return cleaned

    def due(self, params: dict, now: datetime) -> datetime:
        """When the task is due: so many minutes later, or so many hours of the team's opening hours
        (a task made on Friday evening "due in 2 business hours" is due on Monday morning)."""
        from app.services import business_time, sla
        minutes = params.get("due_minutes") or 0
        if params.get("business"):
            reached = business_time.reach(sla.calendar(), now, minutes * 60)
            if reached is None:
                raise ServiceError("the team's opening hours have no open time in the next two years")
            return reached
        return now + timedelta(minutes=minutes)

    def _who(self, params) -> str:
        return _name_of(User, params.get("owner_id")) or "a removed person" if params.get("owner_id") else "the lead's owner"

    def describe(self, params):
        due = "due at once" if not params.get("due_minutes") else \
            f"due {_span(params['due_minutes'], bool(params.get('business')))} later"
        return (f"Create the {KIND_LABELS.get(params.get('task_kind'), 'task').lower()} task "
                f"{_quoted(params.get('title'))} for {self._who(params)}, {due}")

    def run(self, ctx, params):
        from app.services import tasks
        lead = db.session.get(Lead, ctx.lead_id)
        owner_id = params.get("owner_id") or lead.owner_id
        if owner_id is None:
            raise ServiceError("the lead is in the pool, so nobody could own the task")
        tasks.create_task(ctx.lead_id, None, title=params["title"], kind=params.get("task_kind") or "todo",
                          owner_id=owner_id, due_at=self.due(params, ctx.now),
                          now=ctx.now)
        return f"created the task {_quoted(params['title'])} for {_name_of(User, owner_id)}"


class Enrol(Action):
    key, label, uses = "enrol", "Enrol in a sequence", ("sequence",)

    def check(self, row, prefix):
        return {"kind": self.key, "sequence_id": _sequence_id(row.get("sequence"), prefix + "sequence", True)}

    def describe(self, params):
        return f"Enrol in {_quoted(_name_of(Sequence, params.get('sequence_id')) or 'a deleted sequence')}"

    def run(self, ctx, params):
        from app.services import sequences
        if db.session.get(Sequence, params["sequence_id"]) is None:
            raise ServiceError("that sequence was deleted")
        sequences.enrol(ctx.lead_id, params["sequence_id"], None, how="automation", now=ctx.now)
        return f"enrolled the lead in {_quoted(_name_of(Sequence, params['sequence_id']))}"


class StopSequence(Action):
    key, label, uses = "stop_sequence", "Stop a sequence", ("sequence",)

    def check(self, row, prefix):
        return {"kind": self.key, "sequence_id": _sequence_id(row.get("sequence"), prefix + "sequence", False)}

    def describe(self, params):
        if params.get("sequence_id") is None:
            return "Stop every sequence the lead is in"
        return f"Stop {_quoted(_name_of(Sequence, params['sequence_id']) or 'a deleted sequence')}"

    def run(self, ctx, params):
        from app.services import sequences
        if params.get("sequence_id") is None:
            stopped = sequences.stop_lead([ctx.lead_id], "automation", ctx.now)
            return f"stopped {stopped} sequence{'s' if stopped != 1 else ''}"
        ids = list(db.session.scalars(select(SequenceEnrolment.id).where(
            SequenceEnrolment.lead_id == ctx.lead_id, SequenceEnrolment.sequence_id == params["sequence_id"],
            SequenceEnrolment.ended_at.is_(None))))
        if not ids:
            return f"found the lead not in {_quoted(_name_of(Sequence, params['sequence_id']))}"
        sequences.stop_enrolments(ids, "automation", ctx.now)
        return f"stopped {_quoted(_name_of(Sequence, params['sequence_id']))}"


class Notify(Action):
    key, label, uses = "notify", "Notify people", ("people", "message")
    GROUPS = {"owner": "the lead's owner", "admins": "every admin"}

    def check(self, row, prefix):
        to = str(row.get("people") or "")
        if to not in self.GROUPS:
            to = _active_user_id(to, prefix + "people")
        message = " ".join(str(row.get("message") or "").split())
        if not message:
            raise ServiceError("Write what the notice says.", field=prefix + "message")
        if len(message) > 300:
            raise ServiceError("Keep the notice under 300 characters.", field=prefix + "message")
        return {"kind": self.key, "to": to, "message": message}

    def _who(self, to) -> str:
        return self.GROUPS.get(to) or _name_of(User, to) or "a removed person"

    def describe(self, params):
        return f"Notify {self._who(params.get('to'))}: {_quoted(params.get('message'))}"

    def run(self, ctx, params):
        from app.models import Role
        from app.services import notifications
        to = params.get("to")
        lead = db.session.get(Lead, ctx.lead_id)
        if to == "owner":
            ids = [lead.owner_id] if lead.owner_id else []
        elif to == "admins":
            ids = list(db.session.scalars(select(User.id).where(User.role == Role.admin.value, User.active.is_(True))))
        else:
            ids = [to] if _user(to) else []
        if not ids:
            raise ServiceError("nobody to tell (no owner, or the person was deactivated)")
        told = notifications.notify(ids, "automation", f"{lead.full_name}: {params['message']}", lead_id=lead.id,
                                    now=ctx.now)
        return f"notified {self._who(to)}" if told else "told nobody (nobody active)"


EMAIL_KIND = "automation_email"
EMAIL_REFUSALS = {"no_email": "the lead has no email address", "template": "the template does not render for this lead",
                  "suppressed": "the lead's address is on the suppression list (unsubscribed or bounced)"}


class SendEmail(Action):
    key, label, uses = "send_email", "Send a template email", ("template",)

    def check(self, row, prefix):
        template_id = _existing(EmailTemplate, row.get("template"), prefix + "template", "Choose an email template.",
                                "That email template was deleted; choose another.")
        return {"kind": self.key, "template_id": template_id}

    def describe(self, params):
        return f"Send the email {_quoted(_name_of(EmailTemplate, params.get('template_id')) or 'a deleted template')}"

    def run(self, ctx, params):
        """As a sequence step sends: from the owner, with the unsubscribe link; never to an address
        that refuses our emails, nor without consent where the team requires it."""
        from app.services.consent import enrol_refusal
        from app.services.lead_emails import queue_template_email
        template = db.session.get(EmailTemplate, params["template_id"])
        if template is None:
            raise ServiceError("that email template was deleted")
        lead = db.session.get(Lead, ctx.lead_id)
        if lead.email_undeliverable_at is not None:
            raise ServiceError("the lead's address bounced, so no email was sent")
        refusal = enrol_refusal(lead)
        if refusal is not None:
            raise ServiceError("the lead has not agreed to emails, which the team requires")
        row, reason = queue_template_email(template, lead, ctx.now, kind=EMAIL_KIND)
        if reason is not None:
            raise ServiceError(EMAIL_REFUSALS[reason])
        return f"sent the email {_quoted(row.subject)}"


class CallWebhook(Action):
    key, label, uses = "call_webhook", "Call a webhook", ("endpoint",)

    def check(self, row, prefix):
        endpoint_id = _existing(WebhookEndpoint, row.get("endpoint"), prefix + "endpoint",
                                "Choose a webhook endpoint (add one in Settings → Webhooks).",
                                "That webhook endpoint was deleted; choose another.")
        return {"kind": self.key, "endpoint_id": endpoint_id}

    def describe(self, params):
        name = _name_of(WebhookEndpoint, params.get("endpoint_id"), "url")
        return f"Call the webhook {_quoted(name or 'a deleted endpoint')}"

    def run(self, ctx, params):
        """One signed delivery of `automation.called` (the lead, and which automation) to the endpoint,
        sent by the worker with the webhooks' retries, order per lead and address checks."""
        from app.services import webhooks
        sent = webhooks.send_to(params["endpoint_id"], webhooks.AUTOMATION_EVENT, lead_id=ctx.lead_id,
                                data={"automation": {"id": ctx.rule.id, "name": ctx.rule.name}}, now=ctx.now)
        if sent is None:
            raise ServiceError("the webhook endpoint was deleted or is turned off")
        return f"called the webhook {_quoted(_name_of(WebhookEndpoint, params['endpoint_id'], 'url'))}"


class Wait(Action):
    key, label, uses = "wait", "Wait", ("amount", "unit")

    def check(self, row, prefix):
        return {"kind": self.key, "minutes": _minutes(row, prefix + "amount", allow_zero=False,
                                                      limit=MAX_WAIT_MINUTES, what="a wait")}

    def describe(self, params):
        return f"Wait {_span(params.get('minutes') or 0)}"

    def schedule(self, ctx: Context, params: dict, index: int, event_name: str) -> str:
        db.session.add(AutomationWait(automation_id=ctx.rule.id, lead_id=ctx.lead_id, event=event_name,
                                      next_action=index + 1, due_at=ctx.now + timedelta(minutes=params["minutes"]),
                                      actions_digest=ctx.rule.digest or None, created_at=ctx.now))
        db.session.flush()
        return f"waiting {_span(params['minutes'])} before the next step"


ACTIONS: dict[str, Action] = {a.key: a for a in (
    Assign(), MoveStage(), AddTag(), RemoveTag(), SetField(), CreateTask(), Enrol(), StopSequence(), Notify(),
    SendEmail(), CallWebhook(), Wait())}


# --- waits (the worker's sweep) -----------------------------------------------------------------


def run_due_waits(now: datetime | None = None, batch: int = WAIT_BATCH) -> int:
    """Carry on the runs whose wait is over, one per transaction: each row is claimed FOR UPDATE
    SKIP LOCKED (PostgreSQL; SQLite writes one at a time) and marked done in the transaction that
    runs it, so two workers run each once. Returns how many ran."""
    now = now or utcnow()
    ran = 0
    for _ in range(batch):
        with atomic():
            wait = db.session.scalars(
                select(AutomationWait).join(Automation, Automation.id == AutomationWait.automation_id)
                .where(AutomationWait.done_at.is_(None), AutomationWait.due_at <= now, Automation.active.is_(True))
                .order_by(AutomationWait.due_at, AutomationWait.id).limit(1)
                .with_for_update(skip_locked=True, of=AutomationWait)).first()
            if wait is None:
                break
            wait.claimed_at = wait.done_at = now
            rule = next((r for r in active_rules() if r.id == wait.automation_id), None)
            if rule is not None:
                _carry_on(rule, wait, now)
            ran += 1
    return ran


def _carry_on(rule: Rule, wait: AutomationWait, now: datetime) -> None:
    """The rest of a run after its wait, if it still applies: the steps are the ones the wait was
    left under, and the lead still meets the automation's conditions (as they are now). Otherwise
    the run history says why it stopped."""
    if wait.actions_digest and wait.actions_digest != rule.digest:
        _record_run(rule.id, wait.lead_id, wait.event, "skipped",
                    "Stopped after the wait: the automation's steps were changed while this lead waited, so the "
                    "step it was waiting for may not be the next one any more.", now)
        return
    lead = _live_lead(wait.lead_id)
    if lead is None:
        return
    ok, problem = holds(rule, lead, now)
    if problem:
        _record_run(rule.id, lead.id, wait.event, "skipped", f"A condition cannot be checked: {problem}", now)
        return
    if not ok:
        _record_run(rule.id, lead.id, wait.event, "skipped",
                    f"Stopped after the wait: the lead no longer meets the conditions ({_unmet(rule, lead, now)}).", now)
        return
    run_rule(rule, wait.lead_id, wait.event, now, start=wait.next_action, checked=True)


def _unmet(rule: Rule, lead: Lead, now: datetime) -> str:
    """The conditions the lead does not meet, each with what the lead has instead."""
    known = conditions.fields(with_score=True)
    facts = _facts(lead, now, {c["field"] for c in rule.conditions})
    unmet = []
    for cond in rule.conditions:
        if not conditions.matches(dict(cond), facts):
            seen = conditions.explain(dict(cond), facts, known).removeprefix("Does not fire: ").rstrip(".")
            unmet.append(f"wanted: {conditions.describe(dict(cond), known)}; found: {seen}")
    return "; ".join(unmet) or "none of them holds"


# --- time-based triggers (the worker's sweep) ------------------------------------------------------


def timed_rules() -> list[Rule]:
    return [rule for rule in active_rules() if is_timed(rule.trigger)]


def start_cursor(automation_id: int, at: datetime) -> None:
    """From `at` on: the time-based automation fires for occurrences after this instant only
    (called when it is saved with a new trigger or options, and when it is resumed)."""
    db.session.execute(AutomationCursor.__table__.delete().where(AutomationCursor.automation_id == automation_id))
    db.session.add(AutomationCursor(automation_id=automation_id, after_at=at, after_id=0, swept_at=at))
    db.session.flush()


def _cursor(rule: Rule, now: datetime, *, lock: bool) -> AutomationCursor | None:
    """The automation's cursor (locked for this transaction with `lock`: on PostgreSQL a second
    worker waits, then reads where the first left it); made from when it was last saved if it has
    none, and None if it was paused or deleted meanwhile."""
    row = db.session.get(AutomationCursor, rule.id, with_for_update=lock or None, populate_existing=True)
    if row is not None:
        return row
    start = db.session.scalar(select(Automation.updated_at).where(Automation.id == rule.id,
                                                                  Automation.active.is_(True)))
    if start is None:
        return None
    _insert_ignoring_duplicates(AutomationCursor, [{"automation_id": rule.id, "after_at": start, "after_id": 0,
                                                    "swept_at": now}], ["automation_id"])
    return db.session.get(AutomationCursor, rule.id, with_for_update=True, populate_existing=True)


def _insert_ignoring_duplicates(model, rows: list[dict], keys: list[str], returning=()):
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(model).values(rows).on_conflict_do_nothing(index_elements=keys)
    if returning:
        return db.session.execute(statement.returning(*returning)).all()
    db.session.execute(statement)
    return []


def run_time_triggers(now: datetime | None = None, *, batch: int = TIME_BATCH, batches: int = TIME_BATCHES) -> int:
    """Fire the time-based automations for what fell due since their cursor, at most `batches` x
    `batch` occurrences each per sweep (the rest next sweep). Each batch is one transaction: the
    occurrence rows are inserted (a duplicate is skipped: it fired already, or another worker has
    it), the automation runs for the new ones (conditions checked, each run a savepoint), and the
    cursor moves on. Returns how many occurrences were new."""
    now = now or utcnow()
    fired = 0
    for rule in _with_something_due(timed_rules(), now):
        trigger = TRIGGERS[rule.trigger]
        try:
            for _ in range(batches):
                with atomic():
                    cursor = _cursor(rule, now, lock=True)
                    if cursor is None:
                        break
                    items = trigger.due(rule.opts, (cursor.after_at, cursor.after_id), now, batch)
                    new = set()
                    if items:
                        new = set(_insert_ignoring_duplicates(
                            AutomationOccurrence, [{"automation_id": rule.id, "lead_id": item.lead_id,
                                                    "key": item.key, "at": now} for item in items],
                            ["automation_id", "lead_id", "key"],
                            (AutomationOccurrence.lead_id, AutomationOccurrence.key)))
                    for item in items:
                        if (item.lead_id, item.key) in new:
                            run_rule(rule, item.lead_id, trigger.run_event, now)
                            fired += 1
                    if len(items) == batch:
                        cursor.after_at, cursor.after_id = items[-1].at, items[-1].key_id
                    elif now - SETTLE > cursor.after_at:
                        cursor.after_at, cursor.after_id = now - SETTLE, 0
                    cursor.swept_at = now
                if len(items) < batch:
                    break
        except Exception:  # one automation's trouble (a deleted date field) does not stop the others
            log.exception("Automation %s: the time-trigger sweep failed", rule.id)
    return fired


def _with_something_due(rules: list[Rule], now: datetime) -> list[Rule]:
    """The automations with an occurrence past their cursor, read in one read-only transaction.
    Most sweeps find nothing for most automations: their cursor then stays where it is (no lock, no
    write, no commit of their own), and the range it leaves, empty of what fired, is as cheap to
    read next time. An automation without a cursor yet is due for making one."""
    if not rules:
        return []
    found = []
    with atomic():
        cursors = {row.automation_id: (row.after_at, row.after_id) for row in db.session.execute(
            select(AutomationCursor.automation_id, AutomationCursor.after_at, AutomationCursor.after_id)
            .where(AutomationCursor.automation_id.in_([rule.id for rule in rules])))}
        for rule in rules:
            after = cursors.get(rule.id)
            try:
                if after is None or TRIGGERS[rule.trigger].due(rule.opts, after, now, 1):
                    found.append(rule)
            except ServiceError:  # a deleted date field: the automation's problem, shown in the list
                log.warning("Automation %s: its time trigger names something deleted", rule.id)
    return found


def backlog(trigger_key: str, raw_options: dict, now: datetime | None = None) -> tuple[int, str] | None:
    """For the builder: how many are already past a time-based trigger's point now (which it will
    not fire for), counted up to BACKLOG_CAP + 1, and what they are in words; None when the trigger
    is not time-based or its options are not complete."""
    trigger = TRIGGERS.get(trigger_key or "")
    if not getattr(trigger, "timed", False):
        return None
    try:
        options = trigger.check(raw_options or {})
        count = trigger.already(options, now or utcnow())
        return count, trigger.backlog_words[count != 1]
    except ServiceError:
        return None


def sweep() -> None:
    run_due_waits()
    run_time_triggers()


# --- editing ------------------------------------------------------------------------------------


@dataclass
class AutomationInput:
    name: str
    trigger: str
    trigger_options: dict
    match: str = "all"
    conditions: list = field(default_factory=list)
    actions: list = field(default_factory=list)  # rows: {"kind": ..., control: value}
    active: bool = True


def clean(given: AutomationInput) -> dict:
    """The automation as it will be saved; raises ServiceError naming the control: name, trigger,
    trigger_<option>, conditions-<i>-condition_<part>, actions (none), actions-<i>-<control>."""
    name = clean_name(given.name, "automation", NAME_LIMIT)
    trigger = TRIGGERS.get(given.trigger or "")
    if trigger is None:
        raise ServiceError("Choose what starts the automation.", field="trigger")
    options = trigger.check(given.trigger_options or {})
    match = given.match if given.match in ("all", "any") else "all"
    known = conditions.fields(with_score=True)
    conds = []
    rows = [c for c in (given.conditions or []) if str((c or {}).get("field") or "").strip()]
    if len(rows) > MAX_CONDITIONS:
        raise ServiceError(f"Use at most {MAX_CONDITIONS} conditions.", field="conditions")
    for index, raw in enumerate(given.conditions or []):
        if not str((raw or {}).get("field") or "").strip():
            continue
        try:
            conds.append(conditions.check(raw, known=known, with_score=True))
        except ServiceError as exc:
            raise ServiceError(exc.message, field=f"conditions-{index}-{exc.field or 'condition_field'}") from None
    actions = []
    rows = list(given.actions or [])
    for index, row in enumerate(rows):
        kind = str((row or {}).get("kind") or "")
        if not kind:
            continue
        action = ACTIONS.get(kind)
        if action is None:
            raise ServiceError("Choose one of the listed actions.", field=f"actions-{index}-kind")
        actions.append(action.check(row, f"actions-{index}-"))
    if not actions:
        raise ServiceError("Add at least one action: what should happen.", field="actions")
    if len(actions) > MAX_ACTIONS:
        raise ServiceError(f"Use at most {MAX_ACTIONS} actions.", field="actions")
    if actions[-1]["kind"] == "wait":
        last = max(i for i, row in enumerate(rows) if str((row or {}).get("kind") or ""))
        raise ServiceError("A wait needs an action after it: what happens once the time is up.",
                           field=f"actions-{last}-kind")
    return {"name": name, "trigger": trigger.key, "trigger_options": options, "match": match, "conditions": conds,
            "actions": actions, "active": bool(given.active)}


def save(automation_id: int | None, given: AutomationInput, actor_id: int | None,
         now: datetime | None = None) -> Automation:
    """Create or change an automation (later events only: a run under way keeps its place). Raises
    ServiceError as clean() does, AutomationNotFound, or one naming the cap."""
    now = now or utcnow()
    with atomic():
        cleaned = clean(given)
        _lock_saves()
        twin = db.session.scalar(select(Automation.id).where(func.lower(Automation.name) == cleaned["name"].lower(),
                                                             Automation.id != (automation_id or 0)).limit(1))
        if twin is not None:  # a double click, or two admins: one automation, not two that both act
            raise Conflict(f"There is already an automation called {_quoted(cleaned['name'])}. Open it to change it, "
                           "or give this one another name.", field="name")
        if automation_id is None:
            if db.session.scalar(select(func.count(Automation.id))) >= MAX_AUTOMATIONS:
                raise ServiceError(f"A team can have at most {MAX_AUTOMATIONS} automations. Delete one you no longer "
                                   "use, or combine two that share a trigger.")
            row = Automation(created_at=now, created_by_id=actor_id, **cleaned, updated_at=now)
            db.session.add(row)
            retimed = True
        else:
            row = get(automation_id)
            retimed = (row.trigger, row.trigger_options) != (cleaned["trigger"], cleaned["trigger_options"])
            for key, value in cleaned.items():
                setattr(row, key, value)
            row.updated_at = now
        db.session.flush()
        if retimed and is_timed(row.trigger):
            start_cursor(row.id, now)  # what is already past now never fires
        audit.record(actor_id, "automation.saved", row.name, {"trigger": row.trigger, "actions": len(row.actions),
                                                              "active": row.active})
    return row


def _lock_saves() -> None:
    """One save of an automation at a time (PostgreSQL; SQLite writes one at a time anyway), so the
    name check and the cap hold for two admins, or one double click, at once."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sql_text("SELECT pg_advisory_xact_lock(hashtext('leadboard.automations.save'))"))


def set_active(automation_id: int, active: bool, actor_id: int | None, now: datetime | None = None) -> Automation:
    """Pause or resume; waits of a paused automation wait until it is resumed."""
    with atomic():
        row = get(automation_id)
        if row.active != active:
            row.active, row.updated_at = active, now or utcnow()
            if active and is_timed(row.trigger):
                start_cursor(row.id, row.updated_at)  # what fell due while it was paused does not fire
            audit.record(actor_id, "automation.resumed" if active else "automation.paused", row.name)
    return row


def delete(automation_id: int, actor_id: int | None) -> str:
    """Remove an automation, its history and its waits; returns its name."""
    with atomic():
        row = get(automation_id)
        name = row.name
        audit.record(actor_id, "automation.deleted", name)
        db.session.execute(AutomationWait.__table__.delete().where(AutomationWait.automation_id == row.id))
        db.session.execute(AutomationOccurrence.__table__.delete().where(AutomationOccurrence.automation_id == row.id))
        db.session.execute(AutomationCursor.__table__.delete().where(AutomationCursor.automation_id == row.id))
        db.session.execute(AutomationRun.__table__.delete().where(AutomationRun.automation_id == row.id))
        db.session.delete(row)
    return name


def get(automation_id: int) -> Automation:
    row = db.session.get(Automation, automation_id) if isinstance(automation_id, int) else None
    if row is None:
        raise AutomationNotFound()
    return row


def automations() -> list[Automation]:
    return list(db.session.scalars(select(Automation).order_by(func.lower(Automation.name), Automation.id)
                                   .limit(MAX_AUTOMATIONS)))


# --- saying it in words ---------------------------------------------------------------------------


def describe_trigger(row) -> str:
    trigger = TRIGGERS.get(row.trigger)
    return trigger.describe(dict(row.trigger_options or {})) if trigger else "A trigger this version does not know"


def describe_conditions(row) -> list[str]:
    known = conditions.fields(with_score=True)
    return [conditions.describe(c, known) for c in (row.conditions or [])]


def describe_action(params: dict) -> str:
    action = ACTIONS.get(params.get("kind"))
    return action.describe(params) if action else "An action this version does not know"


def problems(row) -> list[str]:
    """What no longer works in a stored automation (a deleted stage, person, sequence, tag, field)."""
    found = []
    trigger = TRIGGERS.get(row.trigger)
    if trigger is None:
        found.append("Its trigger is unknown.")
    elif (problem := trigger.problem(dict(row.trigger_options or {}))):
        found.append(f"Trigger: {problem}")
    known = conditions.fields(with_score=True)
    for cond in row.conditions or []:
        if (problem := conditions.broken(cond, known)):
            found.append(f"Condition: {problem}")
    for params in row.actions or []:
        action = ACTIONS.get(params.get("kind"))
        if action is not None and (problem := action.problem(params)):
            found.append(f"{action.label}: {problem}")
    return found


def trigger_controls(options: dict | None) -> dict:
    """A stored trigger's options as the builder's trigger_* controls hold them (the time-based
    and band ones; the older triggers' options are their controls already)."""
    options = dict(options or {})
    out = {"band": options.get("band") or "", "date_field": options.get("date_field") or "",
           "when": options.get("when") or "after", "days": "" if options.get("days") is None else str(options["days"]),
           "amount": "", "unit": "minutes"}
    if options.get("minutes") is not None:
        out["amount"], out["unit"] = _split_minutes(options["minutes"])
    return out


def as_rows(row) -> list[dict]:
    """A stored automation's actions as the editor's rows hold them."""
    return [_as_row(params) for params in (row.actions or [])]


# --- history ------------------------------------------------------------------------------------


@dataclass
class Day:
    day: date
    counts: dict


def history(automation_id: int, now: datetime | None = None, days: int = HISTORY_DAYS) -> list[Day]:
    """Runs per day and status over the last `days` days, newest first (days without runs left out)."""
    since = (now or utcnow()) - timedelta(days=days)
    day = func.date(AutomationRun.at)
    per: dict[str, dict] = {}
    for when, status, count in db.session.execute(
            select(day, AutomationRun.status, func.count()).where(AutomationRun.automation_id == automation_id,
                                                                   AutomationRun.at >= since)
            .group_by(day, AutomationRun.status)):
        per.setdefault(str(when), {})[status] = count
    return [Day(date.fromisoformat(key[:10]), counts) for key, counts in sorted(per.items(), reverse=True)]


def recent_failures(automation_id: int, limit: int = 10) -> list[tuple[AutomationRun, str | None]]:
    """The last failed or stopped runs, with the lead's name."""
    rows = db.session.execute(
        select(AutomationRun, Lead).outerjoin(Lead, Lead.id == AutomationRun.lead_id)
        .where(AutomationRun.automation_id == automation_id, AutomationRun.status.in_(("failed", "skipped", "loop")))
        .order_by(AutomationRun.at.desc(), AutomationRun.id.desc()).limit(limit)).all()
    return [(run, lead.full_name if lead else None) for run, lead in rows]


def run_counts(ids: list[int], now: datetime | None = None, days: int = HISTORY_DAYS) -> dict[int, dict]:
    """{automation id: {status: runs}} over the last `days` days, for the list."""
    since = (now or utcnow()) - timedelta(days=days)
    out: dict[int, dict] = {}
    if ids:
        for automation_id, status, count in db.session.execute(
                select(AutomationRun.automation_id, AutomationRun.status, func.count())
                .where(AutomationRun.automation_id.in_(ids), AutomationRun.at >= since)
                .group_by(AutomationRun.automation_id, AutomationRun.status)):
            out.setdefault(automation_id, {})[status] = count
    return out


# --- trying one against a lead ----------------------------------------------------------------------


@dataclass
class DryRun:
    lead_name: str
    fires: bool  # whether the trigger's options fit the lead (for triggers that look at the lead)
    explanations: list[str]
    holds: bool
    outcomes: list[str]
    status: str | None


class _Undo(Exception):
    pass


def try_on_lead(automation_id: int, lead_id: int, now: datetime | None = None) -> DryRun:
    """What the automation would do to this lead now, changing nothing: its conditions explained,
    then its actions run in a transaction that is rolled back (so a failing action shows why)."""
    from app.services.leads import LeadNotFound
    now = now or utcnow()
    row = get(automation_id)
    rule = _rule(row)
    lead = _live_lead(lead_id) if isinstance(lead_id, int) else None
    if lead is None:
        raise LeadNotFound()
    known = conditions.fields(with_score=True)
    facts = conditions.facts_for([lead], now)[lead.id]
    conditions.refresh_score(facts, lead)
    explanations = [conditions.explain(dict(c), facts, known) for c in rule.conditions]
    ok, problem = holds(rule, lead, now)
    fires = True
    if rule.trigger == "lead_captured":
        fires = TRIGGERS[rule.trigger].fires(rule.opts, as_captured([lead.id], now)[lead.id], lead)
    if problem:
        return DryRun(lead.full_name, fires, explanations, False, [f"Skipped: {problem}"], "skipped")
    if not ok:
        return DryRun(lead.full_name, fires, explanations, False, [], None)
    outcome: dict = {}
    try:
        with atomic():
            status = run_rule(rule, lead.id, "dry_run", now, start=0)
            entry = db.session.scalar(select(AutomationRun.detail).where(AutomationRun.automation_id == rule.id,
                                                                         AutomationRun.lead_id == lead.id,
                                                                         AutomationRun.event == "dry_run")
                                      .order_by(AutomationRun.id.desc()).limit(1))
            outcome = {"status": status, "detail": entry or ""}
            raise _Undo()
    except _Undo:
        pass
    db.session.expire_all()
    return DryRun(lead.full_name, fires, explanations, True,
                  [part for part in outcome.get("detail", "").split("; ") if part], outcome.get("status"))


# --- ready-made examples ------------------------------------------------------------------------------


def _not_now_reason() -> str:
    """The team's lost reason closest to "not now" (the example's condition must name one of theirs)."""
    from app.models import LostReason
    names = list(db.session.scalars(select(LostReason.name).order_by(LostReason.position)))
    for wanted in ("not now", "timing", "later", "not ready"):
        found = next((n for n in names if wanted in n.casefold()), None)
        if found:
            return found
    return names[0] if names else "Not now"


def examples() -> dict[str, dict]:
    """Automations to start from, filled into the editor (nothing is saved until the admin saves)."""
    stages = list(db.session.execute(select(Stage.id, Stage.name, Stage.kind).order_by(Stage.position)))
    won = next((s for s in stages if s.kind == "won"), None)
    lost = next((s for s in stages if s.kind == "lost"), None)
    not_now = _not_now_reason()
    return {
        "hot": {"name": "Hot lead follow-up", "trigger": "lead_captured", "trigger_options": {},
                "conditions": [{"field": "score_band", "op": "equals", "value": "Hot"}],
                "actions": [{"kind": "create_task", "title": "Call", "task_kind": "call", "owner": "",
                             "amount": "5", "unit": "minutes"}],
                "label": "Hot lead → call task due in 5 minutes"},
        "not_now": {"name": "Not now: try again in 90 days", "trigger": "stage_entered",
                    "trigger_options": {"stage_id": lost.id if lost else None},
                    "conditions": [{"field": "lost_reason", "op": "equals", "value": not_now}],
                    "actions": [{"kind": "wait", "amount": "90", "unit": "days"},
                                {"kind": "create_task", "title": "Re-open: ask again", "task_kind": "call",
                                 "owner": "", "amount": "0", "unit": "minutes"}],
                    "label": f"Lost with reason “{not_now}” → a task to re-open it in 90 days"},
        "won": {"name": "Won: thank them", "trigger": "stage_entered",
                "trigger_options": {"stage_id": won.id if won else None}, "conditions": [],
                "actions": [{"kind": "notify", "people": "owner", "message": "Won! Send a thank-you note."},
                            {"kind": "stop_sequence", "sequence": ""}],
                "label": "Lead won → tell the owner and stop its sequences"},
        "idle": {"name": "Gone quiet: call again", "trigger": "no_activity", "trigger_options": {"days": 3},
                 "conditions": [],
                 "actions": [{"kind": "create_task", "title": "No answer for 3 days: call again", "task_kind": "call",
                              "owner": "", "amount": "0", "unit": "minutes"}],
                 "label": "No activity for 3 days → a call task for the owner"},
        "cancelled": {"name": "Cancelled appointment: call back", "trigger": "appointment_cancelled",
                      "trigger_options": {}, "conditions": [],
                      "actions": [{"kind": "wait", "amount": "1", "unit": "days"},
                                  {"kind": "create_task", "title": "Call to find a new time", "task_kind": "call",
                                   "owner": "", "amount": "0", "unit": "minutes"}],
                      "label": "Appointment cancelled → a day later, a call task"},
    }
