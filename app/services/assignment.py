"""Assignment rules: who gets a new lead, decided inside its capture transaction.

Rules are tried in order; the first whose condition matches and whose people include someone
available wins (away, deactivated, outside working hours and capped people are skipped, see
services/availability.py); none leaves the lead in the pool. A rule's round-robin turn is a row
(AssignmentTurn) locked FOR UPDATE by the capture that routes by it, so two leads captured at the
same moment take turns one after the other, and the turn survives restarts and a Redis flush.

A rule that cannot work (its person or group gone, a group with nobody, a condition on a deleted
field) never stops a capture: the rule is skipped, flagged `broken_since`, and the admins are
told once, not per lead; saving the rule (or its group) clears the flag."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.models import (
    AssignmentGroup, AssignmentGroupMember, AssignmentRule, AssignmentTally, AssignmentTurn, Lead,
    Role, Target, User,
)
from app.services import audit
from app.services import (
    Conflict, NotFound, ServiceError, atomic, availability, clean_name, conditions, settings_cache, transaction_memo, utcnow,
)
from app.services import events
from app.services.countries import normalize_country
from app.services.leads import normalize_email
from app.services.notifications import app_path, notify
from app.services.team_settings import team_timezone
from app.services.timeline import record

log = logging.getLogger(__name__)

MAX_RULES = 100
MAX_GROUPS = 50
MAX_CAP = 100_000
MAX_WEIGHT = 100
NAME_MAX = 80
TARGET_LABELS = {
    Target.person.value: "One person",
    Target.round_robin.value: "Round-robin over a group",
    Target.weighted.value: "Weighted round-robin over a group",
    Target.least_loaded.value: "Least-loaded member of a group",
}


class UnknownRule(NotFound):
    def __init__(self):
        super().__init__("That rule no longer exists. Reload the page to see the current rules.")


class UnknownGroup(NotFound):
    def __init__(self):
        super().__init__("That group no longer exists. Reload the page to see the current groups.", field="group")


@dataclass(frozen=True)
class Routed:
    """Where route() sent a lead: the new owner and the rule that chose them."""

    lead_id: int
    owner_id: int
    owner_name: str
    rule_id: int
    rule_name: str


@dataclass
class Verdict:
    """One rule's answer in the tester: did it match, why, and who would get the lead."""

    rule: AssignmentRule
    matched: bool | None  # None: the rule is off or broken, so it was not asked
    why: str
    owner: User | None = None
    skipped: list[str] = field(default_factory=list)  # "Ana (away)", "Ben (at the cap of 20)"


# --- routing -------------------------------------------------------------------------------------


def route(lead: Lead, now: datetime, actor_id: int | None = None, *, facts: dict | None = None,
          exclude: frozenset[int] = frozenset()) -> Routed | None:
    """Give a new, ownerless lead to the first rule's available person (call inside the capture's
    atomic()): sets the owner, writes the timeline and notifies them. None: it stays in the pool.
    `facts`: the lead's facts, score included, if the caller holds them (conditions.new_lead_facts).
    `exclude`: people who must not get it (an SLA breach passes the lead on from its late owner).

    Never raises for a broken rule: the rule is skipped and flagged (admins told once)."""
    if lead.owner_id is not None:
        return None
    rules = _enabled_rules()
    if not rules:
        return None
    if facts is None:
        needs = {f for rule, _ in rules if isinstance(f := (rule.condition or {}).get("field"), str)}  # only these
        facts = conditions.facts_for([lead], now, needs)[lead.id]
    for rule, problem in rules:
        matched = False
        if problem is None:
            try:
                matched = _matches(rule, facts)
            except Exception as exc:  # a condition the engine can no longer read: the rule is broken
                log.warning("Assignment rule %s could not be evaluated: %s", rule.id, exc)
                problem = f"its condition cannot be checked ({_reason(exc)})"
        if problem is not None:
            _mark_broken(rule, problem, now)
            continue
        if not matched:
            continue
        owner_id, _ = _pick(rule, now, lock=True, exclude=exclude)
        if owner_id is None:
            continue  # everyone is away, off work or capped: the next rule may have someone
        return _give(lead, rule, db.session.get(User, owner_id), now, actor_id)
    return None


