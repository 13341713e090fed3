"""The domain: plain functions that hold Leadboard's rules. No Flask request objects here."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, TypeVar

from sqlalchemy import event
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


def utcnow() -> datetime:
    """Naive UTC, as stored in every timestamp column."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


DEPTH = "leadboard_atomic_depth"


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


# --- reading the team's settings once per transaction -------------------------------------------

MEMO = "leadboard_transaction_memo"
# Tables whose rows a capture writes and no memo reads: writing them keeps the memo. A write to any
# other table (a stage, a form, a user, a custom field, a band) forgets it at once.
LEAD_ROWS = frozenset({
    "leads", "timeline_entries", "lead_field_values", "lead_field_choices", "lead_tags", "tags", "notes",
    "notifications", "assignment_turns", "assignment_tallies", "stage_totals", "stage_total_deltas",
    "outbox_emails", "appointments", "idempotency_records", "held_submissions", "lead_imports", "import_chunks",
    "import_rejections", "lead_merges", "scoring_runs", "user_sessions", "login_throttles",
    "known_sign_in_addresses", "tasks", "lead_search_documents",
})


def transaction_memo(name: str, load: Callable[[], T]) -> T:
    """load()'s answer, read once per (outermost) transaction: a capture asks for the same stages,
    fields and bands from scoring, routing and its reply. Forgotten when the transaction ends, when
    a savepoint rolls back, and when the transaction writes to anything but lead rows (LEAD_ROWS),
    so every process sees settings as fresh as a plain query would."""
    session = db.session()
    current = session.get_transaction()
    if current is None:
        return load()
    memo = session.info.get(MEMO)
    if memo is None or memo[0] is not current:
        memo = session.info[MEMO] = (current, {})
    if name not in memo[1]:
        memo[1][name] = load()
    return memo[1][name]


def forget_memo(session) -> None:
    session.info.pop(MEMO, None)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session, previous_transaction) -> None:
    forget_memo(session)


@event.listens_for(Session, "after_flush")
def _forget_on_settings_flush(session, flush_context) -> None:
    if MEMO in session.info and any(
            getattr(getattr(obj, "__table__", None), "name", None) not in LEAD_ROWS
            for obj in (*session.new, *session.dirty, *session.deleted)):
        forget_memo(session)


@event.listens_for(Session, "do_orm_execute")
def _forget_on_settings_statement(state) -> None:
    if MEMO not in state.session.info or not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) not in LEAD_ROWS:
        forget_memo(state.session)
