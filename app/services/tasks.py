"""Follow-up tasks on leads and "My day": create, move, complete, snooze, delete, and the reminder sweep.

Every change is one atomic() with its timeline entry, and keeps leads.next_task_due_at (the soonest
open task's due time) in the same transaction, so board cards and the pool's "no next step" and
"overdue" filters read a column, not an aggregate. Who may change a task: its owner, the lead's
owner, or an admin (the API acts as no one in particular, as it does for leads).

A due task notifies its owner once: the worker's sweep claims it with UPDATE ... WHERE reminded_at
IS NULL (and still open and due), so two workers never both notify; moving a task clears the claim,
and a task done or moved before its time is never picked."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Lead, Task, TaskKind, TimelineEntry, User
from app.models.task import KIND_LABELS
from app.services import Forbidden, NotFound, ServiceError, atomic, utcnow
from app.services import events
from app.services.leads import get_lead
from app.services.team_settings import current as team_settings, user_timezone
from app.services.timeline import record

TITLE_MAX = 200
NOTE_MAX = 2000
EARLIEST = timedelta(days=366)  # a due time may be up to a year ago (logging something overdue)
LATEST = timedelta(days=5 * 366)  # and up to five years ahead
SECTION_PAGE = 50  # "My day" shows at most this many per section, then "Show more"
LEAD_PAGE = 20  # the lead page's open tasks, soonest first
BULK_MAX = 500  # leads one bulk "add task" may name (the pool shows 50 a page)
REMIND_BATCH = 200
SNOOZES = {"hour": "1 hour", "tomorrow": "Tomorrow 9:00", "week": "Next week"}
MORNING = time(9, 0)


class TaskNotFound(NotFound):
    def __init__(self):
        super().__init__("That task no longer exists (it may have been deleted).", field="task")


# --- rules ----------------------------------------------------------------------------------------


def check_title(title: str | None) -> str:
    """A task's title as stored; raises ServiceError naming the field."""
    title = " ".join((title or "").split())
    if not title:
        raise ServiceError("Give the task a title, e.g. “Call back about the quote”.", field="title")
    if len(title) > TITLE_MAX:
        raise ServiceError(f"Keep the title to {TITLE_MAX} characters.", field="title")
    return title


def check_kind(kind: str | None) -> str:
    if kind not in KIND_LABELS:
        raise ServiceError("Pick call, email, meeting or to-do.", field="kind")
    return kind


def check_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ServiceError(f"Keep the note to {NOTE_MAX} characters.", field="note")
    return note


def check_due(due_at: datetime, now: datetime | None = None) -> datetime:
    """A due time (naive UTC) within a year back and five years ahead; raises ServiceError."""
    now = now or utcnow()
    if not now - EARLIEST <= due_at <= now + LATEST:
        raise ServiceError("Pick a due time between a year ago and five years from now.", field="due_at")
    return due_at


def due_from_local(day: date | None, at: time | None, zone: str) -> datetime:
    """A day and wall-clock time in `zone` (as a person picks them) as naive UTC; raises ServiceError
    for a missing part, a year out of range, or a time the clocks skip that day."""
    if day is None:
        raise ServiceError("Pick the day it is due.", field="due_at")
    naive = datetime.combine(day, at or MORNING)
    try:
        moment = naive.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise ServiceError("Pick a due time between a year ago and five years from now.", field="due_at") from None
    if moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None) != naive:
        raise ServiceError(f"{naive:%H:%M} does not exist on {naive:%d %B %Y} in {zone}: the clocks skip it. "
                           "Pick another time.", field="due_at")
    return moment.replace(tzinfo=None)


def due_from_aware(moment: datetime) -> datetime:
    """An aware datetime (the API's, with its offset) as naive UTC; raises ServiceError."""
    if moment.tzinfo is None:
        raise ServiceError("Give the time with its UTC offset, e.g. 2026-12-08T14:00:00+01:00.", field="due_at")
    try:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        raise ServiceError("Pick a due time between a year ago and five years from now.", field="due_at") from None


def may_change(actor: User | None, task_owner_id: int, lead: Lead) -> bool:
    """Whether `actor` may create or change a task owned by `task_owner_id` on `lead` (None: the API)."""
    return actor is None or actor.is_admin or actor.id in (task_owner_id, lead.owner_id)


def _actor(actor_id: int | None) -> User | None:
    return db.session.get(User, actor_id) if actor_id is not None else None


def _owner(owner_id: int | None) -> User:
    """The task's owner, who must be an active member; raises ServiceError naming owner_id."""
    owner = db.session.get(User, owner_id) if owner_id is not None else None
    if owner is None or not owner.active:
        message = ("Pick who owns the task: the lead is in the pool." if owner_id is None
                   else "That person is not an active member of the team.")
        raise ServiceError(message, field="owner_id")
    return owner