@dataclass(frozen=True)
class _Member:
    user_id: int
    weight: int


@dataclass(frozen=True)
class _Group:
    name: str
    members: tuple[_Member, ...]


@dataclass(frozen=True)
class _Rule:
    """An enabled rule as plain data, with the attributes routing reads from an AssignmentRule."""

    id: int
    name: str
    condition: dict
    target: str
    user_id: int | None
    group: _Group | None
    cap: int | None
    broken_since: datetime | None


def _enabled_rules() -> tuple[tuple[_Rule, str | None], ...]:
    """The enabled rules in order, each with why it cannot route (rule_problem, or None), as plain
    data: read in one query with their groups and members, checked once, and kept between
    transactions while the settings are unchanged (services.settings_cache: a rule, group, user,
    field, stage, form or band saved anywhere renews the token)."""
    return settings_cache("assignment.enabled_rules", _load_enabled_rules)


def _load_enabled_rules() -> tuple[tuple[_Rule, str | None], ...]:
    known = conditions.fields(with_score=True)
    loaded = []
    for rule in db.session.scalars(
            select(AssignmentRule).where(AssignmentRule.enabled.is_(True))
            .options(joinedload(AssignmentRule.group).joinedload(AssignmentGroup.members))
            .order_by(AssignmentRule.position, AssignmentRule.id)).unique():
        group = None if rule.group is None else _Group(
            rule.group.name, tuple(_Member(m.user_id, m.weight) for m in rule.group.members))
        plain = _Rule(rule.id, rule.name, rule.condition or {}, rule.target, rule.user_id, group, rule.cap,
                      rule.broken_since)
        loaded.append((plain, rule_problem(plain, known)))
    return tuple(loaded)


def _reason(exc: Exception) -> str:
    return (getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:120]


def rule_problem(rule: AssignmentRule, known: dict | None = None) -> str | None:
    """Why a rule cannot route anything (its condition names a deleted field or value, its person
    or group is gone, its group is empty), or None. `known`: conditions.fields(with_score=True), if at hand."""
    if rule.condition:
        problem = conditions.broken(rule.condition, known if known is not None else conditions.fields(with_score=True))
        if problem:
            return f"its condition no longer works: {problem[0].lower()}{problem[1:].rstrip('.')}"
    if rule.target == Target.person.value:
        return None if rule.user_id is not None else "its person no longer exists"
    if rule.group is None:
        return "its group was deleted"
    if not rule.group.members:
        return f"its group {rule.group.name} has nobody in it"
    return None


def _matches(rule: AssignmentRule, facts: dict) -> bool:
    return not rule.condition or conditions.matches(rule.condition, facts)


def _members(rule: AssignmentRule) -> list[tuple[int, int]]:
    """(user id, weight) of the people the rule may pick, in user-id order."""
    if rule.target == Target.person.value:
        return [(rule.user_id, 1)] if rule.user_id is not None else []
    return sorted((m.user_id, m.weight) for m in rule.group.members) if rule.group else []


TURN_HELD = "leadboard_assignment_turn_held"


def holds_turn() -> bool:
    """Whether this transaction has locked a round-robin turn, which every capture routed by that
    rule now waits for until it ends: a caller capturing many leads in one transaction (an import
    batch) commits then, so a form capture waits for one lead's routing, not for a whole batch."""
    current = db.session().get_transaction()
    return current is not None and db.session.info.get(TURN_HELD) is current


