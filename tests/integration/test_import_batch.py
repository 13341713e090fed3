"""The import's batches (issue 15, section 3): the same file imported set-based (run_import's
batches: new leads by one executemany) and row by row through capture_lead (by_row=True) ends
the same, lead by lead, on SQLite and PostgreSQL.

The file holds every kind of row the identity rule and the ledger tell apart: new people, repeats
inside the file (same email, same phone and a similar name, same phone and another name), people
the team already has (by email, by phone), rows with no email or phone (name and company, company
alone), tags and custom values (which go through capture_lead), values a field cannot take (noted
on the timeline), rejected and empty rows, and more rows than a batch (batches of 7 here)."""
from __future__ import annotations

import io
from datetime import datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ImportRow, Lead, LeadImport, TimelineEntry
from app.services import custom_fields as cf
from app.services import scoring
from app.services.capture import capture_lead
from app.services.custom_fields import FieldSettings
from app.services.imports import create_import, run_import
from app.services.stages import ensure_default_pipeline
from app.services.tags import tags_for
from tests.conftest import _empty_tables
from tests.integration.test_import import csv_bytes

NOW = datetime(2026, 5, 4, 9, 30)
HEADER = ["First Name", "Last Name", "Email", "Phone", "Company", "Job Title", "Tags", "Budget", "Country"]
ROWS = [
    ["Ada", "Lovelace", "ada@example.com", "+1 415 555 0101", "Analytical", "CEO", "", "", "US"],
    ["Grace", "Hopper", "grace@example.com", "", "Navy", "Admiral", "", "", ""],
    ["Ada", "Lovelace", "ADA@example.com", "", "Analytical Engines", "", "", "", ""],  # same email, fills company? no
    ["Ada", "Lovelace", "", "+1 415 555 0101", "", "Countess", "", "", ""],  # same phone, same name
    ["Bob", "Other", "", "+1 415 555 0101", "", "", "", "", ""],  # same phone, another person
    ["Known", "ByEmail", "known@example.com", "", "Kept Co", "Buyer", "", "", ""],  # the team has them
    ["Kim", "Known", "", "+49 30 1234567", "", "", "", "", "DE"],  # the team has this phone, same name
    ["Lin", "Noemail", "", "", "Acme", "", "", "", ""],  # name and company
    ["Lin", "Noemail", "", "", "ACME", "", "", "", ""],  # again, another case
    ["", "", "", "", "Business Only GmbH", "", "", "", ""],  # a business, no person
    ["", "", "", "", "business only gmbh", "", "", "", ""],  # the same business
    ["Tina", "Tagged", "tina@example.com", "", "", "", "vip; fair", "", ""],
    ["Carl", "Custom", "carl@example.com", "", "", "", "", "$1,200", ""],
    ["Nora", "Note", "nora@example", "+1 415 555 0199", "", "", "", "", ""],  # bad email: noted, lead kept
    ["", "", "bad@@", "", "", "", "", "", ""],  # nothing identifies it: rejected
    ["", "", "", "", "", "", "", "", ""],  # empty: skipped
    ["Zoë", "Müller", "zoe@example.de", "030 7654321", "Café", "CTO", "", "", "Deutschland"],
    ["Grace", "Hopper", "grace@example.com", "+1 415 555 0102", "", "", "", "", ""],  # repeat, adds a phone
    *[[f"Person{i}", "Many", f"person{i}@example.com", "", f"Co {i % 3}", "CEO" if i % 2 else "", "", "", ""]
      for i in range(12)],
    ["Person3", "Many", "person3@example.com", "", "", "", "", "", ""],  # a repeat after many
]


