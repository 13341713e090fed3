"""Custom fields through the pages: the settings editor (admins only), the lead form and page."""
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CustomField, TimelineEntry
from app.services import custom_fields as cf
from app.services.custom_fields import FieldSettings


@pytest.fixture
def fields(app):
    return {
        "budget": cf.create_field(FieldSettings("Budget", kind="money", help_text="Yearly, in dollars")),
        "plan": cf.create_field(FieldSettings("Plan", kind="choice", choices=["Basic", "Pro"], required=True)),
        "modules": cf.create_field(FieldSettings("Modules", kind="multi_choice", choices=["CRM", "Mail"])),
        "renewal": cf.create_field(FieldSettings("Renewal", kind="date")),
        "vip": cf.create_field(FieldSettings("VIP", kind="checkbox")),
    }


def error_beside(body: str, name: str) -> str:
    found = re.search(rf'id="{name}-error">([^<]*)<', body)
    return found.group(1) if found else ""


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method, url", [("get", "/settings/fields"), ("post", "/settings/fields"),
                                         ("get", "/settings/fields/1/edit"), ("post", "/settings/fields/1/delete")])
def test_members_are_refused_the_field_settings(as_member, method, url):
    response = getattr(as_member, method)(url, **({"data": {"label": "Sneaky"}} if method == "post" else {}))
    assert response.status_code == 403
    assert db.session.scalar(select(CustomField.id)) is None


def test_an_admin_adds_a_field_and_sees_it_listed(as_admin):
    empty = as_admin.get("/settings/fields").get_data(as_text=True)
    assert "No custom fields yet" in empty
    response = as_admin.post("/settings/fields", {"label": "Industry", "kind": "choice",
                                                  "choices": "Retail\nBanking\n\n", "show_on_card": "y"})
    assert response.status_code == 302
    custom = db.session.scalars(select(CustomField)).one()
    assert (custom.key, custom.kind, custom.choices, custom.show_on_card, custom.required) == (
        "industry", "choice", ["Retail", "Banking"], True, False)
    page = as_admin.get("/settings/fields").get_data(as_text=True)
    assert "Industry" in page and "<code class=\"field-key\">industry</code>" in page


@pytest.mark.parametrize("data, name, message", [
    ({"label": "Mail", "key": "email", "kind": "text"}, "key", "name of a built-in lead field"),
    ({"label": "Bad", "key": "Not OK", "kind": "text"}, "key", "lower-case letters"),
    ({"label": "", "kind": "text"}, "label", "Give the field a label"),
    ({"label": "Pick", "kind": "choice", "choices": ""}, "choices", "List the options"),
    ({"label": "Pick", "kind": "choice", "choices": "A\na"}, "choices", "listed twice"),
    ({"label": "Pick", "kind": "choice", "choices": "A, B"}, "choices", "cannot contain a comma"),
])
def test_bad_field_settings_are_shown_beside_the_control(as_admin, data, name, message):
    response = as_admin.post("/settings/fields", data, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert message in error_beside(body, name)
    assert f'aria-describedby="{name}-hint {name}-error"' in body or f'aria-describedby="{name}-error"' in body
    assert db.session.scalar(select(CustomField.id)) is None


def test_a_key_already_in_use_is_refused_beside_the_key(as_admin, fields):
    response = as_admin.post("/settings/fields", {"label": "Other budget", "key": "budget", "kind": "text"}, htmx=True)
    assert response.status_code == 422
    assert "Another field already uses the key “budget”" in error_beside(response.get_data(as_text=True), "key")


def test_renaming_a_field_keeps_the_values_and_removing_an_option_asks_first(as_admin, admin, fields, make_lead):
    lead = make_lead()
    as_admin.post(f"/leads/{lead.id}/edit", {"first_name": "Lena", "version": lead.version,
                                              "custom_plan": "Basic", "custom_budget": "10"})
    assert cf.values_for([lead.id])[lead.id] == {"plan": "Basic", "budget": Decimal("10.00")}
    plan = fields["plan"]
    response = as_admin.post(f"/settings/fields/{plan.id}", {"label": "Tier", "key": "tier", "choices": "Pro"},
                             htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "1 lead holds “Basic”" in error_beside(body, "confirm_removal")
    assert 'name="confirm_removal"' in body
    db.session.expire_all()
    assert db.session.get(CustomField, plan.id).label == "Plan"  # nothing saved
    response = as_admin.post(f"/settings/fields/{plan.id}", {"label": "Tier", "key": "tier", "choices": "Pro",
                                                             "confirm_removal": "y"})
    assert response.status_code == 302
    assert cf.values_for([lead.id])[lead.id] == {"budget": Decimal("10.00")}
    entry = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "field_removed")).one()
    assert (entry.lead_id, entry.data["value"], entry.data["reason"]) == (lead.id, "Basic", "option removed")
    page = as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "An option of Plan was removed; its value here was <q>Basic</q>" in page