def _lock_turn(rule_id: int) -> AssignmentTurn:
    """The rule's turn row, locked until the capture commits (SQLite: BEGIN IMMEDIATE already
    serialises writers). Made here if missing, which only a hand-made rule row would need."""
    db.session.info[TURN_HELD] = db.session().get_transaction()
    query = (select(AssignmentTurn).where(AssignmentTurn.rule_id == rule_id).with_for_update()
             .execution_options(populate_existing=True))
    turn = db.session.scalar(query)
    if turn is None:
        try:
            with atomic():
                db.session.add(AssignmentTurn(rule_id=rule_id, turn=0))
        except IntegrityError:
            pass  # another capture made it first
        turn = db.session.scalar(query)
    return turn


def weighted_sequence(members: list[tuple[int, int]]) -> list[int]:
    """One cycle of smooth weighted round-robin: each member appears `weight` times, spread out
    (weights 3, 1 give A A B A rather than A A A B)."""
    current = {uid: 0 for uid, _ in members}
    total = sum(weight for _, weight in members)
    sequence = []
    for _ in range(total):
        for uid, weight in members:
            current[uid] += weight
        chosen = max(members, key=lambda m: (current[m[0]], -m[0]))[0]
        current[chosen] -= total
        sequence.append(chosen)
    return sequence


def _after(ids: list[int], last: int | None) -> list[int]:
    """`ids` (sorted) starting with the first one after `last`, wrapping round."""
    if last is None:
        return ids
    start = next((i for i, uid in enumerate(ids) if uid > last), 0)
    return ids[start:] + ids[:start]


def _pick(rule: AssignmentRule, now: datetime, *, lock: bool,
          exclude: frozenset[int] = frozenset()) -> tuple[int | None, list[tuple[int, str]]]:
    """Whose turn it is among the rule's available people, and who was skipped and why.

    lock=True (routing) locks and advances the rule's turn; lock=False (the tester) only reads it."""
    members = _members(rule)
    ids = [uid for uid, _ in members]
    if not ids:
        return None, []
    turn = _lock_turn(rule.id) if lock else (db.session.get(AssignmentTurn, rule.id) or AssignmentTurn(turn=0))
    free = availability.available(ids, now) - exclude
    skipped = [(uid, "unavailable") for uid in ids if uid not in free]
    counts = availability.open_lead_counts(ids) if rule.cap or rule.target == Target.least_loaded.value else {}
    if rule.cap:
        capped = {uid for uid in free if counts.get(uid, 0) >= rule.cap}
        skipped += [(uid, f"at the cap of {rule.cap}") for uid in sorted(capped)]
        free -= capped
    chosen = None
    if rule.target == Target.weighted.value:
        sequence = weighted_sequence(members)
        position = (turn.turn or 0) % len(sequence)
        for step in range(len(sequence)):
            uid = sequence[(position + step) % len(sequence)]
            if uid in free:
                chosen = uid
                if lock:
                    turn.turn = (turn.turn or 0) + step + 1
                break
    else:
        order = _after(ids, turn.last_user_id)
        candidates = [uid for uid in order if uid in free]
        if rule.target == Target.least_loaded.value and candidates:
            fewest = min(counts.get(uid, 0) for uid in candidates)
            candidates = [uid for uid in candidates if counts.get(uid, 0) == fewest]  # ties take turns
        chosen = candidates[0] if candidates else None
        if lock and chosen is not None:
            turn.last_user_id = chosen
            turn.turn = (turn.turn or 0) + 1
    return chosen, skipped


def _give(lead: Lead, rule: AssignmentRule, owner: User, now: datetime, actor_id: int | None) -> Routed:
    events.emit("lead.assigned", lead_id=lead.id, data={"previous_owner_id": lead.owner_id, "owner_id": owner.id},
                now=now)
    lead.owner_id = owner.id
    record(lead.id, "assigned", actor_id, {"to": owner.name, "rule": rule.name, "rule_id": rule.id}, now)
    if owner.id != actor_id:
        notify([owner.id], "assigned", f"New lead for you: {lead.full_name} (rule “{rule.name}”).",
               lead_id=lead.id, now=now)
    _tally(rule.id, owner.id, _team_day(now))
    db.session.flush()
    return Routed(lead_id=lead.id, owner_id=owner.id, owner_name=owner.name, rule_id=rule.id, rule_name=rule.name)


