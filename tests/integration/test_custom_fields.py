"""Custom fields: definitions, typed values, and data kept on the timeline when a field or option goes."""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import LeadFieldChoice, LeadFieldValue, TimelineEntry
from app.services import ServiceError, atomic
from app.services import custom_fields as cf
from app.services.custom_fields import ConfirmNeeded, FieldSettings


@pytest.fixture
def fields(app):
    return {
        "budget": cf.create_field(FieldSettings("Budget", kind="money", show_on_card=True)),
        "seats": cf.create_field(FieldSettings("Seats", kind="number")),
        "renewal": cf.create_field(FieldSettings("Renewal date", key="renewal", kind="date")),
        "plan": cf.create_field(FieldSettings("Plan", kind="choice", choices=["Basic", "Pro", "Enterprise"])),
        "modules": cf.create_field(FieldSettings("Modules", kind="multi_choice", choices=["CRM", "Mail", "Chat"])),
        "vip": cf.create_field(FieldSettings("VIP", kind="checkbox", required=True)),
        "site": cf.create_field(FieldSettings("Website", key="site", kind="url")),
        "about": cf.create_field(FieldSettings("About", kind="long_text")),
    }


def save(lead, raw, *, partial=True, actor=None):
    cleaned = cf.check_values(raw, partial=partial)
    with atomic():
        return cf.set_values(lead, cleaned, actor.id if actor else None)


def test_values_are_checked_stored_typed_and_read_back_for_many_leads(fields, make_lead):
    a, b, c = make_lead(), make_lead(email="b@example.com"), make_lead(email="c@example.com")
    save(a, {"budget": "2,500.5", "seats": "12", "renewal": "2027-01-31", "plan": "pro",
             "modules": "Chat; CRM", "vip": "yes", "site": "example.com", "about": "Long story"})
    save(b, {"seats": 3.25, "modules": ["Mail"]})
    values = cf.values_for([a.id, b.id, c.id])
    assert values[a.id] == {"budget": Decimal("2500.50"), "seats": Decimal(12), "renewal": date(2027, 1, 31),
                            "plan": "Pro", "modules": ["CRM", "Chat"], "vip": True,
                            "site": "https://example.com", "about": "Long story"}
    assert values[b.id] == {"seats": Decimal("3.25"), "modules": ["Mail"]}
    assert values[c.id] == {}
    row = db.session.get(LeadFieldValue, (a.id, fields["budget"].id))
    assert row.value_number == Decimal("2500.50") and row.value_text is None


@pytest.mark.parametrize("key, raw, message", [
    ("budget", "lots", "Budget: enter a number"),
    ("budget", "-5", "Budget cannot be negative"),
    ("seats", "1e40", "Seats is too large"),
    ("renewal", "31/01/2027", "YYYY-MM-DD"),
    ("plan", "Gold", "is not one of the options (Basic, Pro, Enterprise)"),
    ("modules", "CRM, Fax", "is not one of the options"),
    ("vip", "maybe", "answer yes or no"),
    ("site", "not a url", "enter a web address"),
    ("nope", "x", "There is no custom field called"),
])
def test_bad_values_are_refused_naming_the_field(fields, key, raw, message):
    with pytest.raises(ServiceError) as refused:
        cf.check_values({key: raw}, partial=True)
    assert message in refused.value.message
    assert refused.value.field == f"custom_{key}"


def test_required_fields_are_required_only_when_asked(fields):
    with pytest.raises(ServiceError) as refused:
        cf.check_values({}, partial=False, required=True)
    assert refused.value.field == "custom_vip"
    assert cf.check_values({}, partial=False)["vip"] is None


def test_a_change_writes_one_timeline_entry_with_old_and_new_values(fields, make_lead, admin):
    lead = make_lead()
    save(lead, {"plan": "Basic", "seats": "5"}, actor=admin)
    changes = save(lead, {"plan": "Pro", "seats": "5"}, actor=admin)
    assert changes == {"Plan": ["Basic", "Pro"]}
    entries = db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                             TimelineEntry.kind == "updated")
                                 .order_by(TimelineEntry.id)).all()
    assert [e.data["custom"] for e in entries] == [{"Plan": [None, "Basic"], "Seats": [None, "5"]},
                                                   {"Plan": ["Basic", "Pro"]}]


def test_keys_must_not_clash_with_built_in_fields_or_each_other(fields):
    for key in ("email", "stage_id", "tags", "score", "custom_fields"):
        with pytest.raises(ServiceError) as refused:
            cf.create_field(FieldSettings("Anything", key=key))
        assert refused.value.field == "key" and "built-in" in refused.value.message
    with pytest.raises(ServiceError) as refused:
        cf.create_field(FieldSettings("Budget again", key="budget"))
    assert refused.value.field == "key" and "already uses" in refused.value.message
    with pytest.raises(ServiceError) as refused:
        cf.create_field(FieldSettings("Bad", key="Bad Key!"))
    assert refused.value.field == "key"


