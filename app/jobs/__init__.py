"""RQ job functions: a few lines each, ids in, one service call, no ORM objects across the queue."""
from __future__ import annotations

from contextlib import contextmanager

from flask import has_app_context


@contextmanager
def app_context():
    """The worker's app context (worker.py pushes one); jobs run elsewhere get their own."""
    if has_app_context():
        from app.extensions import db
        # RQ forks a child per job: never reuse the parent's pooled connections in it.
        db.engine.dispose(close=False)
        yield
        db.session.remove()
        return
    from app import create_app
    with create_app().app_context():
        yield
