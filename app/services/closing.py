"""Won and lost: what closing a lead records, the lost reasons admins keep, and reopening.

Moving a lead into a won stage records the day it was won and, if given, the value it was won at
(the lead's value); into a lost stage, the day, a reason from the list (required when the team says
so) and an optional note. Moving it back to an open stage reopens it: those are cleared, and the
timeline says so. services/leads.change_stage calls apply() on every stage change, whatever the way
in (board, lead page, pool, API, an appointment), so no closed lead lacks its day and no open one
keeps a reason."""
from __future__ import annotations

import unicodedata

import re

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import g, has_request_context
from sqlalchemy import func, select

from app.extensions import db
from app.models import Lead, LostReason, Stage, StageKind, TeamSettings
from app.services import audit
from app.services import NotFound, ServiceError, atomic, clean_name, iso_day, taken_as, team_settings, whole_number

CLOSED_KINDS = (StageKind.won.value, StageKind.lost.value)
MAX_VALUE = Decimal("999999999999.99")  # leads.value is Numeric(14, 2)
MAX_NOTE = 500
MAX_REASONS = 100
MAX_NAME = 80  # lost_reasons.name is String(80)
MAX_BOARD_DAYS = 3650
EARLIEST = date(2000, 1, 1)


@dataclass(frozen=True)
class Closing:
    """What a person said when closing a lead (anything left None takes its default)."""
    closed_on: date | None = None
    won_value: Decimal | None = None
    lost_reason_id: int | None = None
    lost_note: str | None = None


def is_closed(stage: Stage) -> bool:
    return stage.kind in CLOSED_KINDS


def is_won(stage: Stage) -> bool:
    return stage.kind == StageKind.won.value


def asks(lead: Lead, stage: Stage) -> bool:
    """Whether moving `lead` to `stage` closes it (or closes it the other way), so the mover is asked
    for the details first."""
    return is_closed(stage) and lead.stage_id != stage.id


def team_today() -> date:
    return datetime.now(ZoneInfo(team_settings.team_timezone())).date()


# --- what a person typed, checked -------------------------------------------------------------------

def check(stage: Stage, closed_on: str | None = None, won_value: str | None = None,
          lost_reason_id: str | int | None = None, lost_note: str | None = None, *,
          lost_reason_name: str | None = None) -> Closing:
    """The closing details as typed, checked for `stage` (the reason by id from a form, or by name from
    the API); raises ServiceError naming the field, also for a detail of the other kind of closing
    (a lost reason sent with a move to a won stage is a mistake, not something to drop silently)."""
    if not is_closed(stage):  # an open stage records nothing (the pool's bulk bar sends a date anyway)
        return Closing()
    _refuse_other_kind(stage, won_value, lost_reason_id if lost_reason_name is None else lost_reason_name, lost_note)
    day = _day(closed_on)
    if stage.kind == StageKind.won.value:
        return Closing(closed_on=day, won_value=_money(won_value))
    note = " ".join((lost_note or "").split()) or None
    if note and len(note) > MAX_NOTE:
        raise ServiceError(f"Keep the note under {MAX_NOTE} characters.", field="lost_note")
    chosen = reason_id(lost_reason_name) if lost_reason_name is not None else _reason_id(lost_reason_id)
    return Closing(closed_on=day, lost_reason_id=chosen, lost_note=note)


def _given(raw) -> bool:
    return raw is not None and bool(str(raw).strip())


def _refuse_other_kind(stage: Stage, won_value, lost_reason, lost_note) -> None:
    if stage.kind == StageKind.won.value:
        for field, raw in (("lost_reason", lost_reason), ("lost_note", lost_note)):
            if _given(raw):
                raise ServiceError(f"{stage.name} is a won stage: a lost reason or note goes with a move to a "
                                   "lost stage.", field=field)
    elif stage.kind == StageKind.lost.value and _given(won_value):
        raise ServiceError(f"{stage.name} is a lost stage: a won value goes with a move to a won stage.",
                           field="won_value")


