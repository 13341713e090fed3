"""The pipeline: stages admins add, rename, recolour, reorder and delete."""
from __future__ import annotations

import re

from sqlalchemy import Integer, and_, case, func, insert, literal, null, or_, select, update

from app.extensions import db
from app.models import Lead, Stage, StageKind, TimelineEntry
from app.services import audit
from app.services import (
    Conflict, NotFound, ServiceError, atomic, saved_views, taken_as, totals, utcnow, whole_number,
)
from app.services import events

DEFAULT_PIPELINE = (
    ("New", "#3b82f6", StageKind.open),
    ("Contacted", "#06b6d4", StageKind.open),
    ("Qualified", "#8b5cf6", StageKind.open),
    ("Appointment set", "#f59e0b", StageKind.open),
    ("Won", "#16a34a", StageKind.won),
    ("Lost", "#dc2626", StageKind.lost),
)
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
STALE_DAYS_MAX = 365


class UnknownStage(NotFound):
    def __init__(self):
        super().__init__("That stage no longer exists. Reload the page to see the current pipeline.", field="stage")


class LastOpenStage(Conflict):
    def __init__(self):
        super().__init__("The pipeline needs at least one open stage, so this one cannot be deleted or closed.")


class StageNotEmpty(ServiceError):
    status = 422

    def __init__(self, count: int):
        super().__init__(f"This stage holds {count} lead{'s' if count != 1 else ''}. Choose where to move them.",
                         field="move_to")


def pipeline() -> list[Stage]:
    return list(db.session.scalars(select(Stage).order_by(Stage.position, Stage.id)))


def get_stage(stage_id: int) -> Stage:
    stage = db.session.get(Stage, stage_id) if isinstance(stage_id, int) else None
    if stage is None:
        raise UnknownStage()
    return stage


def lock_stage(stage_id: int) -> Stage:
    """The stage, its row locked until the transaction ends; raises UnknownStage.

    Every write of card positions in a stage takes this lock first, so two writers never pick the
    same place, and a stage being deleted cannot receive a card (PostgreSQL: FOR NO KEY UPDATE,
    which a DELETE of the stage still waits for, but which lets the foreign-key checks of rows
    pointing at the stage (a lead's insert, its stage_totals row) through: FOR UPDATE made those
    wait behind every card move and deadlock with them. SQLite: atomic()'s BEGIN IMMEDIATE
    already serialises writers)."""
    stage = db.session.scalar(select(Stage).where(Stage.id == stage_id).with_for_update(key_share=True)
                              .execution_options(populate_existing=True)) if isinstance(stage_id, int) else None
    if stage is None:
        raise UnknownStage()
    return stage


def ensure_default_pipeline() -> list[Stage]:
    """Create the default stages if the pipeline is empty."""
    with atomic():
        if db.session.scalar(select(func.count()).select_from(Stage)) == 0:
            for position, (name, colour, kind) in enumerate(DEFAULT_PIPELINE):
                db.session.add(Stage(name=name, colour=colour, kind=kind.value, position=position))
    return pipeline()


def _check(name: str, colour: str, kind: str) -> tuple[str, str, str]:
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the stage a name.", field="name")
    if len(name) > 60:
        raise ServiceError("Keep the name under 60 characters.", field="name")
    if not COLOUR.match(colour or ""):
        raise ServiceError("Pick a colour like #3b82f6.", field="colour")
    if kind not in {k.value for k in StageKind}:
        raise ServiceError("Kind must be open, won or lost.", field="kind")
    return name, colour.lower(), kind


def clean_stale_days(raw) -> int | None:
    """"Stale after N days without a touch": a whole number from 1 to 365, or empty for never;
    raises ServiceError naming stale_days."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    days = raw if isinstance(raw, int) and not isinstance(raw, bool) else whole_number(raw if isinstance(raw, str) else "")
    if days is None or not 1 <= days <= STALE_DAYS_MAX:
        raise ServiceError(f"Give a whole number of days from 1 to {STALE_DAYS_MAX}, or leave it empty "
                           "for never.", field="stale_days")
    return days


def clean_probability(raw) -> int | None:
    """A stage's win probability in percent: a whole number from 0 to 100, or empty for not set;
    raises ServiceError naming probability."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value = raw if isinstance(raw, int) and not isinstance(raw, bool) else whole_number(
        raw.strip().removesuffix("%").strip() if isinstance(raw, str) else "")
    if value is None or not 0 <= value <= 100:
        raise ServiceError("Give a whole percentage from 0 to 100, or leave it empty.", field="probability")
    return value