def _refuse(actor: User | None, owner_id: int, lead: Lead) -> None:
    if not may_change(actor, owner_id, lead):
        raise Forbidden("Only the task's owner, the lead's owner or an admin can do that.", field="task")


def refresh_next(lead_ids) -> None:
    """Set each lead's next_task_due_at to its soonest open task (one UPDATE, an index read per lead)."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    soonest = (select(func.min(Task.due_at)).where(Task.lead_id == Lead.id, Task.done_at.is_(None))
               .correlate(Lead).scalar_subquery())
    db.session.execute(update(Lead).where(Lead.id.in_(ids)).values(next_task_due_at=soonest)
                       .execution_options(synchronize_session=False))
    for lead_id in ids:  # a Lead already loaded in this session shows the new value
        lead = db.session.identity_map.get((Lead, (lead_id,), None))
        if lead is not None:
            db.session.expire(lead, ["next_task_due_at"])


def _entry(task: Task, **extra) -> dict:
    return {"task_id": task.id, "title": task.title, "kind": task.kind,
            "due_at": task.due_at.isoformat(timespec="minutes"), **extra}


# --- changes --------------------------------------------------------------------------------------


def create_task(lead_id: int, actor_id: int | None, *, title: str, due_at: datetime, kind: str = TaskKind.todo.value,
                owner_id: int | None = None, note: str = "", now: datetime | None = None) -> Task:
    """Add a task to a lead (owner: the one given, else the actor, else the lead's owner). Raises
    LeadNotFound, ServiceError naming a bad field, Forbidden (a member's task for someone else on a
    lead they don't own)."""
    now = now or utcnow()
    title, kind, note, due_at = check_title(title), check_kind(kind), check_note(note), check_due(due_at, now)
    with atomic():
        lead = get_lead(lead_id)
        actor = _actor(actor_id)
        # The one picked, else the acting person, else (the API) the lead's owner.
        owner = _owner(owner_id if owner_id is not None else (actor_id if actor else lead.owner_id))
        _refuse(actor, owner.id, lead)
        task = Task(lead_id=lead.id, kind=kind, title=title, due_at=due_at, owner_id=owner.id, note=note,
                    created_by_id=actor_id, created_at=now)
        db.session.add(task)
        db.session.flush()
        record(lead.id, "task_added", actor_id, _entry(task, owner=owner.name), now)
        refresh_next([lead.id])
    return task


def bulk_create(lead_ids: list[int], actor_id: int, *, title: str, due_at: datetime, kind: str = TaskKind.todo.value,
                owner_id: int | None = None, note: str = "", now: datetime | None = None) -> int:
    """The same task on each of these leads, set-based (one INSERT of tasks, one of timeline entries,
    one UPDATE of the leads). Leads deleted meanwhile are skipped; returns how many got the task.
    Raises ServiceError, Forbidden if any lead is one the actor may not give this owner a task on."""
    now = now or utcnow()
    title, kind, note, due_at = check_title(title), check_kind(kind), check_note(note), check_due(due_at, now)
    ids = sorted({i for i in lead_ids if isinstance(i, int)})[:BULK_MAX]
    with atomic():
        actor = _actor(actor_id)
        owner = _owner(owner_id if owner_id is not None else actor_id)
        leads = db.session.execute(select(Lead.id, Lead.owner_id).where(Lead.id.in_(ids))).all()
        if not (actor.is_admin or owner.id == actor.id):
            refused = [lid for lid, lead_owner in leads if lead_owner != actor.id]
            if refused:
                raise Forbidden("You can give a teammate tasks only on leads you own; pick yourself as owner.",
                                field="owner_id")
        if not leads:
            return 0
        rows = [{"lead_id": lid, "kind": kind, "title": title, "due_at": due_at, "owner_id": owner.id,
                 "note": note, "snoozed": 0, "created_by_id": actor_id, "created_at": now} for lid, _ in leads]
        created = db.session.execute(insert(Task).returning(Task.id, Task.lead_id), rows).all()
        db.session.execute(insert(TimelineEntry), [
            {"lead_id": lid, "kind": "task_added", "actor_id": actor_id, "created_at": now,
             "data": {"task_id": tid, "title": title, "kind": kind, "due_at": due_at.isoformat(timespec="minutes"),
                      "owner": owner.name}} for tid, lid in created])
        refresh_next([lid for _, lid in created])
    return len(created)


def get_task(task_id: int) -> Task:
    task = db.session.get(Task, task_id, options=[joinedload(Task.owner)]) if isinstance(task_id, int) else None
    if task is None:
        raise TaskNotFound()
    return task


def _load(task_id: int, actor_id: int | None) -> tuple[Task, Lead]:
    task = db.session.get(Task, task_id, with_for_update=True, populate_existing=True) \
        if isinstance(task_id, int) and task_id < 2**31 else None
    if task is None:
        raise TaskNotFound()
    lead = db.session.get(Lead, task.lead_id)
    _refuse(_actor(actor_id), task.owner_id, lead)
    return task, lead


def update_task(task_id: int, actor_id: int | None, *, title: str, due_at: datetime, kind: str,
                owner_id: int | None = None, note: str = "", now: datetime | None = None) -> Task:
    """Change a task (moving its due time lets the new time be reminded). Raises TaskNotFound,
    ServiceError, Forbidden."""
    now = now or utcnow()
    title, kind, note = check_title(title), check_kind(kind), check_note(note)
    with atomic():
        task, lead = _load(task_id, actor_id)
        if due_at != task.due_at:
            check_due(due_at, now)
        owner = _owner(owner_id if owner_id is not None else task.owner_id)
        _refuse(_actor(actor_id), owner.id, lead)
        changes = {name: [str(old), str(new)] for name, old, new in (
            ("title", task.title, title), ("kind", task.kind, kind), ("due", task.due_at, due_at),
            ("owner", task.owner.name, owner.name), ("note", task.note, note)) if old != new}
        if "due" in changes:
            task.reminded_at = None
        task.title, task.kind, task.due_at, task.owner_id, task.note = title, kind, due_at, owner.id, note
        if changes:
            record(lead.id, "task_changed", actor_id, _entry(task, changes=changes), now)
        refresh_next([lead.id])
    return task


def complete_task(task_id: int, actor_id: int | None, now: datetime | None = None) -> Task:
    """Tick a task done (done again changes nothing). Raises TaskNotFound, Forbidden."""
    now = now or utcnow()
    with atomic():
        task, lead = _load(task_id, actor_id)
        if task.done_at is None:
            task.done_at, task.done_by_id = now, actor_id
            record(lead.id, "task_done", actor_id, _entry(task), now)
            events.emit("task.completed", lead_id=lead.id, subject_id=task.id, now=now)
            refresh_next([lead.id])
    return task


def snooze_until(how: str, owner: User, now: datetime, due_at: datetime | None = None) -> datetime:
    """When a snooze moves a task to: an hour later, the next day 9:00, or the next Monday 9:00 (in
    the owner's timezone), counted from its due time if that is still ahead, else from now: a snooze
    only ever puts a task off. Raises ServiceError for another choice."""
    start = max(now, due_at) if due_at is not None else now
    if how == "hour":
        return start + timedelta(hours=1)
    zone = ZoneInfo(user_timezone(owner))
    today = start.replace(tzinfo=timezone.utc).astimezone(zone).date()
    if how == "tomorrow":
        day = today + timedelta(days=1)
    elif how == "week":
        day = today + timedelta(days=7 - today.weekday())
    else:
        raise ServiceError("Snooze for an hour, until tomorrow or until next week.", field="until")
    return due_from_local(day, MORNING, zone.key)


def snooze_task(task_id: int, actor_id: int | None, how: str, now: datetime | None = None) -> Task:
    """Put a task off (see snooze_until); its reminder comes again at the new time. Raises
    TaskNotFound, ServiceError (a done task, an unknown choice), Forbidden."""
    now = now or utcnow()
    with atomic():
        task, lead = _load(task_id, actor_id)
        if task.done_at is not None:
            raise ServiceError("That task is already done.", field="task")
        due = snooze_until(how, task.owner, now, task.due_at)
        record(lead.id, "task_snoozed", actor_id, _entry(task, to=due.isoformat(timespec="minutes"),
                                                         until=SNOOZES[how]), now)
        task.due_at, task.reminded_at, task.snoozed = due, None, task.snoozed + 1
        refresh_next([lead.id])
    return task


def delete_task(task_id: int, actor_id: int | None, now: datetime | None = None) -> int:
    """Delete a task; returns its lead's id. Raises TaskNotFound, Forbidden."""
    now = now or utcnow()
    with atomic():
        task, lead = _load(task_id, actor_id)
        record(lead.id, "task_deleted", actor_id, _entry(task), now)
        db.session.delete(task)
        db.session.flush()
        refresh_next([lead.id])
    return lead.id


# --- reading ------------------------------------------------------------------------------------


def local(moment: datetime, zone: str) -> datetime:
    """A stored (naive UTC) time as an aware time in `zone`."""
    return moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone))