def _team_day(now: datetime) -> date:
    try:
        zone = ZoneInfo(team_timezone())
    except Exception:  # an unknown zone name must not stop a capture
        zone = ZoneInfo("UTC")
    return now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()


def _tally(rule_id: int, user_id: int, day: date) -> None:
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(AssignmentTally).values(day=day, rule_id=rule_id, user_id=user_id, count=1)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["day", "rule_id", "user_id"], set_={"count": AssignmentTally.count + 1}))


def _mark_broken(rule: AssignmentRule, reason: str, now: datetime) -> None:
    """Flag the rule and tell the admins, once: only the capture whose update finds the flag unset
    writes the notices (two captures at once: the second waits for the first's row lock, then finds
    it set)."""
    if rule.broken_since is not None:
        return
    flagged = db.session.execute(
        update(AssignmentRule).where(AssignmentRule.id == rule.id, AssignmentRule.broken_since.is_(None))
        .values(broken_since=now, broken_reason=reason[:200]).execution_options(synchronize_session=False)).rowcount
    if not flagged:
        return
    message = (f"The assignment rule “{rule.name}” is skipped because {reason}. New leads it would take go to "
               "the next rule or the pool until an admin fixes it in Settings → Assignment.")
    admins = db.session.scalars(select(User.id).where(User.role == Role.admin.value, User.active.is_(True)))
    notify(admins, "rule_broken", message, url=app_path("settings.assignment"), now=now)


# --- reading -------------------------------------------------------------------------------------


def rules() -> list[AssignmentRule]:
    """Every rule in order, with its person and group."""
    return list(db.session.scalars(
        select(AssignmentRule).options(selectinload(AssignmentRule.user),
                                       selectinload(AssignmentRule.group).selectinload(AssignmentGroup.members))
        .order_by(AssignmentRule.position, AssignmentRule.id)))


def any_enabled() -> bool:
    """Whether new leads would be routed at all (the new-lead form's default owner choice)."""
    return db.session.scalar(select(AssignmentRule.id).where(AssignmentRule.enabled.is_(True)).limit(1)) is not None


def groups() -> list[AssignmentGroup]:
    return list(db.session.scalars(
        select(AssignmentGroup).options(selectinload(AssignmentGroup.members).selectinload(AssignmentGroupMember.user))
        .order_by(func.lower(AssignmentGroup.name))))


def get_rule(rule_id: int) -> AssignmentRule:
    rule = db.session.get(AssignmentRule, rule_id) if isinstance(rule_id, int) else None
    if rule is None:
        raise UnknownRule()
    return rule


def get_group(group_id: int) -> AssignmentGroup:
    group = db.session.get(AssignmentGroup, group_id) if isinstance(group_id, int) else None
    if group is None:
        raise UnknownGroup()
    return group


def describe_target(rule: AssignmentRule) -> str:
    """"Ana Lima", "round-robin over Sales DACH", ... with the cap if any."""
    if rule.target == Target.person.value:
        text = rule.user.name if rule.user else "a person who no longer exists"
    else:
        group = rule.group.name if rule.group else "a deleted group"
        text = {Target.round_robin.value: f"round-robin over {group}",
                Target.weighted.value: f"weighted round-robin over {group}",
                Target.least_loaded.value: f"the least-loaded member of {group}"}[rule.target]
    return text + (f", at most {rule.cap} open leads each" if rule.cap else "")


def describe_condition(rule: AssignmentRule, known: dict | None = None) -> str:
    if not rule.condition:
        return "Every lead"
    try:
        return conditions.describe(rule.condition, known if known is not None else conditions.fields(with_score=True))
    except Exception as exc:
        return f"A condition that can no longer be read ({_reason(exc)})"