class StageNameTaken(ServiceError):
    def __init__(self, name: str):
        super().__init__(f"There is already a stage called {name}. Pick another name.", field="name")


def _refuse_taken_name(name: str, stage_id: int | None = None) -> None:
    """Two stages never share a name, whatever its case: every picker would show both (the unique
    index on lower(name) settles two saves at once)."""
    taken = select(Stage.id).where(func.lower(Stage.name) == name.lower())
    if stage_id is not None:
        taken = taken.where(Stage.id != stage_id)
    if db.session.scalar(taken.limit(1)) is not None:
        raise StageNameTaken(name)


def add_stage(name: str, colour: str, kind: str = StageKind.open.value, stale_days=None,
              actor_id: int | None = None, probability=None) -> Stage:
    """Add a stage: an open one right after the last open stage (so before won and lost), a closed
    one at the end. Raises StageNameTaken, or ServiceError for a bad stale_days (clean_stale_days)."""
    name, colour, kind = _check(name, colour, kind)
    stale_days = clean_stale_days(stale_days)
    probability = clean_probability(probability) if kind == StageKind.open.value else None  # closed: decided
    with taken_as(lambda: StageNameTaken(name)), atomic():
        _refuse_taken_name(name)
        last = db.session.scalar(select(func.max(Stage.position))) or 0
        position = last + 1
        if kind == StageKind.open.value:
            last_open = db.session.scalar(select(func.max(Stage.position)).where(Stage.kind == StageKind.open.value))
            if last_open is not None and last_open < last:
                position = last_open + 1
                db.session.execute(update(Stage).where(Stage.position >= position)
                                   .values(position=Stage.position + 1))
        stage = Stage(name=name, colour=colour, kind=kind, position=position, stale_days=stale_days,
                      probability=probability)
        db.session.add(stage)
        audit.record(actor_id, "stage.added", f"Stage {name}")
    return stage


def _open_stages_other_than(stage_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Stage).where(
        Stage.kind == StageKind.open.value, Stage.id != stage_id))


def update_stage(stage_id: int, name: str, colour: str, kind: str, stale_days=None,
                 actor_id: int | None = None, probability=...) -> Stage:
    """Rename, recolour, change the kind, the stale setting (None: never) or the win probability
    (omitted: kept) of a stage; raises LastOpenStage, StageNameTaken, ServiceError naming a bad field."""
    name, colour, kind = _check(name, colour, kind)
    stale_days = clean_stale_days(stale_days)
    keep_probability = probability is ...
    probability = None if keep_probability else clean_probability(probability)
    with taken_as(lambda: StageNameTaken(name)), atomic():
        stage = get_stage(stage_id)
        _refuse_taken_name(name, stage.id)
        if stage.kind == StageKind.open.value and kind != StageKind.open.value and not _open_stages_other_than(stage.id):
            raise LastOpenStage()
        audit.record(actor_id, "stage.changed", f"Stage {stage.name}" + (f", now {name}" if name != stage.name else ""))
        stage.name, stage.colour, stage.kind, stage.stale_days = name, colour, kind, stale_days
        if kind != StageKind.open.value:  # a won or lost lead is decided: no probability to weigh
            stage.probability = None
        elif not keep_probability:
            stage.probability = probability
    return stage


def reorder(stage_ids: list[int]) -> list[Stage]:
    """Put the stages in the given order; the list must name every stage exactly once."""
    with atomic():
        stages = {s.id: s for s in db.session.scalars(select(Stage))}
        if sorted(stage_ids) != sorted(stages):
            raise Conflict("The pipeline changed while you were editing it. Reload to see the current stages.")
        for position, stage_id in enumerate(stage_ids):
            stages[stage_id].position = position
    return pipeline()


def shift(stage_id: int, offset: int) -> list[Stage]:
    """Move one stage up (-1) or down (+1): the keyboard alternative to dragging."""
    ids = [s.id for s in pipeline()]
    if stage_id not in ids:
        raise UnknownStage()
    i = ids.index(stage_id)
    j = max(0, min(len(ids) - 1, i + offset))
    ids[i], ids[j] = ids[j], ids[i]
    return reorder(ids)