def local_time(moment: datetime | None, zone: str, now: datetime | None = None) -> str:
    """A due time as a person reads it in their zone: "Today 14:00", "Tomorrow 09:00", "Mon 7 Dec 09:00",
    with the year when it is not this one."""
    if moment is None:
        return ""
    at, today = local(moment, zone), local(now or utcnow(), zone).date()
    if at.date() == today:
        return f"Today {at:%H:%M}"
    if at.date() == today + timedelta(days=1):
        return f"Tomorrow {at:%H:%M}"
    if at.date() == today - timedelta(days=1):
        return f"Yesterday {at:%H:%M}"
    return f"{at:%a} {at.day} {at:%b}{f' {at.year}' if at.year != today.year else ''} {at:%H:%M}"


def open_for_lead(lead_id: int, limit: int = LEAD_PAGE) -> tuple[list[Task], bool]:
    """A lead's open tasks, soonest first, and whether more remain (ix_tasks_lead_due_open)."""
    rows = list(db.session.scalars(select(Task).options(joinedload(Task.owner))
                                   .where(Task.lead_id == lead_id, Task.done_at.is_(None))
                                   .order_by(Task.due_at, Task.id).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


@dataclass
class Section:
    name: str  # "overdue", "today", "upcoming"
    heading: str
    tasks: list[Task]
    has_more: bool


def day_bounds(zone: str, now: datetime) -> tuple[datetime, datetime]:
    """(now, the end of today in `zone`), naive UTC: overdue is before now, today up to the end."""
    local = now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone))
    end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))
    return now, end.astimezone(timezone.utc).replace(tzinfo=None)


