"""The domain: plain functions that hold Leadboard's rules. No Flask request objects here."""
from __future__ import annotations

import re
import unicodedata
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Callable, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.extensions import db

T = TypeVar("T")


class ServiceError(Exception):
    """A rule said no; the message is safe to show to the person who asked."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Forbidden(ServiceError):
    status = 403


INT32_MAX = 2**31 - 1


def whole_number(raw, maximum: int = INT32_MAX) -> int | None:
    """An id or count as a person or a form sends it: ASCII digits that fit, else None.

    (str.isdigit alone accepts "²" and other digits int() refuses.)"""
    text = raw.strip() if isinstance(raw, str) else ""
    if not (text and text.isascii() and text.isdigit() and len(text) <= 19):
        return None
    number = int(text)
    return number if number <= maximum else None


def iso_day(raw) -> date | None:
    """A day as YYYY-MM-DD, else None. (date.fromisoformat alone also takes "20261201" and the
    week date "2026-W52-5", which nobody types meaning a day.)"""
    text = raw.strip() if isinstance(raw, str) else ""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def clean_name(raw: str | None, what: str, limit: int, field: str = "name") -> str:
    """The one rule for a name an admin gives something (a rule, a group, a lost reason): spaces
    collapsed, not empty, at most `limit` characters; raises ServiceError(field) otherwise."""
    text = " ".join((raw or "").split())
    if not text or not any(unicodedata.category(c)[0] in "LNPS" for c in text):
        raise ServiceError(f"Give the {what} a name.", field=field)
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in text):
        # Zero-width and direction marks show as a blank, or turn the text around on the page.
        raise ServiceError("Use letters, digits and punctuation only: no invisible or control characters.",
                           field=field)
    if len(text) > limit:
        raise ServiceError(f"Keep the name under {limit} characters.", field=field)
    return text


def utcnow() -> datetime:
    """Naive UTC, as stored in every timestamp column."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


DEPTH = "leadboard_atomic_depth"
# Lead events queued for automations in this transaction (services/automations.py), run just before it commits.
PENDING_EVENTS = "leadboard_automation_events"


@contextmanager
def taken_as(error: Callable[[], ServiceError]):
    """Around the outermost atomic() of a save with a unique name or key: two people saving the same
    one at once both pass the service's check, the unique index refuses the second (its transaction
    rolled back), who then hears what the check would have said: `error()`."""
    try:
        yield
    except IntegrityError:
        raise error() from None


@contextmanager
def atomic():
    """One user action, one transaction: the outermost atomic() commits on success and rolls back
    on any error; an atomic() inside another is a savepoint, so services compose.

    A failure inside a nested block undoes only that block when its caller catches the error (an
    import row), and the whole action when it does not. Nothing else commits."""
    session = db.session
    depth = session.info.get(DEPTH, 0)
    if depth:
        session.info[DEPTH] = depth + 1
        try:
            with session.begin_nested():
                yield session
        finally:
            session.info[DEPTH] = depth
        return
    session.info[DEPTH] = 1
    try:
        _begin_writing(session)
        yield session
        if session.info.get(PENDING_EVENTS):
            from app.services.automations import run_pending  # noqa: PLC0415 (automations build on this module)
            run_pending()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info[DEPTH] = 0


def in_atomic() -> bool:
    """True inside an atomic() block: a helper that must join the caller's transaction can check."""
    return bool(db.session.info.get(DEPTH))


def _begin_writing(session) -> None:
    """SQLite: take the write lock now (BEGIN IMMEDIATE) so that savepoints nest inside a real
    transaction and a read-then-write never fails to upgrade its lock under concurrency.

    pysqlite otherwise begins lazily before the first write, and a SAVEPOINT issued outside a
    transaction would commit on RELEASE."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi = connection.connection.dbapi_connection
    if not dbapi.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# PostgreSQL's answers when two transactions wanted the same rows at once: a deadlock, a
# serialization failure, a lock wait given up. SQLite's is "database is locked" after its timeout.
CONTENTION_SQLSTATES = {"40P01", "40001", "55P03"}


def contention(exc: BaseException) -> bool:
    """Whether a database error means "busy with another change right now": nothing was saved,
    and the same request a moment later will very likely succeed."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state in CONTENTION_SQLSTATES or "database is locked" in str(orig or "")


