"""An import whose worker dies carries on after its last committed batch: nothing doubled, nothing
lost, and the counts match what was saved. (The same through a real worker process that is killed:
tests/jobs/test_import_job.py.)"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ImportRow, Lead, LeadImport
from app.services import imports
from app.services.imports import run_import, run_stale
from tests.integration.test_import import csv_bytes, queued


class Died(BaseException):
    """The process vanishing mid-batch, as far as the database can tell: the batch is never committed."""


def rows(total: int, bad: int) -> bytes:
    return csv_bytes([["Email", "First Name"]] + [[f"p{i}@example.com" if i != bad else "p@@bad", f"P{i}"]
                                                  for i in range(total)])


def die_after(monkeypatch, batches: int) -> None:
    """The worker dies while writing the batch after `batches` committed ones."""
    write, seen = imports._write_outcomes, []

    def writing(plan, outcomes):
        seen.append(len(outcomes))
        if len(seen) > batches:
            raise Died()
        return write(plan, outcomes)
    monkeypatch.setattr(imports, "_write_outcomes", writing)


def stored(import_id: int) -> LeadImport:
    db.session.expire_all()
    return db.session.get(LeadImport, import_id)


def test_an_import_whose_worker_died_is_carried_on_from_its_last_committed_batch(monkeypatch, stages):
    imp = queued(rows(10, bad=5), strict=True)
    die_after(monkeypatch, batches=2)
    with pytest.raises(Died):
        run_import(imp.id, batch_rows=3)
    db.session.rollback()
    half = stored(imp.id)
    # Two batches of three committed, with their counts; the third was never written.
    assert (half.status, half.rows_done, half.created_count, half.rejected_count) == ("running", 6, 5, 1)
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 5
    heartbeat = half.heartbeat_at
    assert heartbeat is not None

    monkeypatch.undo()
    assert run_import(imp.id, batch_rows=3, now=heartbeat + run_stale() / 2) is None  # not silent long enough
    done = run_import(imp.id, batch_rows=3, now=heartbeat + run_stale() + timedelta(seconds=1))
    assert (done.status, done.rows_done, done.created_count, done.rejected_count) == ("done", 10, 9, 1)
    emails = db.session.scalars(select(Lead.email).order_by(Lead.id)).all()
    assert emails == [f"p{i}@example.com" for i in range(10) if i != 5]  # each once, in file order
    ledger = db.session.execute(select(ImportRow.row_number, ImportRow.outcome).order_by(ImportRow.row_number)).all()
    assert [number for number, _ in ledger] == list(range(2, 12))  # every row accounted for, once
    assert [number for number, outcome in ledger if outcome == "rejected"] == [7]


def test_a_running_import_with_a_live_worker_is_not_taken_over(stages):
    imp = queued(rows(4, bad=-1))
    imp.status, imp.heartbeat_at = "running", imports.utcnow()
    db.session.commit()
    assert run_import(imp.id) is None
    assert stored(imp.id).rows_done == 0 and db.session.scalar(select(func.count()).select_from(Lead)) == 0


def test_a_run_that_was_taken_over_undoes_its_batch_and_stops(monkeypatch, stages):
    """The slow worker comes back after another took its import over: its batch is not written twice."""
    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: the takeover cannot land mid-batch")
    from sqlalchemy import create_engine, update
    imp = queued(rows(6, bad=-1))
    other = create_engine(db.engine.url)
    write = imports._write_outcomes

    def writing(plan, outcomes):
        with other.begin() as conn:  # the run that took over commits a batch of its own meanwhile
            conn.execute(update(LeadImport).where(LeadImport.id == plan.import_id)
                         .values(processed_bytes=LeadImport.processed_bytes + 1))
        return write(plan, outcomes)
    monkeypatch.setattr(imports, "_write_outcomes", writing)
    assert run_import(imp.id, batch_rows=3) is None
    other.dispose()
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 0  # this run's batch was undone
    assert stored(imp.id).rows_done == 0