def _day(raw: str | None) -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    day = iso_day(text)
    if day is None:
        raise ServiceError("Give the date as a day, like 2026-12-03.", field="closed_on")
    today = team_today()
    if not EARLIEST <= day <= today:
        raise ServiceError(f"The date can be any day up to today ({today:%Y-%m-%d} in the team's timezone), "
                           f"from {EARLIEST:%Y} on.", field="closed_on")
    return day


_MONEY = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?", re.ASCII)


def _money(raw: str | None) -> Decimal | None:
    text = (raw or "").strip()
    if not text:
        return None
    if not _MONEY.fullmatch(text):  # no "1e3", "1_000", "1,2,3" or other scripts' digits
        raise ServiceError("Give the value as a number, like 1200, 1,200 or 1200.50.", field="won_value")
    value = Decimal(text.replace(",", ""))
    if not value.is_finite() or not 0 <= value <= MAX_VALUE:
        raise ServiceError("The value is a number from 0 to 999,999,999,999.99.", field="won_value")
    if value != value.quantize(Decimal("0.01")):  # 0.005 is not rounded to a cent behind the person's back
        raise ServiceError("Give the value in whole cents, with at most 2 decimal places, like 1200.50.",
                           field="won_value")
    return value.quantize(Decimal("0.01"))


def _reason_id(raw) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    number = whole_number(text)  # ASCII digits only: "²" or "١" is no id
    reason = db.session.get(LostReason, number) if number is not None else None
    if reason is None or reason.archived:
        raise ServiceError("Choose one of the listed reasons.", field="lost_reason")
    return reason.id


# --- closing and reopening (inside the mover's transaction) ---------------------------------------

def apply(lead: Lead, stage: Stage, details: Closing | None, now: datetime, *, require_reason: bool = True) -> dict:
    """Record on `lead` what moving it into `stage` means for won and lost; returns what the stage
    change's timeline entry adds. Raises ServiceError if a lost reason is required and missing (not
    for a lead added straight into a lost stage, by an import say: `require_reason=False`)."""
    details = details or Closing()
    if not is_closed(stage):
        if lead.closed_on is None:
            return {}
        lead.closed_on, lead.lost_reason_id, lead.lost_note = None, None, None
        return {"reopened": True}
    lead.closed_on = details.closed_on or _today_at(now)
    lead.sla_next_at = None  # a closed lead has no first response left to escalate (services/sla.py)
    extra = {"closed_on": lead.closed_on.isoformat()}
    if stage.kind == StageKind.won.value:
        lead.lost_reason_id, lead.lost_note = None, None
        if details.won_value is not None and details.won_value != lead.value:
            lead.value = details.won_value
        if lead.value is not None:
            extra["value"] = f"{lead.value:,.2f}"
        return extra
    if require_reason and details.lost_reason_id is None and team_settings.current().lost_reason_required:
        raise ServiceError("Choose why the lead was lost.", field="lost_reason")
    lead.lost_reason_id, lead.lost_note = details.lost_reason_id, details.lost_note
    if details.lost_reason_id is not None:
        extra["lost_reason"] = db.session.get(LostReason, details.lost_reason_id).name
    if details.lost_note:
        extra["note"] = details.lost_note
    return extra


def _today_at(now: datetime) -> date:
    return now.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(team_settings.team_timezone())).date()


# --- the lost reasons list (/settings/closing) ----------------------------------------------------

def reasons(include_archived: bool = False) -> list[LostReason]:
    query = select(LostReason).order_by(LostReason.archived, LostReason.position, LostReason.id)
    if not include_archived:
        query = query.where(LostReason.archived.is_(False))
    return list(db.session.scalars(query))


def reason_names() -> dict[int, str]:
    """Every reason's name by id (archived ones too: leads keep them), read once per request."""
    if has_request_context():
        if "lost_reason_names" not in g:
            g.lost_reason_names = _names()
        return g.lost_reason_names
    return _names()


def _names() -> dict[int, str]:
    return dict(db.session.execute(select(LostReason.id, LostReason.name)).all())


def _folded(name: str) -> str:
    """A reason's name as compared: case and compatibility forms folded ("Ｐrice" is "price")."""
    return unicodedata.normalize("NFKC", name).casefold()