def foreign_key_violation(exc: BaseException) -> bool:
    """Whether a database error is a row pointing at another that is gone (removed meanwhile)."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state == "23503" or "FOREIGN KEY constraint failed" in str(orig or "")


# --- reading the team's settings once per transaction -------------------------------------------

MEMO = "leadboard_transaction_memo"
# Tables whose rows a capture writes and no memo reads: writing them keeps the memo. A write to any
# other table (a stage, a form, a user, a custom field, a band) forgets it at once, and renews the
# settings version as the transaction commits (settings_cache below).
LEAD_ROWS = frozenset({
    "leads", "timeline_entries", "lead_field_values", "lead_field_choices", "lead_tags", "tags", "notes",
    "notifications", "assignment_turns", "assignment_tallies", "stage_totals", "stage_total_deltas",
    "outbox_emails", "appointments", "idempotency_records", "held_submissions", "lead_imports", "import_chunks",
    "import_rows", "lead_merges", "scoring_runs", "user_sessions", "login_throttles",
    "known_sign_in_addresses", "tasks", "activities", "lead_search_documents", "suppressed_addresses",
    "sequence_enrolments", "sequence_sends", "sequence_bulk_runs",
    "webhook_deliveries",
    # What automations write as they run on a lead's event (the automations themselves are settings).
    "automation_runs", "automation_waits", "automation_occurrences", "automation_cursors",
    # Not lead rows, but nothing the memo or settings_cache reads either: an API key's last use
    # (written at most once a minute), and the settings version itself.
    "api_keys", "settings_versions",
    # The audit log: written beside settings changes (which renew the version themselves) and by exports.
    "audit_entries",
})


# An UPDATE of a settings table that changes nothing the memo or settings_cache reads (a form's
# submission count): `.execution_options(**NOT_SETTINGS)` keeps both.
_NOT_SETTINGS = "leadboard_not_settings"
NOT_SETTINGS = {_NOT_SETTINGS: True}


def transaction_memo(name: str, load: Callable[[], T]) -> T:
    """load()'s answer, read once per (outermost) transaction: a capture asks for the same stages,
    fields and bands from scoring, routing and its reply. Forgotten when the transaction ends, when
    a savepoint rolls back, and when the transaction writes to anything but lead rows (LEAD_ROWS),
    so every process sees settings as fresh as a plain query would."""
    session = db.session()
    current = session.get_transaction()
    if current is None:
        value = load()  # which began the transaction, if it read anything: remember it there
        current = session.get_transaction()
        if current is None:
            return value
        memo = session.info[MEMO] = (current, {name: value})
        return value
    memo = session.info.get(MEMO)
    if memo is None or memo[0] is not current:
        memo = session.info[MEMO] = (current, {})
    if name not in memo[1]:
        memo[1][name] = load()
    return memo[1][name]


def forget_memo(session) -> None:
    session.info.pop(MEMO, None)


def _settings_written(session) -> None:
    """This transaction wrote to a table the settings cache may read: forget the transaction's memo
    now, and give the settings version a new token as the transaction commits."""
    forget_memo(session)
    session.info[SETTINGS_WRITTEN] = True


def outermost(session: Session) -> bool:
    """In an after_commit or after_rollback hook: whether it is the outermost transaction's.
    SQLAlchemy calls both for a savepoint (a nested atomic()) too: released, what it wrote is not yet
    visible to any other connection (a job enqueued then finds nothing to do); rolled back, the
    transaction around it goes on. (session.in_transaction() is still true in either hook.)"""
    return not session.in_nested_transaction()


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session, previous_transaction) -> None:
    forget_memo(session)


@event.listens_for(Session, "after_flush")
def _forget_on_settings_flush(session, flush_context) -> None:
    if any(
            getattr(getattr(obj, "__table__", None), "name", None) not in LEAD_ROWS
            for obj in (*session.new, *session.dirty, *session.deleted)):
        _settings_written(session)


@event.listens_for(Session, "do_orm_execute")
def _forget_on_settings_statement(state) -> None:
    if not (state.is_insert or state.is_update or state.is_delete) or state.execution_options.get(_NOT_SETTINGS):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) not in LEAD_ROWS:
        _settings_written(state.session)


# --- keeping the team's settings between transactions -------------------------------------------
#
# Every capture is its own transaction, so the memo above cannot carry the checked rules from one
# capture to the next. settings_cache() keeps them in this process for as long as the settings
# version's token (one row, settings_versions id 1) is the one it read them under. Every transaction
# that writes to a table outside LEAD_ROWS (a rule, a field, a stage, a form, a user, working
# hours, a band, a group, the team's settings) renews the token as it commits, in that transaction,
# whichever service or process wrote it: the listeners above notice the write, _renew_token
# below writes the token. A capture reads the token (one primary-key read per transaction), so a
# change committed by another gunicorn worker or the RQ worker is seen by the very next capture.

SETTINGS_WRITTEN = "leadboard_settings_written"
# Per engine (one database), what settings_cache() keeps: name -> (token, value). Values are plain
# data (tuples, dataclasses), never ORM instances, and nobody may change them.
_KEPT: WeakKeyDictionary = WeakKeyDictionary()


def settings_token() -> str | None:
    """The committed settings version's token, read once per transaction; None when the row is
    missing (a table emptied by hand), and nothing is kept then."""
    from app.models import SettingsVersion  # noqa: PLC0415 (the models import the extensions this module does)
    return transaction_memo("settings.token", lambda: db.session.scalar(
        select(SettingsVersion.token).where(SettingsVersion.id == 1)))


def settings_cache(name: str, load: Callable[[], T]) -> T:
    """load()'s answer, kept in this process across transactions while the settings are unchanged
    (see above), and read once per transaction otherwise (transaction_memo). load() must return
    plain data that no caller changes. A transaction that has written settings itself reads them
    afresh (what it sees is not committed yet), and keeps nothing."""
    session = db.session()
    if session.info.get(SETTINGS_WRITTEN):
        return transaction_memo(name, load)
    token = settings_token()
    if token is None:
        return transaction_memo(name, load)
    kept = _KEPT.setdefault(session.get_bind(), {})
    hit = kept.get(name)
    if hit is not None and hit[0] == token:
        return hit[1]
    value = load()
    kept[name] = (token, value)
    return value


@event.listens_for(Session, "before_commit")
def _renew_token(session) -> None:
    """A transaction that wrote settings gives the version a new token, inside itself, as it commits."""
    if session.in_nested_transaction():
        return
    session.flush()  # the writes still pending decide too
    if not session.info.get(SETTINGS_WRITTEN):
        return
    from app.models import SettingsVersion  # noqa: PLC0415
    connection = session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    token = uuid.uuid4().hex
    connection.execute(insert(SettingsVersion.__table__).values(id=1, token=token)
                       .on_conflict_do_update(index_elements=["id"], set_={"token": token}))


@event.listens_for(Session, "after_transaction_end")
def _settings_transaction_end(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(SETTINGS_WRITTEN, None)
