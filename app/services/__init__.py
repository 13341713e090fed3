"""The domain: plain functions that hold Leadboard's rules. No Flask request objects here."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone

from app.extensions import db


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


def utcnow() -> datetime:
    """Naive UTC, as stored in every timestamp column."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@contextmanager
def atomic():
    """One service entry point, one transaction: commit on success, roll back on any error."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
