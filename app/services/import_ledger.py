"""An import's ledger: what became of every row (import_rows), as a report and a CSV; undoing a
finished import as a whole within a day; discarding an upload that was never started.

Undo, decided:
- a lead the import created is deleted, unless it has been changed or added to since the import
  finished (anything on its timeline after that: a note, a move, an edit, a capture of the same
  person, a task) or another lead has been merged into it: it then holds work that is not the
  file's, so it is kept and its timeline says why;
- a field an updated or merged row wrote goes back to its value before the import, unless it has been
  changed again since (the later change wins, and the timeline names the field left as it is);
  custom field values and tags a row added are not reverted (their old values are kept only as text);
- every lead kept says so on its timeline; all of it is one transaction, refused past UNDO_LIMIT rows."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Date, Numeric, delete, func, select, text, update

from app.extensions import db
from app.models import ImportRow, Lead, LeadImport, LeadMerge, TimelineEntry, User
from app.services import Conflict, Forbidden, ServiceError, atomic, utcnow
from app.services.csv_reading import BOM, CsvLines
from app.services.export import EXPORT_BATCH, streamed
from app.services.identity import hold_many
from app.services.imports import get_import
from app.services.leads import json_value, touch
from app.services.scoring import rescore

OUTCOMES = {"created": "Created", "updated": "Updated", "merged": "Merged", "skipped": "Skipped",
            "rejected": "Rejected"}
ROWS_PAGE = 50
UNDO_WINDOW = timedelta(hours=24)
# An undo is one set-based transaction: past this many rows that touched a lead it would hold its
# locks too long, and the page says to ask an admin to remove the leads by a filtered bulk action.
UNDO_LIMIT = 20_000
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit


class ImportUndoRefused(Conflict):
    pass


class TooLargeToUndo(ImportUndoRefused):
    def __init__(self, changed: int):
        super().__init__(f"This import created or changed {changed:,} leads; Leadboard undoes at most "
                         f"{UNDO_LIMIT:,} at once, so it cannot be undone. Its leads are listed in the pool "
                         "filtered by this import.")


class NothingToUndo(ImportUndoRefused):
    def __init__(self):
        super().__init__("This import created and changed no lead, so there is nothing to undo.")


class UndoExpired(ServiceError):
    status = 410

    def __init__(self):
        super().__init__("This import finished more than a day ago, so it can no longer be undone. "
                         "Change or remove its leads from the pool instead.")


class NotYours(Forbidden):
    def __init__(self, what: str):
        super().__init__(f"Only an admin or the person who ran this import can {what} it.")


# --- reading the ledger ------------------------------------------------------------------------------

def outcome_counts(import_id: int) -> dict[str, int]:
    """Rows per outcome (every outcome named, 0 when none), counted from the ledger."""
    counted = dict(db.session.execute(select(ImportRow.outcome, func.count()).where(ImportRow.import_id == import_id)
                                      .group_by(ImportRow.outcome)).all())
    return {name: counted.get(name, 0) for name in OUTCOMES}


@dataclass
class LedgerLine:
    row_number: int
    outcome: str
    reason: str | None
    lead_id: int | None
    lead_name: str | None


@dataclass
class LedgerPage:
    lines: list[LedgerLine]
    next_after: int | None  # the row number to ask for the next page after, or None at the end


def rows_page(import_id: int, outcome: str | None = None, after: int | None = None,
              limit: int = ROWS_PAGE) -> LedgerPage:
    """One page of the ledger in file order (keyset by row number, ix_import_rows_import_outcome_row),
    with each row's lead name; `outcome` narrows it (an unknown one is ignored)."""
    query = (select(ImportRow.row_number, ImportRow.outcome, ImportRow.reason, ImportRow.lead_id,
                    Lead.first_name, Lead.last_name, Lead.email, Lead.company)
             .outerjoin(Lead, Lead.id == ImportRow.lead_id).where(ImportRow.import_id == import_id))
    if outcome in OUTCOMES:
        query = query.where(ImportRow.outcome == outcome)
    if after is not None:
        query = query.where(ImportRow.row_number > after)
    rows = db.session.execute(query.order_by(ImportRow.row_number, ImportRow.id).limit(limit + 1)).all()
    lines = [LedgerLine(r.row_number, r.outcome, r.reason, r.lead_id, _name(r) if r.lead_id else None)
             for r in rows[:limit]]
    return LedgerPage(lines, lines[-1].row_number if len(rows) > limit else None)


def _name(row) -> str:
    return f"{row.first_name or ''} {row.last_name or ''}".strip() or row.email or row.company or "Unnamed lead"


