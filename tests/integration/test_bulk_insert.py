"""bulk.insert_many (COPY on PostgreSQL) stores exactly what an executemany of the same rows
stores: awkward text (tabs, line breaks, backslashes, quotes, NUL-free Unicode), JSON (None as
JSON null, as SQLAlchemy sends it), numbers, dates; ids in the rows' order; a refusal raised as
SQLAlchemy's IntegrityError, with the transaction still usable after its savepoint."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ImportRow, Lead, LeadImport
from app.services import atomic
from app.services.bulk import insert_many

AWKWARD = ["tab\there", "line\nbreak\r\nCRLF", "back\\slash \\N", 'quote " and \'', "Zoë — 東京 🎉", "", None]


def _rows(import_id: int, start: int) -> list[dict]:
    return [{"import_id": import_id, "row_number": start + n, "outcome": "rejected", "lead_id": None,
             "reason": value, "values": None if n % 2 else [value, "x"], "changes": {"note": value} if n % 3 else None}
            for n, value in enumerate(AWKWARD)]


def _stored(import_id: int, numbers: range) -> list[tuple]:
    db.session.expire_all()
    rows = db.session.execute(
        select(ImportRow.row_number, ImportRow.reason, ImportRow.values, ImportRow.changes,
               ImportRow.__table__.c["values"].is_(None), ImportRow.changes.is_(None))
        .where(ImportRow.import_id == import_id, ImportRow.row_number.in_(numbers)).order_by(ImportRow.row_number))
    return [(number - numbers.start, *rest) for number, *rest in rows]


def test_insert_many_stores_what_executemany_stores(stages):
    imp = LeadImport(filename="x.csv", status="done", created_at=datetime(2026, 1, 1))
    db.session.add(imp)
    db.session.commit()
    with atomic():
        insert_many(ImportRow.__table__, _rows(imp.id, 100))
        db.session.execute(ImportRow.__table__.insert(), _rows(imp.id, 200))
    copied, executed = _stored(imp.id, range(100, 107)), _stored(imp.id, range(200, 207))
    assert copied == executed
    assert [reason for _, reason, *_ in copied] == AWKWARD


def test_insert_many_returns_ids_in_order_and_the_database_keeps_them(stages):
    stage = stages["New"]
    now = datetime(2026, 1, 1, 9)
    rows = [{"first_name": f"Bulk{n}", "last_name": "", "stage_id": stage.id, "position": -n * 1024, "version": 1,
             "created_at": now, "updated_at": now, "stage_entered_at": now, "score": 0, "score_reasons": [],
             "value": Decimal("1234.50") if n % 2 else None} for n in range(5)]
    with atomic():
        ids = insert_many(Lead.__table__, rows, ids=True)
    assert ids == sorted(ids) and len(set(ids)) == 5
    stored = {lead.id: lead for lead in db.session.scalars(select(Lead).where(Lead.id.in_(ids)))}
    assert [stored[i].first_name for i in ids] == [f"Bulk{n}" for n in range(5)]
    assert [stored[i].value for i in ids] == [None, Decimal("1234.50"), None, Decimal("1234.50"), None]
    # The sequence moved past them: the next lead the ORM adds gets a new id.
    later = Lead(first_name="Later", last_name="", stage_id=stage.id, position=1, version=1, created_at=now,
                 updated_at=now, stage_entered_at=now)
    db.session.add(later)
    db.session.commit()
    assert later.id > max(ids)


def test_a_refused_insert_many_raises_integrity_error_and_its_savepoint_undoes_it(stages):
    imp = LeadImport(filename="x.csv", status="done", created_at=datetime(2026, 1, 1))
    db.session.add(imp)
    db.session.commit()
    rows = _rows(imp.id, 1)
    rows[3]["import_id"] = 2_000_000_000  # no such import: the foreign key refuses the row
    with atomic():
        with pytest.raises(IntegrityError):
            with atomic():
                insert_many(ImportRow.__table__, rows)
        insert_many(ImportRow.__table__, _rows(imp.id, 50))  # the transaction goes on
    assert db.session.scalar(select(func.count()).select_from(ImportRow)) == len(AWKWARD)
    if db.engine.dialect.name == "sqlite":
        assert db.session.scalar(text("PRAGMA foreign_keys")) == 1