# --- editing -------------------------------------------------------------------------------------


def _check_rule(target: str, user_id: int | None, group_id: int | None, cap: int | None) -> None:
    if cap is not None and not 1 <= cap <= MAX_CAP:
        raise ServiceError(f"A cap is a number of open leads from 1 to {MAX_CAP:,}; leave it empty for no cap.",
                           field="cap")
    if target not in TARGET_LABELS:
        raise ServiceError("Choose who receives the leads.", field="target")
    if target == Target.person.value:
        user = db.session.get(User, user_id) if user_id is not None else None
        if user is None:
            raise ServiceError("Choose the person who receives the leads.", field="user")
        if not user.active:
            raise ServiceError(f"{user.name} is deactivated. Choose someone else.", field="user")
    else:
        group = db.session.get(AssignmentGroup, group_id) if group_id is not None else None
        if group is None:
            raise ServiceError("Choose the group that shares the leads.", field="group")
        if not group.members:
            raise ServiceError(f"The group {group.name} has nobody in it. Add members to it first.", field="group")


def save_rule(rule_id: int | None, *, name: str, condition: dict, target: str, user_id: int | None = None,
              group_id: int | None = None, cap: int | None = None, actor_id: int | None = None) -> AssignmentRule:
    """Add a rule at the end of the list (rule_id None) or change one; clears its broken flag.

    `condition` is conditions.check()'s result ({} for every lead). Raises ServiceError naming the field."""
    name = clean_name(name, "rule", NAME_MAX)
    with atomic():
        _check_rule(target, user_id, group_id, cap)
        if rule_id is None:
            if db.session.scalar(select(func.count()).select_from(AssignmentRule)) >= MAX_RULES:
                raise ServiceError(f"There are already {MAX_RULES} rules, the most Leadboard keeps. "
                                   "Delete or combine some first.", field="name")
            last = db.session.scalar(select(func.max(AssignmentRule.position)))
            rule = AssignmentRule(position=(last + 1) if last is not None else 0, enabled=True, created_at=utcnow())
        else:
            rule = get_rule(rule_id)
        rule.name, rule.condition, rule.target, rule.cap = name, condition or {}, target, cap
        rule.user_id = user_id if target == Target.person.value else None
        rule.group_id = None if target == Target.person.value else group_id
        rule.broken_since = rule.broken_reason = None
        audit.record(actor_id, "assignment_rule.saved", f"Assignment rule {name}")
        if rule_id is None:
            db.session.add(rule)
            db.session.flush()
            db.session.add(AssignmentTurn(rule_id=rule.id, turn=0))
    return rule


def set_enabled(rule_id: int, enabled: bool, actor_id: int | None = None) -> AssignmentRule:
    with atomic():
        rule = get_rule(rule_id)
        if rule.enabled != enabled:
            audit.record(actor_id, "assignment_rule.enabled" if enabled else "assignment_rule.disabled", f"Assignment rule {rule.name}")
        rule.enabled = enabled
    return rule


def delete_rule(rule_id: int, actor_id: int | None = None) -> None:
    with atomic():
        rule = get_rule(rule_id)
        audit.record(actor_id, "assignment_rule.deleted", f"Assignment rule {rule.name}")
        db.session.delete(rule)


def rename_condition_field(old: str, new: str) -> int:
    """Point the rules whose condition names field `old` at `new`, inside the caller's atomic() (a
    custom field's key renamed). One query for the rules, bounded by their number; returns how many changed."""
    changed = 0
    for rule in db.session.scalars(select(AssignmentRule)):
        cond = conditions.renamed(rule.condition, old, new)
        if cond is not None:
            rule.condition = cond
            changed += 1
    if changed:
        db.session.flush()
    return changed


