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


def test_a_custom_field_renamed_or_deleted_during_the_import_rejects_no_row(fields, stages, admin, monkeypatch):
    """An admin renames one field's key and deletes another between two batches: the renamed one
    keeps its column; the deleted one's values go to each later lead's timeline; no row is refused."""
    from app.services import imports
    monkeypatch.setattr(imports, "BATCH_SECONDS", 60.0)
    rows = [["Email", "Budget (USD)", "plan"]] + [[f"p{i}@example.com", str(100 + i), "Pro"] for i in range(6)]
    imp = queued(csv_bytes(rows), mapping={"1": "custom:budget", "2": "custom:plan"})
    refresh, calls = imports.Plan.refresh, []

    def changed_between_batches(plan):
        calls.append(plan)
        if len(calls) == 2:
            cf.update_field(fields["budget"].id, FieldSettings("Budget", key="budget_usd", kind="money"), admin.id)
            cf.delete_field(fields["plan"].id, admin.id)
        refresh(plan)

    monkeypatch.setattr(imports.Plan, "refresh", changed_between_batches)
    imp = run_import(imp.id, batch_rows=3)
    assert (imp.created_count, imp.rejected_count) == (6, 0)
    leads = db.session.scalars(select(Lead).order_by(Lead.email)).all()
    values = cf.values_for([lead.id for lead in leads])
    assert [values[lead.id] for lead in leads] == [{"budget_usd": Decimal(100 + i)} for i in range(6)]
    later = {lead.email: lead.id for lead in leads[3:]}
    notes = db.session.execute(select(TimelineEntry.lead_id, TimelineEntry.data).where(
        TimelineEntry.kind == "import_notes")).all()
    assert {lead_id for lead_id, _ in notes} == set(later.values())
    assert all(data["notes"] == ["plan “Pro”: its custom field was deleted during the import; kept on the lead's "
                                 "timeline"] for _, data in notes)


def test_new_leads_go_to_the_pool_once_the_imports_owner_is_deactivated(stages, admin, member, monkeypatch):
    from app.services import imports
    from app.services.users import set_active
    monkeypatch.setattr(imports, "BATCH_SECONDS", 60.0)
    rows = [["Email"]] + [[f"p{i}@example.com"] for i in range(4)]
    imp = queued(csv_bytes(rows), default_owner_id=member.id)
    refresh, calls = imports.Plan.refresh, []

    def deactivated_between_batches(plan):
        calls.append(plan)
        if len(calls) == 2:
            set_active(member.id, False)
        refresh(plan)

    monkeypatch.setattr(imports.Plan, "refresh", deactivated_between_batches)
    imp = run_import(imp.id, batch_rows=2)
    assert (imp.created_count, imp.rejected_count) == (4, 0)
    owners = dict(db.session.execute(select(Lead.email, Lead.owner_id)).all())
    assert owners == {"p0@example.com": member.id, "p1@example.com": member.id,
                      "p2@example.com": None, "p3@example.com": None}
    reasons = dict(db.session.execute(select(ImportRow.row_number, ImportRow.reason)).all())
    assert reasons[2] is None and reasons[4] == "In the pool: Max Member, the import's owner, was deactivated during the import"