def lead_counts() -> dict[int, int]:
    """Leads per stage, every stage included, from the kept totals."""
    counts = totals.by_stage()
    return {stage.id: counts[stage.id].count if stage.id in counts else 0 for stage in pipeline()}


def lead_count(stage_id: int) -> int:
    return totals.lead_count(stage_id=stage_id)


def _before(stage: Stage):
    """The ids of the stages before `stage` in the pipeline's order (position, then id)."""
    return select(Stage.id).where(or_(Stage.position < stage.position,
                                      and_(Stage.position == stage.position, Stage.id < stage.id)))


def _open_stage_before(stage: Stage) -> int | None:
    return db.session.scalar(_before(stage).where(Stage.kind == StageKind.open.value)
                             .order_by(Stage.position.desc(), Stage.id.desc()).limit(1))


def _reached_after_deletion(stage: Stage, target: Stage):
    """How far the leads moved out of a deleted stage into `target` got (Lead.reached_stage_id, an SQL
    expression): the deleted stage's place goes to the open stage before it, and the target counts
    if it is open and further along."""
    here = Lead.reached_stage_id == stage.id
    if stage.kind == StageKind.open.value:  # an empty one meant the stage the lead is in: this one
        here = or_(here, Lead.reached_stage_id.is_(None))
    before = _open_stage_before(stage)
    handed = case((here, literal(before, Integer) if before is not None else null()), else_=Lead.reached_stage_id)
    if target.kind != StageKind.open.value:
        return handed
    return case((or_(handed.is_(None), handed.in_(_before(target))), target.id), else_=handed)


def delete_stage(stage_id: int, move_to: int | None, actor_id: int | None) -> None:
    """Delete a stage, first moving its leads (with a timeline entry each) to another stage."""
    with atomic():
        if isinstance(move_to, int) and move_to != stage_id:
            lock_stage(min(stage_id, move_to))  # both, in id order: two deletions never deadlock
            lock_stage(max(stage_id, move_to))
        stage = lock_stage(stage_id)
        if stage.kind == StageKind.open.value and not _open_stages_other_than(stage.id):
            raise LastOpenStage()
        count = lead_count(stage.id)
        if count:
            if move_to is None:
                raise StageNotEmpty(count)
            target = lock_stage(move_to)
            if target.id == stage.id:
                raise ServiceError("Choose a different stage to move the leads to.", field="move_to")
            now = utcnow()
            # Timeline first (set-based, one statement), then the move itself: one transaction.
            db.session.execute(insert(TimelineEntry).from_select(
                ["lead_id", "actor_id", "kind", "data", "created_at"],
                select(Lead.id, literal(actor_id), literal("stage_changed"),
                       literal({"from": stage.name, "to": target.name, "reason": "stage deleted"},
                               TimelineEntry.data.type), literal(now))
                .where(Lead.stage_id == stage.id)))
            moved = list(db.session.scalars(select(Lead.id).where(Lead.stage_id == stage.id).order_by(Lead.id))) \
                if events.listened("lead.stage_changed") else []
            events.emit_many("lead.stage_changed", moved, now,
                             {"previous_stage_id": stage.id, "stage_id": target.id, "reason": "stage deleted"})
            if target.kind != StageKind.open.value:  # moved into won or lost: their sequences stop, as a move's do
                from app.services.sequences import stop_in_stage  # noqa: PLC0415 (sequences -> ... -> stages)
                stop_in_stage(stage.id, target.kind, now)
            top = db.session.scalar(select(func.min(Lead.position)).where(Lead.stage_id == target.id)) or 0
            db.session.execute(update(Lead).where(Lead.stage_id == stage.id).values(
                stage_id=target.id, position=(top - 1024) - Lead.id, reached_stage_id=_reached_after_deletion(stage, target),
                stage_entered_at=now, updated_at=now, version=Lead.version + 1))
        # Leads that got as far as this stage keep having reached the open stage before it (or none).
        db.session.execute(update(Lead).where(Lead.reached_stage_id == stage.id).values(
            reached_stage_id=_open_stage_before(stage)))
        saved_views.forget_stage(stage.id)
        audit.record(actor_id, "stage.deleted", f"Stage {stage.name}" + (f" ({count:,} leads moved to {target.name})" if count else ""))
        db.session.delete(stage)