def reorder_rules(rule_ids: list[int]) -> list[AssignmentRule]:
    """Put the rules in the given order; the list must name every rule exactly once."""
    with atomic():
        found = {r.id: r for r in db.session.scalars(select(AssignmentRule).with_for_update())}
        if sorted(rule_ids) != sorted(found):
            raise Conflict("The rules changed while you were editing them. Reload to see the current rules.")
        for position, rule_id in enumerate(rule_ids):
            found[rule_id].position = position
    return rules()


def shift_rule(rule_id: int, offset: int) -> list[AssignmentRule]:
    """Move one rule up (-1) or down (+1): the keyboard alternative to dragging."""
    ids = [r.id for r in rules()]
    if rule_id not in ids:
        raise UnknownRule()
    i = ids.index(rule_id)
    j = max(0, min(len(ids) - 1, i + offset))
    ids[i], ids[j] = ids[j], ids[i]
    return reorder_rules(ids)


def save_group(group_id: int | None, *, name: str, members: dict[int, int], actor_id: int | None = None) -> AssignmentGroup:
    """Add or change a group: `members` maps user id to weight (1 to MAX_WEIGHT). Clears the broken
    flag of the rules that use it. Raises ServiceError naming the field ("members", "weight-<id>")."""
    name = clean_name(name, "group", NAME_MAX)
    if not members:
        raise ServiceError("Pick at least one member: a group with nobody in it cannot receive leads.",
                           field="members")
    for user_id, weight in members.items():
        if weight is None or not 1 <= weight <= MAX_WEIGHT:
            raise ServiceError(f"A weight is a whole number from 1 to {MAX_WEIGHT}.", field=f"weight-{user_id}")
    with atomic():
        taken = select(AssignmentGroup.id).where(func.lower(AssignmentGroup.name) == name.lower())
        if group_id is not None:
            taken = taken.where(AssignmentGroup.id != group_id)
        if db.session.scalar(taken.limit(1)) is not None:
            raise ServiceError(f"There is already a group called {name}. Pick another name.", field="name")
        people = set(db.session.scalars(select(User.id).where(User.id.in_(list(members)), User.active.is_(True))))
        if people != set(members):
            raise ServiceError("Someone you picked was deactivated or removed. Reload and pick again.",
                               field="members")
        if group_id is None:
            if db.session.scalar(select(func.count()).select_from(AssignmentGroup)) >= MAX_GROUPS:
                raise ServiceError(f"There are already {MAX_GROUPS} groups, the most Leadboard keeps.", field="name")
            group = AssignmentGroup(name=name, created_at=utcnow())
            db.session.add(group)
        else:
            group = get_group(group_id)
        audit.record(actor_id, "assignment_group.saved", f"Group {name} ({len(members)} member{'s' if len(members) != 1 else ''})")
        group.name = name
        group.members = [AssignmentGroupMember(user_id=uid, weight=weight) for uid, weight in sorted(members.items())]
        db.session.flush()
        db.session.execute(update(AssignmentRule).where(AssignmentRule.group_id == group.id)
                           .values(broken_since=None, broken_reason=None).execution_options(synchronize_session=False))
    return group


def delete_group(group_id: int, actor_id: int | None = None) -> None:
    """Delete a group no rule uses; raises Conflict naming the rules that still do."""
    with atomic():
        group = get_group(group_id)
        using = list(db.session.scalars(select(AssignmentRule.name).where(AssignmentRule.group_id == group.id)
                                        .order_by(AssignmentRule.position).limit(5)))
        if using:
            raise Conflict(f"The group {group.name} is used by the rule{'s' if len(using) > 1 else ''} "
                           f"{', '.join(using)}. Change those rules first.")
        audit.record(actor_id, "assignment_group.deleted", f"Group {group.name}")
        db.session.delete(group)


# --- the tester and the history -------------------------------------------------------------------