def test_the_number_of_fields_and_options_is_limited(app):
    with pytest.raises(ServiceError) as refused:
        cf.create_field(FieldSettings("Many", kind="choice", choices=[f"o{i}" for i in range(cf.MAX_CHOICES + 1)]))
    assert refused.value.field == "choices" and "at most 50 options" in refused.value.message
    for i in range(cf.MAX_FIELDS):
        cf.create_field(FieldSettings(f"Field {i}"))
    with pytest.raises(ServiceError) as refused:
        cf.create_field(FieldSettings("One too many"))
    assert "at most 100 custom fields" in refused.value.message


def test_renaming_a_field_keeps_its_values(fields, make_lead, admin):
    lead = make_lead()
    save(lead, {"plan": "Pro"})
    cf.update_field(fields["plan"].id, FieldSettings("Subscription", key="subscription",
                                                     choices=["Basic", "Pro", "Enterprise"]), admin.id)
    assert cf.values_for([lead.id])[lead.id] == {"subscription": "Pro"}


def test_deleting_a_field_moves_each_value_to_its_leads_timeline(fields, make_lead, admin):
    a, b, c = make_lead(), make_lead(email="b@example.com"), make_lead(email="c@example.com")
    save(a, {"budget": "100", "modules": "CRM; Mail", "vip": "no"})
    save(b, {"budget": "2500.5", "vip": "yes"})
    for key in ("budget", "modules", "vip"):
        cf.delete_field(fields[key].id, admin.id)
    entries = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "field_removed")
                                 .order_by(TimelineEntry.lead_id, TimelineEntry.id)).all()
    got = sorted((e.lead_id, e.data["field"], e.data["value"], e.data["reason"]) for e in entries)
    assert got == sorted([(a.id, "Budget", "100", "field deleted"), (b.id, "Budget", "2500.5", "field deleted"),
                          (a.id, "Modules", "CRM, Mail", "field deleted"),
                          (b.id, "VIP", "Yes", "field deleted")])
    assert all(e.actor_id == admin.id for e in entries)
    assert not db.session.scalars(select(LeadFieldValue).where(LeadFieldValue.lead_id == c.id)).all()
    assert cf.values_for([a.id, b.id]) == {a.id: {}, b.id: {}}


def test_removing_an_option_asks_first_then_keeps_the_value_on_the_timeline(fields, make_lead, admin):
    a, b = make_lead(), make_lead(email="b@example.com")
    save(a, {"plan": "Basic", "modules": "CRM; Chat"})
    save(b, {"plan": "Pro", "modules": "Mail"})
    with pytest.raises(ConfirmNeeded) as asked:
        cf.update_field(fields["plan"].id, FieldSettings("Plan", choices=["Pro", "Enterprise"]), admin.id)
    assert asked.value.count == 1 and "“Basic”" in asked.value.message
    assert cf.values_for([a.id])[a.id]["plan"] == "Basic"  # nothing changed
    cf.update_field(fields["plan"].id, FieldSettings("Plan", choices=["Pro", "Enterprise"]), admin.id,
                    confirm_removal=True)
    cf.update_field(fields["modules"].id, FieldSettings("Modules", choices=["crm", "Mail"]), admin.id,
                    confirm_removal=True)
    assert cf.values_for([a.id, b.id]) == {a.id: {"modules": ["crm"]}, b.id: {"plan": "Pro", "modules": ["Mail"]}}
    removed = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "field_removed")).all()
    assert sorted((e.lead_id, e.data["field"], e.data["value"]) for e in removed) == [
        (a.id, "Modules", "Chat"), (a.id, "Plan", "Basic")]
    assert db.session.scalar(select(LeadFieldChoice.choice).where(LeadFieldChoice.lead_id == a.id)) == "crm"


def test_resubmission_fills_only_empty_fields(fields, make_lead):
    lead = make_lead()
    save(lead, {"plan": "Basic"})
    with atomic():
        changes = cf.set_values(lead, cf.check_values({"plan": "Pro", "seats": "4"}, partial=True), None,
                                fill_only=True)
    assert changes == {"Seats": [None, "4"]}
    assert cf.values_for([lead.id])[lead.id] == {"plan": "Basic", "seats": Decimal(4)}


def test_a_merge_fills_the_survivors_empty_fields_and_its_undo_gives_the_loser_its_values_back(fields, make_lead,
                                                                                            admin):
    from app.services.merge import merge_leads, undo_merge
    survivor, loser = make_lead(email="a@example.com"), make_lead(email="b@example.com")
    save(survivor, {"plan": "Basic"})
    save(loser, {"plan": "Pro", "seats": "7", "modules": "Mail"})
    loser_id = loser.id
    merge = merge_leads(survivor.id, loser_id, {}, admin.id)
    assert cf.values_for([survivor.id])[survivor.id] == {"plan": "Basic", "seats": Decimal(7), "modules": ["Mail"]}
    merged = db.session.scalars(select(TimelineEntry).where(TimelineEntry.lead_id == survivor.id,
                                                            TimelineEntry.kind == "merged")).one()
    assert merged.data["not_kept"][-1] == ["Plan", "Pro"]  # the other's value the survivor's own replaced
    undo_merge(merge.id, admin.id)
    restored = db.session.scalars(select(TimelineEntry.lead_id).where(TimelineEntry.kind == "merge_undone",
                                                                      TimelineEntry.lead_id != survivor.id)).one()
    assert cf.values_for([restored])[restored] == {"plan": "Pro", "seats": Decimal(7), "modules": ["Mail"]}