def _setup() -> None:
    ensure_default_pipeline()
    cf.create_field(FieldSettings("Budget", key="budget", kind="money"))
    scoring.save_bands([("Cold", None, "#0000ff"), ("Hot", "20", "#ff0000")])
    scoring.save_rule(None, label="a chief", condition={"field": "job_title", "op": "contains", "value": "CEO"},
                      points=25)
    scoring.save_rule(None, label="has phone", condition={"field": "phone", "op": "is_not_empty"}, points=5)
    capture_lead({"first_name": "Known", "last_name": "ByEmail", "email": "known@example.com"}, via="test", now=NOW)
    capture_lead({"first_name": "Kim", "last_name": "Known", "phone": "+49 30 1234567"}, via="test", now=NOW)
    db.session.commit()


def _import(duplicates: str, by_row: bool) -> dict:
    imp = create_import(io.BytesIO(csv_bytes([HEADER, *ROWS])), "mixed.csv", None)
    imp.duplicates, imp.status, imp.default_source = duplicates, "queued", "Fair"
    imp.mapping = {**imp.mapping, "6": "tags", "7": "custom:budget"}
    db.session.commit()
    done = run_import(imp.id, batch_rows=7, by_row=by_row)
    assert done.status == "done", done.error
    return _snapshot(imp.id)


def _snapshot(import_id: int) -> dict:
    """Everything the import left, with ids replaced by what names them (the row that made a lead)."""
    db.session.expire_all()
    leads = list(db.session.scalars(select(Lead).order_by(Lead.id)))
    name_of = {lead.id: f"lead{n}" for n, lead in enumerate(leads)}
    ranks = {lead.id: rank for rank, lead in enumerate(sorted(leads, key=lambda lead: (lead.stage_id, lead.position)))}
    skip = {"id", "position", "created_at", "updated_at", "stage_entered_at", "owner_id", "stage_id",
            "score_changes_at", "capture_form_id"}
    entries: dict[int, list] = {}
    for entry in db.session.scalars(select(TimelineEntry).order_by(TimelineEntry.id)):
        data = {k: v for k, v in entry.data.items() if k != "import_id"}
        entries.setdefault(entry.lead_id, []).append((entry.kind, data))
    snapshot = {
        "leads": {name_of[lead.id]: {
            **{c.key: getattr(lead, c.key) for c in Lead.__table__.columns if c.key not in skip},
            "stage": lead.stage.name, "rank": ranks[lead.id], "tags": tags_for([lead.id])[lead.id],
            "custom": cf.values_for([lead.id])[lead.id], "timeline": sorted(entries.get(lead.id, []), key=repr)}
            for lead in leads},
        "rows": [(r.row_number, r.outcome, name_of.get(r.lead_id), r.reason, r.values, r.changes)
                 for r in db.session.scalars(select(ImportRow).where(ImportRow.import_id == import_id)
                                             .order_by(ImportRow.row_number))],
    }
    imp = db.session.get(LeadImport, import_id)
    snapshot["counts"] = (imp.rows_done, imp.created_count, imp.updated_count, imp.skipped_count, imp.rejected_count)
    return snapshot


@pytest.mark.parametrize("duplicates", ["skip", "update", "keep", "fill"])
def test_batches_and_row_by_row_leave_the_same_leads(stages, duplicates):
    _setup()
    batched = _import(duplicates, by_row=False)
    _empty_tables()
    _setup()
    one_by_one = _import(duplicates, by_row=True)
    assert batched["counts"] == one_by_one["counts"]
    assert batched["rows"] == one_by_one["rows"]
    assert batched["leads"].keys() == one_by_one["leads"].keys()
    for name, lead in batched["leads"].items():
        assert lead == one_by_one["leads"][name], name
    # The file really holds what the test says: new leads, repeats, notes, scores and rejections.
    outcomes = {outcome for _, outcome, *_ in batched["rows"]}
    assert {"created", "rejected", "skipped"} <= outcomes
    assert any(lead["score"] >= 25 for lead in batched["leads"].values())
    assert any(kind == "score_band_changed" for lead in batched["leads"].values() for kind, _ in lead["timeline"])
    assert any(kind == "import_notes" for lead in batched["leads"].values() for kind, _ in lead["timeline"])
    if duplicates != "keep":
        assert batched["counts"][1] < len(ROWS) - 2  # repeats were recognised
