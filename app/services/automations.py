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

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import event as sa_event, func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import (
    Automation, AutomationRun, AutomationWait, CaptureForm, EmailTemplate, Lead, Sequence, SequenceEnrolment, Stage,
    User, WebhookEndpoint,
)
from app.models.task import KIND_LABELS
from app.services import (
    PENDING_EVENTS, NotFound, ServiceError, atomic, audit, clean_name, conditions, settings_cache, utcnow,
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

    @property
    def opts(self) -> dict:
        return dict(self.options)


def _freeze(value):
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _rule(row: Automation) -> Rule:
    return Rule(row.id, row.name, row.trigger, _freeze(row.trigger_options or {}), row.match or "all",
                tuple(row.conditions or ()), tuple(row.actions or ()))


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
        if key in ev.seen:
            _record_run(rule.id, lead.id, ev.name, "loop", "Stopped: it had already run for this lead on the event "
                                                           "that started this chain.", ev.now)
            continue
        if ev.depth >= MAX_DEPTH:
            _record_run(rule.id, lead.id, ev.name, "loop", f"Stopped: {MAX_DEPTH} automations in a row had triggered "
                                                           "each other.", ev.now)
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
    event = ""
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
        if options.get("way") and ev is not None and (ev.data or {}).get("way") != options["way"]:
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


TRIGGERS: dict[str, Trigger] = {t.key: t for t in (
    LeadCaptured(), StageEntered(), StageLeft(), OwnerChanged(), TagAdded(), FieldChanged(), TaskCompleted(),
    AppointmentConfirmed(), AppointmentCancelled(), AppointmentBooked(), NewTimeAsked())}


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
        stage_id = _id(row.get("stage"))
        if stage_id is None:
            raise ServiceError("Choose a stage.", field=prefix + "stage")
        if db.session.get(Stage, stage_id) is None:
            raise ServiceError("That stage was deleted; choose another.", field=prefix + "stage")
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
        template_id = _id(row.get("template"))
        if template_id is None:
            raise ServiceError("Choose an email template.", field=prefix + "template")
        if db.session.get(EmailTemplate, template_id) is None:
            raise ServiceError("That email template was deleted; choose another.", field=prefix + "template")
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
        endpoint_id = _id(row.get("endpoint"))
        if endpoint_id is None:
            raise ServiceError("Choose a webhook endpoint (add one in Settings → Webhooks).", field=prefix + "endpoint")
        if db.session.get(WebhookEndpoint, endpoint_id) is None:
            raise ServiceError("That webhook endpoint was deleted; choose another.", field=prefix + "endpoint")
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
                                      created_at=ctx.now))
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
                run_rule(rule, wait.lead_id, wait.event, now, start=wait.next_action)
            ran += 1
    return ran


def sweep() -> None:
    run_due_waits()


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
        if automation_id is None:
            if db.session.scalar(select(func.count(Automation.id))) >= MAX_AUTOMATIONS:
                raise ServiceError(f"A team can have at most {MAX_AUTOMATIONS} automations. Delete one you no longer "
                                   "use, or combine two that share a trigger.")
            row = Automation(created_at=now, created_by_id=actor_id, **cleaned, updated_at=now)
            db.session.add(row)
        else:
            row = get(automation_id)
            for key, value in cleaned.items():
                setattr(row, key, value)
            row.updated_at = now
        db.session.flush()
        audit.record(actor_id, "automation.saved", row.name, {"trigger": row.trigger, "actions": len(row.actions),
                                                              "active": row.active})
    return row


def set_active(automation_id: int, active: bool, actor_id: int | None, now: datetime | None = None) -> Automation:
    """Pause or resume; waits of a paused automation wait until it is resumed."""
    with atomic():
        row = get(automation_id)
        if row.active != active:
            row.active, row.updated_at = active, now or utcnow()
            audit.record(actor_id, "automation.resumed" if active else "automation.paused", row.name)
    return row


def delete(automation_id: int, actor_id: int | None) -> str:
    """Remove an automation, its history and its waits; returns its name."""
    with atomic():
        row = get(automation_id)
        name = row.name
        audit.record(actor_id, "automation.deleted", name)
        db.session.execute(AutomationWait.__table__.delete().where(AutomationWait.automation_id == row.id))
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
        fires = TRIGGERS[rule.trigger].fires(rule.opts, Event(TRIGGERS[rule.trigger].event, lead.id, {}, None, now, 0,
                                                               set()), lead)
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


def examples() -> dict[str, dict]:
    """Automations to start from, filled into the editor (nothing is saved until the admin saves)."""
    stages = list(db.session.execute(select(Stage.id, Stage.name, Stage.kind).order_by(Stage.position)))
    won = next((s for s in stages if s.kind == "won"), None)
    lost = next((s for s in stages if s.kind == "lost"), None)
    return {
        "hot": {"name": "Hot lead follow-up", "trigger": "lead_captured", "trigger_options": {},
                "conditions": [{"field": "score_band", "op": "equals", "value": "Hot"}],
                "actions": [{"kind": "create_task", "title": "Call", "task_kind": "call", "owner": "",
                             "amount": "5", "unit": "minutes"}],
                "label": "Hot lead → call task due in 5 minutes"},
        "not_now": {"name": "Not now: try again in 90 days", "trigger": "stage_entered",
                    "trigger_options": {"stage_id": lost.id if lost else None},
                    "conditions": [{"field": "lost_reason", "op": "equals", "value": "Not now"}],
                    "actions": [{"kind": "wait", "amount": "90", "unit": "days"},
                                {"kind": "create_task", "title": "Re-open: ask again", "task_kind": "call",
                                 "owner": "", "amount": "0", "unit": "minutes"}],
                    "label": "Lost with reason “Not now” → a task to re-open it in 90 days"},
        "won": {"name": "Won: thank and tag", "trigger": "stage_entered",
                "trigger_options": {"stage_id": won.id if won else None}, "conditions": [],
                "actions": [{"kind": "notify", "people": "owner", "message": "Won! Send a thank-you note."},
                            {"kind": "stop_sequence", "sequence": ""}],
                "label": "Lead won → tell the owner and stop its sequences"},
        "cancelled": {"name": "Cancelled appointment: call back", "trigger": "appointment_cancelled",
                      "trigger_options": {}, "conditions": [],
                      "actions": [{"kind": "wait", "amount": "1", "unit": "days"},
                                  {"kind": "create_task", "title": "Call to find a new time", "task_kind": "call",
                                   "owner": "", "amount": "0", "unit": "minutes"}],
                      "label": "Appointment cancelled → a day later, a call task"},
    }