def try_lead(lead: Lead, now: datetime | None = None) -> tuple[list[Verdict], Verdict | None]:
    """Which rule would take this lead (a saved one, or an unsaved Lead with an id of 0), and why
    each rule before it did not; changes nothing (the turns are read, not advanced)."""
    now = now or utcnow()
    facts = conditions.facts_for([lead], now)[lead.id]
    names = {u.id: u.name for u in db.session.scalars(select(User))}
    known = conditions.fields(with_score=True)
    verdicts, winner = [], None
    for rule in rules():
        if winner is not None:
            verdicts.append(Verdict(rule, None, "Not reached: an earlier rule takes the lead."))
            continue
        if not rule.enabled:
            verdicts.append(Verdict(rule, None, "Turned off."))
            continue
        problem = rule_problem(rule, known)
        if problem is None:
            try:
                matched = _matches(rule, facts)
                why = conditions.explain(rule.condition, facts, known) if rule.condition else "Every lead matches."
            except Exception as exc:
                problem = f"its condition cannot be checked ({_reason(exc)})"
        if problem is not None:
            verdicts.append(Verdict(rule, None, f"Skipped: {problem}."))
            continue
        if not matched:
            verdicts.append(Verdict(rule, False, why))
            continue
        owner_id, skipped = _pick(rule, now, lock=False)
        verdict = Verdict(rule, True, why, owner=db.session.get(User, owner_id) if owner_id else None,
                          skipped=[f"{names.get(uid, 'someone')} ({reason})" for uid, reason in skipped])
        if owner_id is None:
            verdict.why += " Nobody in it is available, so the next rule is tried."
        else:
            winner = verdict
        verdicts.append(verdict)
    return verdicts, winner


def lead_by_email(email: str) -> Lead | None:
    """The newest lead with this email (as normalised on capture), for the tester."""
    try:
        email = normalize_email(email)
    except ServiceError:
        return None
    return db.session.scalar(select(Lead).where(Lead.email == email).order_by(Lead.id.desc()).limit(1)) if email else None


def sample_lead(values: dict) -> Lead:
    """An unsaved lead (id 0) holding typed fields, for the tester; fields Lead lacks are ignored.
    Raises ServiceError naming a country that is none."""
    lead = Lead(id=0, first_name="", last_name="", owner_id=None, score=0)
    for name, value in values.items():
        if hasattr(Lead, name) and value not in (None, ""):
            setattr(lead, name, value.strip() if isinstance(value, str) else value)
    lead.country = normalize_country(lead.country)  # raises ServiceError (field "country")
    return lead


@dataclass
class HistoryRow:
    rule_name: str
    counts: list[tuple[str, int]]  # (member, leads), most first

    @property
    def total(self) -> int:
        return sum(count for _, count in self.counts)


def week_start(now: datetime | None = None) -> date:
    """Monday of this week in the team's timezone."""
    today = _team_day(now or utcnow())
    return today - timedelta(days=today.weekday())


def history(now: datetime | None = None) -> list[HistoryRow]:
    """Leads each rule gave each member since Monday (team timezone): at most 7 tally rows per rule
    and member, whatever the number of leads."""
    rows = db.session.execute(
        select(AssignmentRule.id, AssignmentRule.name, User.name, func.sum(AssignmentTally.count))
        .join(AssignmentRule, AssignmentRule.id == AssignmentTally.rule_id)
        .join(User, User.id == AssignmentTally.user_id)
        .where(AssignmentTally.day >= week_start(now))
        .group_by(AssignmentRule.id, AssignmentRule.name, AssignmentRule.position, User.id, User.name)
        .order_by(AssignmentRule.position, AssignmentRule.id, func.sum(AssignmentTally.count).desc(), User.name))
    table: dict[int, HistoryRow] = {}
    for rule_id, rule_name, user_name, count in rows:
        table.setdefault(rule_id, HistoryRow(rule_name, [])).counts.append((user_name, int(count)))
    return list(table.values())