def reason_id(name: str | None) -> int | None:
    """The id of the listed reason called `name` (any case), for the API; ServiceError if none is."""
    text = " ".join((name or "").split())
    if not text:
        return None
    # Compared case-folded in Python: SQLite's lower() folds ASCII letters only ("ÉCOLE" ≠ "école").
    found = next((reason.id for reason in reasons() if _folded(reason.name) == _folded(text)), None)
    if found is None:
        listed = ", ".join(reason.name for reason in reasons()) or "none yet"
        raise ServiceError(f"lost_reason must be one of the team's reasons: {listed}.", field="lost_reason")
    return found


def _free_name(name: str | None, reason_id: int | None = None) -> str:
    """The name cleaned by the one rule for names, refused if another reason has it in any case."""
    text = clean_name(name, "reason", MAX_NAME)
    # Case-folded in Python, as reason_id() does (the list is at most MAX_REASONS long); the unique
    # index on lower(name) settles a race between two admins.
    others = db.session.execute(select(LostReason.id, LostReason.name)).all()
    if any(_folded(name) == _folded(text) and other != reason_id for other, name in others):
        raise NameTaken()
    return text


class NameTaken(ServiceError):
    def __init__(self):
        super().__init__("There is already a reason with that name (in any case). Pick another name.", field="name")


def add_reason(name: str, actor_id: int | None = None) -> LostReason:
    """Add a reason at the end of the list; raises ServiceError(field="name") for an empty, long or
    taken name (in any case), or one past MAX_REASONS."""
    with taken_as(NameTaken), atomic():
        text = _free_name(name)
        if db.session.scalar(select(func.count()).select_from(LostReason)) >= MAX_REASONS:
            raise ServiceError(f"A team can keep up to {MAX_REASONS} reasons; archive or rename one instead.",
                               field="name")
        last = db.session.scalar(select(func.max(LostReason.position))) or 0
        reason = LostReason(name=text, position=last + 1, archived=False)
        db.session.add(reason)
        audit.record(actor_id, "lost_reason.added", f"Lost reason {text}")
        db.session.flush()
    return reason


def get_reason(reason_id: int) -> LostReason:
    reason = db.session.get(LostReason, reason_id)
    if reason is None:
        raise NotFound("That reason no longer exists.")
    return reason


def rename_reason(reason_id: int, name: str, actor_id: int | None = None) -> LostReason:
    """Rename a reason; the leads lost for it show the new name (they point at it). Raises
    ServiceError(field="name") as add_reason does."""
    with taken_as(NameTaken), atomic():
        reason = get_reason(reason_id)
        new = _free_name(name, reason.id)
        if new != reason.name:
            audit.record(actor_id, "lost_reason.renamed", f"Lost reason {reason.name}, now {new}")
        reason.name = new
        db.session.flush()
    return reason


def archive_reason(reason_id: int, archived: bool = True, actor_id: int | None = None) -> LostReason:
    """Take a reason off the list (or put it back); leads lost for it keep it."""
    with atomic():
        reason = get_reason(reason_id)
        if reason.archived != archived:
            audit.record(actor_id, "lost_reason.archived" if archived else "lost_reason.restored", f"Lost reason {reason.name}")
        reason.archived = archived
    return reason


def check_board_days(raw) -> int:
    text = str(raw if raw is not None else "").strip()
    days = whole_number(text)
    if days is None or not 1 <= days <= MAX_BOARD_DAYS:
        raise ServiceError(f"Give a number of days from 1 to {MAX_BOARD_DAYS:,}.", field="board_closed_days")
    return days


def save_settings(lost_reason_required: bool, board_closed_days, actor_id: int | None = None) -> TeamSettings:
    days = check_board_days(board_closed_days)
    with atomic():
        row = db.session.get(TeamSettings, 1) or team_settings.current()
        row.lost_reason_required, row.board_closed_days = bool(lost_reason_required), days
        db.session.add(row)
        audit.record(actor_id, "closing.saved", "Won and lost settings", {"lost_reason_required": bool(lost_reason_required), "board_closed_days": days})
    g.pop("team_settings", None)
    return row


def board_cutoff() -> date:
    """The earliest closing day a closed lead still shows on the board."""
    return team_today() - timedelta(days=team_settings.current().board_closed_days or 30)
