"""Lead scoring: rules admins write (a condition and points), bands they name, and every lead's
score with its reasons.

A score changes in the same transaction as the event that changes it: the service that captures,
edits, moves, books or notes calls rescore() inside its atomic(). Changing the rules starts a
ScoringRun, which the worker's job (app/jobs/scoring.py) works through in batches of BATCH leads;
the clock's own changes (points fading, a lead going idle) are found by the worker's sweep through
`leads.score_changes_at`. A rule whose condition no longer checks (its custom field was deleted)
is shown as broken and skipped: it never stops a capture."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import func, insert, or_, select, update

from app.extensions import db
from app.models import Lead, ScoreBand, ScoringRule, ScoringRun, TimelineEntry
from app.services import audit
from app.services import NotFound, ServiceError, atomic, in_atomic, settings_cache, utcnow
from app.services import conditions
from app.services.timeline import record

MAX_RULES = 200
MAX_POINTS = 1000
MAX_FADE_DAYS = 3650
MAX_BANDS = 6
BAND_LIMIT = 100_000
BATCH = 1000
SWEEP_BATCHES = 20  # the clock's changes: at most this many batches a sweep, the rest next time
RUN_STALE = timedelta(minutes=5)  # a running run with no heartbeat for this long was lost with its worker
RUN_REQUEUE = timedelta(minutes=1)  # a queued run not picked up this long after (Redis was away)
JOB_TIMEOUT = 3600
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_BANDS = (("Cold", None, "#64748b"), ("Warm", 20, "#d97706"), ("Hot", 50, "#dc2626"))


class RuleNotFound(NotFound):
    def __init__(self):
        super().__init__("That scoring rule no longer exists. Reload the page to see the current rules.")


# --- what the rules are -------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    name: str
    min_score: int | None  # None: from any score
    max_score: int | None  # exclusive; None: no upper end
    colour: str


@dataclass
class Ruleset:
    """The enabled rules, checked once for a whole batch of leads, and the bands."""

    usable: list[tuple[ScoringRule, dict]] = field(default_factory=list)
    broken: dict[int, str] = field(default_factory=dict)
    bands: list[Band] = field(default_factory=list)
    known: dict = field(default_factory=dict)
    # (id, label, points, fade_days, condition, whether the clock can change it): compute()'s inputs
    plain: list[tuple] = field(default_factory=list)
    needs: set[str] = field(default_factory=set)  # the condition fields the enabled rules ask about


def rules() -> list[ScoringRule]:
    """Every rule in order, enabled or not."""
    return list(db.session.scalars(select(ScoringRule).order_by(ScoringRule.position, ScoringRule.id)))


def bands() -> list[Band]:
    """The bands from lowest to highest (the defaults until admins save their own); read once per
    transaction at most (services.settings_cache keeps them while the settings are unchanged)."""
    raw = settings_cache("scoring.bands", lambda: tuple((b.name, b.min_score, b.colour) for b in db.session.scalars(
        select(ScoreBand).order_by(ScoreBand.min_score.is_not(None), ScoreBand.min_score)))) or DEFAULT_BANDS
    return [Band(name, low, raw[i + 1][1] if i + 1 < len(raw) else None, colour)
            for i, (name, low, colour) in enumerate(raw)]


def band_of(score: int, all_bands: list[Band] | None = None) -> Band | None:
    for band in reversed(all_bands if all_bands is not None else bands()):
        if band.min_score is None or score >= band.min_score:
            return band
    return None


def band_named(name: str | None, all_bands: list[Band] | None = None) -> Band | None:
    """The band of this name (any case), or None: the pool's and board's band filter."""
    wanted = (name or "").strip().casefold()
    return next((b for b in (all_bands if all_bands is not None else bands()) if b.name.casefold() == wanted), None)


def load_ruleset(*, with_models: bool = True) -> Ruleset:
    """The enabled rules with their checked conditions; broken ones listed apart with the reason.

    with_models=False leaves `usable` (the rule models) empty: plain data that may outlive the session."""
    known = conditions.fields()
    ruleset = Ruleset(bands=bands(), known=known)
    for rule in rules():
        try:  # checked once: conditions.broken() would check it a second time
            cond = conditions.check(rule.condition or {}, known=known)
        except ServiceError as exc:
            ruleset.broken[rule.id] = exc.message
            continue
        if rule.enabled:
            if with_models:
                ruleset.usable.append((rule, cond))
            ruleset.plain.append((rule.id, rule.label, rule.points, rule.fade_days, cond,
                                  cond["op"] in conditions.DAY_OPS))
            ruleset.needs.add(cond["field"])
            if rule.fade_days:
                ruleset.needs.add("event.idle")
    return ruleset


# An import scores hundreds of leads in one transaction: the rules are read once for it, and
# forgotten when it ends (and whenever a rule changes within it). Between transactions the checked
# rules are kept in the process while the settings are unchanged (services.settings_cache): a
# capture reads one token instead of 30 rules and their 30 conditions.
CACHED = "leadboard_scoring_ruleset"


def _transaction_ruleset() -> Ruleset:
    """The enabled rules as plain data (no models), read once per (outermost) transaction at most:
    the cache names the transaction it was read in."""
    info, current = db.session.info, db.session().get_transaction()
    cached = info.get(CACHED)
    if cached is None or cached[0] is not current:
        ruleset = settings_cache("scoring.ruleset", lambda: load_ruleset(with_models=False))
        cached = info[CACHED] = (db.session().get_transaction(), ruleset)
    return cached[1]


def rules_read(field_key: str) -> bool:
    """Whether an enabled rule asks about this condition field ("owner"): a change to it alone
    needs a re-score only then (read from the transaction's rules, no query when already read)."""
    return field_key in _transaction_ruleset().needs


# --- computing ------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """One rule against one lead: whether it fires, the points it adds now, and why."""

    rule: ScoringRule
    fired: bool
    points: int
    why: str
    fades_at: datetime | None = None
    faded: bool = False
    broken: str | None = None


def _judge(rule: ScoringRule, cond: dict, facts: dict) -> tuple[Verdict, datetime | None]:
    now = facts["now"]
    fired = conditions.matches(cond, facts)
    flips = conditions.changes_at(cond, facts)
    fades_at, faded = None, False
    if fired and rule.fade_days:
        start = conditions.since(cond, facts)
        if start is not None:
            fades_at = start + timedelta(days=rule.fade_days)
            faded = fades_at <= now
            if not faded:
                flips = min(filter(None, (flips, fades_at)))
    counted = rule.points if fired and not faded else 0
    return Verdict(rule, fired and not faded, counted, "", fades_at, faded), flips


def compute(ruleset: Ruleset, facts: dict) -> tuple[int, list[dict], datetime | None]:
    """The score, its reasons and when the clock alone changes it next, for one lead's facts.

    The hot loop of re-scoring every lead: the rules' fields are read once per batch (ruleset.plain)."""
    score, reasons, next_at = 0, [], None
    now = facts["now"]
    matches, changes_at = conditions.matches, conditions.changes_at
    for rule_id, label, points, fade_days, cond, timed in ruleset.plain:
        fired = matches(cond, facts)
        flips = changes_at(cond, facts) if timed else None
        if fired and fade_days:
            start = conditions.since(cond, facts)
            if start is not None:
                fades_at = start + timedelta(days=fade_days)
                if fades_at <= now:
                    fired = False
                elif flips is None or fades_at < flips:
                    flips = fades_at
        if fired:
            score += points
            reasons.append({"rule_id": rule_id, "label": label, "points": points})
        if flips is not None and (next_at is None or flips < next_at):
            next_at = flips
    return score, reasons, next_at


def reasons_text(reasons: list[dict] | None) -> str:
    """"+20 business email, +15 appointment confirmed, −10 idle 14 days"."""
    return ", ".join(f"{'+' if r['points'] > 0 else '−'}{abs(r['points'])} {r['label']}" for r in reasons or [])


def _lead_ids(leads) -> list[int]:
    if isinstance(leads, (Lead, int)):
        leads = [leads]
    return sorted({lead.id if isinstance(lead, Lead) else int(lead) for lead in leads})


def rescore(leads: Lead | int | Iterable[Lead | int], now: datetime | None = None, *, actor_id: int | None = None,
            ruleset: Ruleset | None = None, facts: dict | None = None) -> int:
    """Score these leads again inside the caller's transaction (call it where the change happens);
    a band crossing writes a timeline entry. Returns how many scores changed.

    `facts`: one Lead's facts the caller holds already (conditions.new_lead_facts, for a lead it
    just made inside its atomic()), so nothing is read again; the score joins that lead's
    transaction, no savepoint of its own."""
    if isinstance(leads, Lead) and in_atomic() and not (ruleset or _transaction_ruleset()).plain and \
            not leads.score and not leads.score_reasons and leads.score_changes_at is None:
        return 0  # no rule on, and the lead's score is the 0 that computing it would give: nothing to read
    if facts is not None and isinstance(leads, Lead) and in_atomic():
        return _apply([leads], ruleset or _transaction_ruleset(), now or utcnow(), actor_id, orm=True,
                      facts={leads.id: facts})
    ids = _lead_ids(leads)
    if not ids:
        return 0
    now = now or utcnow()
    with atomic():
        ruleset = ruleset or _transaction_ruleset()
        changed = 0
        for start in range(0, len(ids), BATCH):
            batch = list(db.session.scalars(select(Lead).where(Lead.id.in_(ids[start:start + BATCH]))))
            changed += _apply(batch, ruleset, now, actor_id, orm=True)
        return changed


def score_new(leads: list[Lead], now: datetime, actor_id: int | None) -> int:
    """rescore() for leads just inserted together without the ORM (capture.NewLeads; objects not in
    the session, their ids set), which carry no tags, custom values or events yet: their facts come
    from the objects, so nothing is read but the rules; changed scores are one bulk UPDATE."""
    if not leads:
        return 0
    ruleset = _transaction_ruleset()
    if not ruleset.plain:
        return 0  # no rule on: every score stays 0, as inserted
    facts = {lead.id: conditions.new_lead_facts(lead, now, tags=(), custom={}, needs=ruleset.needs)
             for lead in leads}
    return _apply(leads, ruleset, now, actor_id, orm=False, facts=facts)


def _apply(leads: list[Lead], ruleset: Ruleset, now: datetime, actor_id: int | None, *, orm: bool,
           facts: dict[int, dict] | None = None) -> int:
    """Compute and store the batch's scores: on the ORM objects (orm=True, inside a service's change)
    or as one bulk UPDATE of the rows that changed (the job and the sweep)."""
    facts = facts if facts is not None else conditions.facts_for(leads, now, ruleset.needs)
    updates, crossings, changed = [], [], 0
    for lead in leads:
        score, reasons, next_at = compute(ruleset, facts[lead.id])
        if (score, reasons, next_at) == (lead.score, lead.score_reasons or [], lead.score_changes_at):
            continue
        changed += 1
        before, after = band_of(lead.score or 0, ruleset.bands), band_of(score, ruleset.bands)
        if before != after:
            crossings.append({"lead_id": lead.id, "kind": "score_band_changed", "actor_id": actor_id, "created_at": now,
                              "data": {"from": before.name if before else None, "to": after.name if after else None,
                                       "score": score, "reasons": reasons_text(reasons)}})
        if orm:
            lead.score, lead.score_reasons, lead.score_changes_at = score, reasons, next_at
        else:
            updates.append({"id": lead.id, "score": score, "score_reasons": reasons, "score_changes_at": next_at})
    if updates:
        db.session.execute(update(Lead).execution_options(synchronize_session=False), updates)
    if crossings:
        db.session.execute(insert(TimelineEntry), crossings)
        from app.services.sequences import on_band_reached  # noqa: PLC0415 (sequences -> sla -> scoring)
        on_band_reached([(c["lead_id"], c["data"]["to"]) for c in crossings if c["data"]["to"]], now)
        from app.services import events  # noqa: PLC0415 (events -> automations -> conditions -> scoring)
        for crossing in crossings:
            events.emit("lead.score_band_changed", lead_id=crossing["lead_id"], now=now,
                        data={"from": crossing["data"]["from"], "to": crossing["data"]["to"]})
    return changed


# --- the admin's rules --------------------------------------------------------------------------


def get_rule(rule_id: int) -> ScoringRule:
    rule = db.session.get(ScoringRule, rule_id) if isinstance(rule_id, int) else None
    if rule is None:
        raise RuleNotFound()
    return rule


def _whole(raw, name: str, low: int, high: int, message: str) -> int:
    text = str(raw if raw is not None else "").strip().replace("−", "-").lstrip("+")
    if not re.fullmatch(r"-?\d{1,9}", text) or not low <= int(text) <= high:
        raise ServiceError(message, field=name)
    return int(text)


def save_rule(rule_id: int | None, *, label: str, condition: dict, points, fade_days=None, enabled: bool = True,
              now: datetime | None = None, actor_id: int | None = None) -> ScoringRule:
    """Add a rule (rule_id None, at the end) or change one, and start re-scoring every lead.

    Raises ServiceError naming label, condition_field/op/value, points or fade_days; RuleNotFound."""
    now = now or utcnow()
    label = (label or "").strip()
    if not label:
        raise ServiceError("Name the rule as its reason should read, e.g. “business email”.", field="label")
    if len(label) > 80:
        raise ServiceError("Keep the name under 80 characters.", field="label")
    cond = conditions.check(condition)
    points = _whole(points, "points", -MAX_POINTS, MAX_POINTS,
                    f"Points must be a whole number from −{MAX_POINTS} to {MAX_POINTS}, e.g. 20 or -10.")
    if points == 0:
        raise ServiceError("A rule of 0 points changes nothing; give it points, or disable it.", field="points")
    fade = None
    if fade_days not in (None, ""):
        fade = _whole(fade_days, "fade_days", 1, MAX_FADE_DAYS, f"Fades after must be 1 to {MAX_FADE_DAYS} days, "
                                                                 "or empty to never fade.")
    with atomic():
        if rule_id is None:
            if db.session.scalar(select(func.count()).select_from(ScoringRule)) >= MAX_RULES:
                raise ServiceError(f"There are already {MAX_RULES} rules, the most a team can have. "
                                   "Delete or combine some first.", field="label")
            top = db.session.scalar(select(func.max(ScoringRule.position))) or 0
            rule = ScoringRule(position=top + 1, created_at=now)
            db.session.add(rule)
        else:
            rule = get_rule(rule_id)
        rule.label, rule.condition, rule.points, rule.fade_days = label, cond, points, fade
        rule.enabled, rule.updated_at = bool(enabled), now
        audit.record(actor_id, "scoring_rule.saved", f"Scoring rule {label} ({points:+d} points)")
        db.session.flush()
        db.session.info.pop(CACHED, None)
        run = _new_run(now)
    _enqueue(run.id)
    return rule


def rename_condition_field(old: str, new: str) -> int:
    """Point the rules whose condition names field `old` at `new`, inside the caller's atomic() (a
    custom field's key renamed: the rules keep firing). Reads at most MAX_RULES rules; returns how
    many changed. Scores do not change, so nothing is re-scored."""
    changed = 0
    for rule in rules():
        cond = conditions.renamed(rule.condition, old, new)
        if cond is not None:
            rule.condition = cond  # a new dict, so the JSON change is saved
            changed += 1
    if changed:
        db.session.flush()
        db.session.info.pop(CACHED, None)
    return changed


def delete_rule(rule_id: int, actor_id: int | None = None) -> None:
    """Delete a rule and start re-scoring every lead; raises RuleNotFound."""
    with atomic():
        rule = get_rule(rule_id)
        audit.record(actor_id, "scoring_rule.deleted", f"Scoring rule {rule.label}")
        db.session.delete(rule)
        run = _new_run(utcnow())
    _enqueue(run.id)


def set_enabled(rule_id: int, enabled: bool) -> ScoringRule:
    """Turn a rule on or off and start re-scoring; raises RuleNotFound."""
    with atomic():
        rule = get_rule(rule_id)
        rule.enabled, rule.updated_at = bool(enabled), utcnow()
        run = _new_run(rule.updated_at)
    _enqueue(run.id)
    return rule


def move_rule(rule_id: int, offset: int) -> None:
    """Move a rule up (-1) or down (+1) in the list (the order rules are shown and reasons read)."""
    with atomic():
        ordered = rules()
        index = next((i for i, r in enumerate(ordered) if r.id == rule_id), None)
        if index is None:
            raise RuleNotFound()
        target = max(0, min(len(ordered) - 1, index + (1 if offset > 0 else -1)))
        ordered.insert(target, ordered.pop(index))
        for position, rule in enumerate(ordered, start=1):
            rule.position = position


def save_bands(rows: list[tuple[str, str | int | None, str]], actor_id: int | None = None) -> list[Band]:
    """Replace the bands with these (name, lowest score, colour) rows, lowest first; the first
    starts from any score. Rows with no name are ignored. Raises ServiceError naming
    band-<n>-name / band-<n>-min / band-<n>-colour."""
    kept = [(i, (name or "").strip(), low, (colour or "").strip()) for i, (name, low, colour) in enumerate(rows)
            if (name or "").strip()]
    if not kept:
        raise ServiceError("Name at least one band.", field="band-0-name")
    if len(kept) > MAX_BANDS:
        raise ServiceError(f"Use at most {MAX_BANDS} bands.", field=f"band-{kept[MAX_BANDS][0]}-name")
    seen, cleaned, previous = set(), [], None
    for n, (i, name, low, colour) in enumerate(kept):
        if len(name) > 30:
            raise ServiceError("Keep a band's name under 30 characters.", field=f"band-{i}-name")
        if name.casefold() in seen:
            raise ServiceError("Two bands have this name; give each its own.", field=f"band-{i}-name")
        seen.add(name.casefold())
        if not COLOUR.match(colour):
            raise ServiceError("Pick a colour like #dc2626.", field=f"band-{i}-colour")
        if n == 0:
            minimum = None
        else:
            minimum = _whole(low, f"band-{i}-min", -BAND_LIMIT, BAND_LIMIT,
                             "Enter the lowest score of this band, a whole number.")
            if previous is not None and minimum <= previous:
                raise ServiceError("Each band must start above the one before it, so they never overlap.",
                                   field=f"band-{i}-min")
            previous = minimum
        cleaned.append((name, minimum, colour))
    with atomic():
        db.session.query(ScoreBand).delete()
        db.session.flush()
        db.session.add_all([ScoreBand(name=name, min_score=low, colour=colour) for name, low, colour in cleaned])
        audit.record(actor_id, "score_bands.saved", ", ".join(name for name, _, _ in cleaned))
        db.session.info.pop(CACHED, None)
    return bands()


# --- re-scoring every lead (the worker) ---------------------------------------------------------


def _new_run(now: datetime) -> ScoringRun:
    """A run re-scoring every lead, superseding any unfinished one (call inside the rule change's atomic())."""
    db.session.info.pop(CACHED, None)
    db.session.execute(update(ScoringRun).where(ScoringRun.status.in_(("queued", "running")))
                       .values(status="superseded", finished_at=now).execution_options(synchronize_session=False))
    run = ScoringRun(status="queued", total=db.session.scalar(select(func.count()).select_from(Lead)) or 0,
                     done=0, after_id=0, created_at=now)
    db.session.add(run)
    db.session.flush()
    return run


def _enqueue(run_id: int) -> None:
    """Queue the run's job after commit; with Redis away the sweep queues it once Redis is back."""
    from app.queue import QueueUnavailable, enqueue  # noqa: PLC0415 (the queue needs an app, the engine not)
    try:
        enqueue("app.jobs.scoring.rescore_all", run_id, job_id=f"scoring-run-{run_id}", job_timeout=JOB_TIMEOUT)
    except QueueUnavailable:
        pass


def rescore_everyone(now: datetime | None = None) -> ScoringRun | None:
    """Start re-scoring every lead after a change to what the rules read (a custom field or option
    deleted, a tag renamed or deleted), when any rule is on. Call it after that change's
    transaction: the job is queued once this one commits (or by the sweep, if Redis is away)."""
    if not any(rule.enabled for rule in rules()):
        return None
    with atomic():
        run = _new_run(now or utcnow())
    _enqueue(run.id)
    return run


def current_run() -> ScoringRun | None:
    """The run re-scoring every lead now, if any: pages say "scores are being updated" until it ends."""
    return db.session.scalar(select(ScoringRun).where(ScoringRun.status.in_(("queued", "running")))
                             .order_by(ScoringRun.id.desc()).limit(1))


def percent_done(run: ScoringRun) -> int:
    if run.status == "done":
        return 100
    return min(99, run.done * 100 // run.total) if run.total else 0


def run_rescore(run_id: int, *, batch: int = BATCH, now: datetime | None = None) -> ScoringRun | None:
    """Work through a queued run a batch at a time (each its own transaction, its progress with it).

    A second delivery finds the run claimed and does nothing; a run whose worker died (no
    heartbeat for RUN_STALE) is claimed again and carries on after its last lead. A newer run
    supersedes this one between batches."""
    started = utcnow()
    with atomic():
        claimed = db.session.execute(
            update(ScoringRun).where(ScoringRun.id == run_id, or_(
                ScoringRun.status == "queued",
                (ScoringRun.status == "running") & (ScoringRun.heartbeat_at < started - RUN_STALE)))
            .values(status="running", started_at=started, heartbeat_at=started)
            .execution_options(synchronize_session=False)).rowcount
    if not claimed:
        return None
    while True:
        with atomic():
            run = db.session.get(ScoringRun, run_id, populate_existing=True)
            if run.status != "running":
                return run  # superseded by a newer change of the rules
            ruleset = load_ruleset()
            leads = list(db.session.scalars(select(Lead).where(Lead.id > run.after_id).order_by(Lead.id).limit(batch)))
            if leads:
                _apply(leads, ruleset, now or utcnow(), None, orm=False)
            values = {"done": run.done + len(leads), "heartbeat_at": utcnow(),
                      "after_id": leads[-1].id if leads else run.after_id}
            if len(leads) < batch:
                values.update(status="done", finished_at=utcnow(), total=max(run.total, values["done"]))
            db.session.execute(update(ScoringRun).where(ScoringRun.id == run_id, ScoringRun.status == "running")
                               .values(**values).execution_options(synchronize_session=False))
        if len(leads) < batch:
            return db.session.get(ScoringRun, run_id)
        del leads  # the session's identity map is weak: a committed batch is freed once unreferenced


def rescore_due(now: datetime | None = None, *, batch: int = BATCH, batches: int = SWEEP_BATCHES) -> int:
    """The worker's sweep: re-score the leads whose score the clock changes by now (points fading,
    going idle), a batch per transaction. Returns how many leads were looked at."""
    now = now or utcnow()
    seen = 0
    for _ in range(batches):
        with atomic():
            leads = list(db.session.scalars(select(Lead).where(Lead.score_changes_at <= now)
                                            .order_by(Lead.score_changes_at, Lead.id).limit(batch)))
            if not leads:
                break
            ruleset = load_ruleset()
            _apply(leads, ruleset, now, None, orm=False)
            # A lead whose next change computed again lands at or before now would be picked forever.
            db.session.execute(update(Lead).where(Lead.id.in_([lead.id for lead in leads]),
                                                  Lead.score_changes_at <= now)
                               .values(score_changes_at=None).execution_options(synchronize_session=False))
        seen += len(leads)
        if len(leads) < batch:
            break
    return seen


def requeue_lost_runs(now: datetime | None = None) -> int:
    """Queue again a run that Redis lost (queued a minute ago, not started) or whose worker died."""
    now = now or utcnow()
    lost = db.session.scalars(select(ScoringRun.id).where(or_(
        (ScoringRun.status == "queued") & (ScoringRun.created_at < now - RUN_REQUEUE),
        (ScoringRun.status == "running") & (ScoringRun.heartbeat_at < now - RUN_STALE)))).all()
    db.session.rollback()
    for run_id in lost:
        _enqueue(run_id)
    return len(lost)


def sweep() -> None:
    """Housekeeping (worker.py): the clock's score changes, then lost re-scoring runs."""
    rescore_due()
    requeue_lost_runs()


# --- the "try a lead" panel ---------------------------------------------------------------------


def try_lead(lead_id: int, now: datetime | None = None) -> tuple[Lead, list[Verdict], int]:
    """Every rule against one lead: whether it fires and why, and the score they add up to."""
    lead = db.session.get(Lead, lead_id) if isinstance(lead_id, int) else None
    if lead is None:
        raise NotFound("That lead does not exist (it may have been deleted or merged).", field="lead")
    now = now or utcnow()
    facts = conditions.facts_for([lead], now)[lead.id]
    ruleset = load_ruleset()
    usable = dict((rule.id, cond) for rule, cond in ruleset.usable)
    verdicts, total = [], 0
    for rule in rules():
        if rule.id in ruleset.broken:
            verdicts.append(Verdict(rule, False, 0, f"Skipped: {ruleset.broken[rule.id]}", broken=ruleset.broken[rule.id]))
            continue
        if rule.id not in usable:
            verdicts.append(Verdict(rule, False, 0, "Skipped: the rule is turned off."))
            continue
        verdict, _ = _judge(rule, usable[rule.id], facts)
        verdict.why = conditions.explain(usable[rule.id], facts, ruleset.known)
        if verdict.faded:
            verdict.why += f" Its points faded on {verdict.fades_at:%Y-%m-%d}."
        total += verdict.points
        verdicts.append(verdict)
    return lead, verdicts, total


def find_leads(query: str, limit: int = 10) -> list[Lead]:
    """Leads for the "try a lead" picker: name, email or company starting with the words typed (bounded)."""
    text = (query or "").strip()[:100]
    if not text:
        return list(db.session.scalars(select(Lead).order_by(Lead.id.desc()).limit(limit)))
    like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return list(db.session.scalars(
        select(Lead).where(or_(Lead.email.ilike(like, escape="\\"), Lead.company.ilike(like, escape="\\"),
                               Lead.first_name.ilike(like, escape="\\"), Lead.last_name.ilike(like, escape="\\")))
        .order_by(Lead.id.desc()).limit(limit)))