def row_report_csv(import_id: int) -> Iterator[str]:
    """Every row of the import as CSV: row number, outcome, lead, lead email, reason, then a rejected
    row's values as they were in the file; streamed in batches."""
    imp = get_import(import_id)
    line = CsvLines()
    yield BOM + line(["Row", "Outcome", "Lead", "Lead email", "Reason", *imp.headers])
    query = (select(ImportRow.row_number, ImportRow.outcome, ImportRow.reason, ImportRow.values, ImportRow.lead_id,
                    Lead.first_name, Lead.last_name, Lead.email, Lead.company)
             .outerjoin(Lead, Lead.id == ImportRow.lead_id).where(ImportRow.import_id == imp.id)
             .order_by(ImportRow.row_number, ImportRow.id))
    for rows in streamed(query, EXPORT_BATCH):  # its own connection: the download outlives the request's session
        yield "".join(line([r.row_number, OUTCOMES.get(r.outcome, r.outcome), _name(r) if r.lead_id else "",
                            r.email or "", r.reason or "", *(r.values or [])]) for r in rows)


def import_name(import_id: int) -> str | None:
    """The file name of an import (the pool's filter chip names it), or None when it is gone."""
    return db.session.scalar(select(LeadImport.filename).where(LeadImport.id == import_id))


# --- who may do what ----------------------------------------------------------------------------------

def may_manage(imp: LeadImport, actor: User) -> bool:
    """Whether `actor` may undo or discard `imp`: an admin, or the person who ran it."""
    return actor.is_admin or (imp.created_by_id is not None and imp.created_by_id == actor.id)


def undo_refusal(imp: LeadImport, actor: User, now: datetime | None = None) -> ServiceError | None:
    """Why `actor` cannot undo `imp` now (the error undo_import would raise), or None if they can."""
    if not may_manage(imp, actor):
        return NotYours("undo")
    if imp.undone_at is not None:
        return ImportUndoRefused(f"This import was already undone on {imp.undone_at:%Y-%m-%d at %H:%M} UTC.")
    if imp.status not in ("done", "failed") or imp.finished_at is None:  # a stopped one keeps what it saved
        return ImportUndoRefused("Only a finished or stopped import can be undone.")
    if (now or utcnow()) - imp.finished_at > UNDO_WINDOW:
        return UndoExpired()
    if imp.created_count + imp.updated_count > UNDO_LIMIT:
        return TooLargeToUndo(imp.created_count + imp.updated_count)
    if not imp.created_count and not imp.updated_count:
        return NothingToUndo()
    return None


def undo_deadline(imp: LeadImport) -> datetime | None:
    return imp.finished_at + UNDO_WINDOW if imp.finished_at else None


# --- undo ---------------------------------------------------------------------------------------------

@dataclass
class Undone:
    removed: int = 0
    reverted: int = 0
    kept: list[int] = field(default_factory=list)  # created leads kept (merged into since)


def undo_import(import_id: int, actor_id: int, now: datetime | None = None) -> Undone:
    """Undo a finished import within a day, in one transaction (see the module's docstring).

    Raises ImportNotFound, NotYours, ImportUndoRefused (already undone, not finished, too large) or UndoExpired."""
    now = now or utcnow()
    with atomic():
        # The claim first: a second undo at the same moment finds undone_at set and stops.
        imp = get_import(import_id, lock=True)  # read afresh: another undo may have just committed
        refusal = undo_refusal(imp, db.session.get(User, actor_id), now)
        if refusal is not None:
            raise refusal
        rows = db.session.execute(
            select(ImportRow.outcome, ImportRow.lead_id, ImportRow.changes)
            .where(ImportRow.import_id == imp.id, ImportRow.lead_id.is_not(None),
                   ImportRow.outcome.in_(("created", "updated", "merged")))
            .order_by(ImportRow.row_number.desc(), ImportRow.id.desc()).limit(UNDO_LIMIT + 1)).all()
        if len(rows) > UNDO_LIMIT:
            raise TooLargeToUndo(len(rows))
        created = sorted({r.lead_id for r in rows if r.outcome == "created"})
        _hold(sorted({r.lead_id for r in rows}))
        kept: dict[int, str] = {}
        for chunk in _chunks(created):
            # Anything on a lead's timeline after the import finished (a note, a move, a capture of
            # the same person, an edit, a task) is work that is not the file's: the lead stays.
            for lead_id in db.session.scalars(select(TimelineEntry.lead_id).where(
                    TimelineEntry.lead_id.in_(chunk), TimelineEntry.created_at > imp.finished_at).distinct()):
                kept[lead_id] = "It was changed or added to since the import"
            for lead_id in db.session.scalars(select(Lead.id).where(Lead.id.in_(chunk),
                                                                    Lead.updated_at > imp.finished_at)):
                kept[lead_id] = "It was changed or added to since the import"
            for lead_id in db.session.scalars(select(LeadMerge.survivor_id).where(  # holds another lead's data
                    LeadMerge.survivor_id.in_(chunk), LeadMerge.undone_at.is_(None))):
                kept[lead_id] = "Another lead was merged into it since"
        removed = [i for i in created if i not in kept]
        context = {"import_id": imp.id, "file": imp.filename}
        reverted = _revert(rows, set(created), actor_id, now, context)
        for lead_id, why in sorted(kept.items()):
            db.session.add(TimelineEntry(lead_id=lead_id, kind="import_undone", actor_id=actor_id, created_at=now,
                                         data={**context, "kept": why}))
        for chunk in _chunks(removed):  # their timeline, notes and tasks go with them (ON DELETE CASCADE)
            db.session.execute(delete(Lead).where(Lead.id.in_(chunk)).execution_options(synchronize_session=False))
        db.session.execute(update(LeadImport).where(LeadImport.id == imp.id).values(undone_at=now)
                           .execution_options(synchronize_session=False))
    db.session.expire_all()
    return Undone(removed=len(removed), reverted=reverted, kept=sorted(kept))