def in_trash():
    """Whether the task's lead is in the trash (services/trash.py): its tasks wait, unseen, with it.
    A probe of the lead's row by primary key."""
    return select(Lead.id).where(Lead.id == Task.lead_id, Lead.deleted_at.is_not(None)).exists()


def section(owner_id: int, name: str, zone: str, now: datetime, after: tuple[datetime, int] | None = None,
            limit: int = SECTION_PAGE) -> Section:
    """One section of a person's open tasks by due time, `limit` after the (due, id) `after`: a range
    of the (owner_id, due_at, id) index, so a page costs the same however many tasks there are."""
    start, end = day_bounds(zone, now)
    low, high, heading = {"overdue": (None, start, "Overdue"), "today": (start, end, "Due today"),
                          "upcoming": (end, None, "Upcoming")}[name]
    query = (select(Task).options(joinedload(Task.lead), joinedload(Task.owner))
             .where(Task.owner_id == owner_id, Task.done_at.is_(None), ~in_trash()))
    if low is not None:
        query = query.where(Task.due_at >= low)
    if high is not None:
        query = query.where(Task.due_at < high)
    if after is not None:
        query = query.where(Task.due_at >= after[0], or_(Task.due_at > after[0], Task.id > after[1]))
    rows = list(db.session.scalars(query.order_by(Task.due_at, Task.id).limit(limit + 1)))
    return Section(name, heading, rows[:limit], len(rows) > limit)


SECTIONS = ("overdue", "today", "upcoming")


def my_day(owner_id: int, zone: str, now: datetime | None = None) -> list[Section]:
    """A person's overdue, due-today and upcoming open tasks, each a bounded first page."""
    now = now or utcnow()
    return [section(owner_id, name, zone, now) for name in SECTIONS]


def ask_next_task() -> bool:
    """The team's choice: completing a task offers the form for the lead's next one."""
    return bool(team_settings().ask_next_task)


# --- reminders (the worker's sweep) -------------------------------------------------------------


def remind_due(now: datetime | None = None, batch: int = REMIND_BATCH) -> int:
    """Notify the owner of each open task now due and not yet reminded, once: in-app always, by email
    through the outbox when they chose it. The claim is UPDATE ... WHERE reminded_at IS NULL AND
    still open and due, so of two sweeps only one notifies; returns how many were claimed."""
    now = now or utcnow()
    claimed = 0
    while True:
        with atomic():
            ids = list(db.session.scalars(select(Task.id).where(Task.done_at.is_(None), Task.reminded_at.is_(None),
                                                                Task.due_at <= now, ~in_trash())
                                          .order_by(Task.due_at).limit(batch)))
            if not ids:
                return claimed
            mine = list(db.session.scalars(
                update(Task).where(Task.id.in_(ids), Task.reminded_at.is_(None), Task.done_at.is_(None),
                                   Task.due_at <= now)
                .values(reminded_at=now).returning(Task.id).execution_options(synchronize_session=False)))
            if mine:
                _notify(mine, now)
            claimed += len(mine)
        if len(ids) < batch:
            return claimed


def _notify(task_ids: list[int], now: datetime) -> None:
    from app.services.notifications import notify
    tasks = db.session.scalars(select(Task).options(joinedload(Task.owner), joinedload(Task.lead))
                               .where(Task.id.in_(task_ids)).order_by(Task.id)).all()
    for task in tasks:
        message = f"{task.kind_label} due: {task.title} ({task.lead.full_name})"
        notify([task.owner_id], "task_due", message, lead_id=task.lead_id, now=now)


def sweep() -> None:
    """Housekeeping (worker.py): the reminders of tasks now due."""
    remind_due()
