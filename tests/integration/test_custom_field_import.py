"""Custom fields in CSV: mapping targets (guessed from label or key), the import, and the export."""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ImportRow, Lead, TimelineEntry
from app.services import custom_fields as cf
from app.services.custom_fields import FieldSettings
from app.services.imports import create_import, run_import
from tests.integration.test_import import csv_bytes, latest_import, queued, read_csv, upload


@pytest.fixture
def fields(app):
    return {
        "budget": cf.create_field(FieldSettings("Budget (USD)", key="budget", kind="money")),
        "plan": cf.create_field(FieldSettings("Plan", kind="choice", choices=["Basic", "Pro"])),
        "modules": cf.create_field(FieldSettings("Modules", kind="multi_choice", choices=["CRM", "Mail", "Chat"])),
        "renewal": cf.create_field(FieldSettings("Renewal", kind="date")),
    }


FILE = csv_bytes([
    ["Email", "First name", "Budget (USD)", "plan", "Modules", "Renewal"],
    ["ada@example.com", "Ada", "2500", "pro", "CRM; Chat", "2027-01-31"],
    ["bo@example.com", "Bo", "", "Basic", "", ""],
    ["cy@example.com", "Cy", "lots", "", "", ""],
])


def test_custom_fields_are_mapping_targets_guessed_from_their_label_or_key(as_member, fields, stages):
    upload(as_member, FILE)
    page = as_member.get(f"/leads/import/{latest_import().id}").get_data(as_text=True)
    assert "Budget (USD) (custom field)" in page
    assert latest_import().mapping == {"0": "email", "1": "first_name", "2": "custom:budget", "3": "custom:plan",
                                       "4": "custom:modules", "5": "custom:renewal"}


def test_a_strict_import_stores_custom_values_and_rejects_a_bad_one_naming_its_column(fields, stages):
    imp = run_import(queued(FILE, strict=True).id)
    assert (imp.created_count, imp.rejected_count) == (2, 1)
    ada = db.session.scalar(select(Lead).where(Lead.email == "ada@example.com"))
    bo = db.session.scalar(select(Lead).where(Lead.email == "bo@example.com"))
    values = cf.values_for([ada.id, bo.id])
    assert values[ada.id] == {"budget": Decimal("2500.00"), "plan": "Pro", "modules": ["CRM", "Chat"],
                              "renewal": date(2027, 1, 31)}
    assert values[bo.id] == {"plan": "Basic"}
    reason = db.session.scalar(select(ImportRow.reason).where(ImportRow.outcome == "rejected"))
    assert reason.startswith("Budget (USD): enter a number")


def test_a_custom_value_that_does_not_fit_is_left_out_and_kept_on_the_timeline(fields, stages):
    imp = run_import(queued(FILE).id)
    assert (imp.created_count, imp.rejected_count) == (3, 0)
    cy = db.session.scalar(select(Lead).where(Lead.email == "cy@example.com"))
    assert cf.values_for([cy.id]).get(cy.id, {}) == {}
    entry = db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == cy.id,
                                                           TimelineEntry.kind == "import_notes")).one()
    [note] = entry.data["notes"]
    assert note.startswith("Budget (USD) “lots” could not be read (enter a number") and note.endswith("kept on the lead's timeline")


def test_update_mode_overwrites_custom_values_and_counts_the_lead_as_updated(fields, stages):
    run_import(queued(FILE).id)
    again = csv_bytes([["Email", "Plan"], ["ada@example.com", "Basic"], ["bo@example.com", "Basic"]])
    imp = run_import(queued(again, duplicates="update").id)
    assert (imp.created_count, imp.updated_count, imp.skipped_count) == (0, 1, 1)
    ada = db.session.scalar(select(Lead).where(Lead.email == "ada@example.com"))
    assert cf.values_for([ada.id])[ada.id]["plan"] == "Basic"
    entry = db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == ada.id,
                                                           TimelineEntry.kind == "resubmitted")).one()
    assert entry.data["custom"] == {"Plan": ["Pro", "Basic"]}


def test_the_export_has_a_column_per_custom_field_and_imports_back(as_member, fields, stages):
    run_import(queued(FILE, strict=True).id)
    exported = as_member.get("/leads/export.csv?sort=name&dir=asc")
    rows = read_csv(exported)
    assert rows[0][-4:] == ["Budget (USD)", "Plan", "Modules", "Renewal"]
    by_email = {row[3]: row[-4:] for row in rows[1:]}
    assert by_email == {"ada@example.com": ["2500.00", "Pro", "CRM; Chat", "2027-01-31"],
                        "bo@example.com": ["", "Basic", "", ""]}
    data = exported.get_data()
    db.session.execute(Lead.__table__.delete())
    db.session.commit()
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (2, 0)
    ada = db.session.scalar(select(Lead).where(Lead.email == "ada@example.com"))
    assert cf.values_for([ada.id])[ada.id]["modules"] == ["CRM", "Chat"]