HOLD_ONE_BY_ONE_UP_TO = 2_000  # leads an undo locks person by person; more, and it locks the table


def _hold(lead_ids: list[int]) -> None:
    """Wait for whatever is changing these leads to commit, and keep them still until the undo has:
    the identity locks a capture of the same person takes (identity.hold_many), then the rows
    themselves (FOR UPDATE, in id order), so a capture, a note or an edit either committed before
    the checks below read the timeline (the lead is kept) or waits and finds the lead gone. SQLite
    writes one transaction at a time: nothing to do there."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    if len(lead_ids) > HOLD_ONE_BY_ONE_UP_TO:
        # One advisory lock per person would fill PostgreSQL's shared lock table ("out of shared
        # memory" at ~20,000 leads, failing other sessions too): lead writes wait for the undo instead.
        db.session.execute(text("LOCK TABLE leads IN SHARE ROW EXCLUSIVE MODE"))
    else:
        people = []
        for chunk in _chunks(lead_ids):
            people += [r._asdict() for r in db.session.execute(
                select(Lead.email, Lead.phone, Lead.first_name, Lead.last_name, Lead.company).where(Lead.id.in_(chunk)))]
        hold_many(people)
    for chunk in _chunks(lead_ids):
        db.session.execute(select(Lead.id).where(Lead.id.in_(chunk)).order_by(Lead.id).with_for_update())


def _revert(rows, created: set[int], actor_id: int, now: datetime, context: dict) -> int:
    """Put back what updated and merged rows wrote, newest row first (so a lead two rows changed gets
    its value from before the first); a field changed again since is left and named."""
    changes_by_lead: dict[int, list[dict]] = {}
    for r in rows:
        if r.outcome in ("updated", "merged") and r.lead_id not in created and r.changes:
            changes_by_lead.setdefault(r.lead_id, []).append(r.changes)
    columns = Lead.__table__.columns
    count = 0
    for chunk in _chunks(sorted(changes_by_lead)):
        leads = db.session.scalars(select(Lead).where(Lead.id.in_(chunk))).all()
        for lead in leads:
            reverted, left = {}, []
            for name in dict.fromkeys(n for c in changes_by_lead[lead.id] for n in c):
                if name == "custom" or name not in columns:
                    continue
                numeric = isinstance(columns[name].type, Numeric)
                now_value = value = json_value(getattr(lead, name))
                for changes in changes_by_lead[lead.id]:  # newest row first: back through the file's changes
                    if name not in changes:
                        continue
                    before, after = changes[name]
                    if not (value == after or (numeric and _same_number(value, after))):
                        left.append(name)  # changed again since: the later change wins
                        break
                    value = before
                if value != now_value and name not in left:
                    if value is not None and numeric:
                        value_as_stored = Decimal(value)
                    elif value is not None and isinstance(columns[name].type, Date):  # kept as YYYY-MM-DD
                        value_as_stored = date.fromisoformat(value)
                    else:
                        value_as_stored = value
                    setattr(lead, name, value_as_stored)
                    reverted[name] = [now_value, value]
            if reverted:
                touch(lead)
                count += 1
            db.session.add(TimelineEntry(lead_id=lead.id, kind="import_undone", actor_id=actor_id, created_at=now,
                                         data={**context, "reverted": reverted,
                                               "left": left}))
        db.session.flush()
        rescore([lead for lead in leads], now, actor_id=actor_id)
    return count


def _same_number(a, b) -> bool:
    try:
        return a is not None and b is not None and Decimal(str(a)) == Decimal(str(b))
    except ArithmeticError:
        return False


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _IN_CHUNK):
        yield ids[start:start + _IN_CHUNK]


# --- discard ------------------------------------------------------------------------------------------

def discard_import(import_id: int, actor_id: int) -> str:
    """Remove an upload that was never started (its stored file goes with it); returns its file name.

    Raises ImportNotFound, NotYours, or ImportUndoRefused when it has started."""
    with atomic():
        imp = get_import(import_id, lock=True)
        if not may_manage(imp, db.session.get(User, actor_id)):
            raise NotYours("discard")
        filename = imp.filename
        gone = db.session.execute(delete(LeadImport).where(LeadImport.id == imp.id, LeadImport.status == "uploaded")
                                  .execution_options(synchronize_session=False)).rowcount
        if not gone:
            raise ImportUndoRefused("This import has already started, so it cannot be discarded; once it "
                                    "finishes it can be undone within a day.")
    db.session.expire_all()
    return filename