def test_deleting_a_field_asks_first_and_keeps_the_value_on_the_timeline(as_admin, fields, make_lead):
    lead = make_lead()
    as_admin.post(f"/leads/{lead.id}/edit", {"first_name": "Lena", "version": lead.version, "custom_plan": "Pro",
                                              "custom_budget": "2500"})
    budget_id = fields["budget"].id
    ask = as_admin.get(f"/settings/fields/{budget_id}/delete").get_data(as_text=True)
    assert "1 lead has a value in this field" in ask
    assert as_admin.post(f"/settings/fields/{budget_id}/delete").status_code == 302
    assert db.session.get(CustomField, budget_id) is None
    page = as_admin.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "The field Budget was deleted; its value here was <q>2500" in page


def test_up_and_down_reorder_the_fields(as_admin, fields):
    response = as_admin.post(f"/settings/fields/{fields['plan'].id}/move", {"direction": "up"}, htmx=True)
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)
    assert [f.key for f in cf.active_fields()][:2] == ["plan", "budget"]


# --- the lead form and page -------------------------------------------------------------------


def test_the_new_lead_form_asks_each_custom_field_and_stores_the_values(as_member, fields, stages):
    form = as_member.get("/leads/new").get_data(as_text=True)
    assert 'name="custom_budget"' in form and "Yearly, in dollars" in form and 'type="date"' in form
    response = as_member.post("/leads/new", {"first_name": "Ada", "custom_budget": "1,200.5", "custom_plan": "Pro",
                                             "custom_modules": ["CRM", "Mail"], "custom_renewal": "2027-03-01",
                                             "custom_vip": "y"})
    assert response.status_code == 302
    lead_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    assert cf.values_for([lead_id])[lead_id] == {"budget": Decimal("1200.50"), "plan": "Pro",
                                                 "modules": ["CRM", "Mail"], "renewal": date(2027, 3, 1), "vip": True}
    page = as_member.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert "<dt>Budget</dt>" in page and "$1,200.50" in page and "CRM, Mail" in page


def test_a_required_custom_field_and_bad_values_are_refused_beside_their_fields(as_member, fields, stages):
    response = as_member.post("/leads/new", {"first_name": "Ada", "custom_budget": "lots",
                                             "custom_renewal": "next week"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Fill in Plan: it is required." in error_beside(body, "custom_plan")
    assert "Budget: enter a number" in error_beside(body, "custom_budget")
    assert "YYYY-MM-DD" in error_beside(body, "custom_renewal")
    assert 'value="lots"' in body  # what was typed stays


def test_editing_custom_fields_records_one_entry_with_built_in_and_custom_changes(as_member, fields, make_lead,
                                                                                  member):
    lead = make_lead(email="ada@example.com")
    form = as_member.get(f"/leads/{lead.id}/edit").get_data(as_text=True)
    assert 'name="custom_plan"' in form
    response = as_member.post(f"/leads/{lead.id}/edit", {
        "first_name": "Ada", "last_name": "Lead", "email": "ada@example.com", "version": lead.version, "custom_plan": "Basic",
        "custom_modules": "Mail"})
    assert response.status_code == 302
    entry = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "updated")).one()
    assert entry.data["changes"] == {"first_name": ["Lena", "Ada"]}
    assert entry.data["custom"] == {"Plan": [None, "Basic"], "Modules": [None, "Mail"]}
    again = as_member.get(f"/leads/{lead.id}/edit").get_data(as_text=True)
    assert re.search(r'<option selected value="Basic">|<option value="Basic" selected', again)
    assert re.search(r'name="custom_modules" value="Mail"\s+checked', again)
    # Unticking and clearing removes the values, in a second entry.
    as_member.post(f"/leads/{lead.id}/edit", {"first_name": "Ada", "last_name": "Lead", "email": "ada@example.com",
                                              "version": lead.version, "custom_plan": "Pro"})
    assert cf.values_for([lead.id])[lead.id] == {"plan": "Pro"}


# --- board cards ------------------------------------------------------------------------------


def test_board_cards_show_the_on_card_fields_read_in_one_batch(as_member, stages, make_lead, count_queries):
    budget = cf.create_field(FieldSettings("Budget", kind="money", show_on_card=True))
    cf.create_field(FieldSettings("Secret", kind="text"))
    leads = [make_lead(email=f"l{n}@example.com") for n in range(3)]
    from app.services import atomic
    for n, lead in enumerate(leads):
        with atomic():
            cf.set_values(lead, cf.check_values({"budget": str(100 * (n + 1)), "secret": "hush"}, partial=True), None)
    with count_queries() as few:
        body = as_member.get("/board").get_data(as_text=True)
    assert body.count('<dl class="card-fields"><dt>Budget</dt><dd>$') == 3 and "$300" in body
    assert "hush" not in body  # not shown on cards
    for n in range(20):
        lead = make_lead(email=f"more{n}@example.com")
        with atomic():
            cf.set_values(lead, cf.check_values({"budget": "5"}, partial=True), None)
    with count_queries() as more:
        as_member.get("/board")
    assert more.count == few.count  # the values of every card come in one query
    cf.update_field(budget.id, FieldSettings("Budget", kind="money", show_on_card=False), None)
    assert 'class="card-fields"' not in as_member.get("/board").get_data(as_text=True)
