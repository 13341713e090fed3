"""Custom fields through capture: capture_lead, capture forms (admin picks, public form asks)."""
import re
from html import unescape
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import CaptureForm, Lead, TimelineEntry
from app.services import capture_forms as form_service, custom_fields as cf
from app.services.capture import OnDuplicate, capture_lead
from app.services.custom_fields import FieldSettings
from tests.conftest import Web
from tests.integration.test_capture_forms import editor_data, human


@pytest.fixture
def fields(app):
    return {
        "budget": cf.create_field(FieldSettings("Budget", kind="money")),
        "size": cf.create_field(FieldSettings("Team size", key="size", kind="choice", choices=["1-10", "11-50"])),
        "start": cf.create_field(FieldSettings("Start", kind="date")),
        "agree": cf.create_field(FieldSettings("Agree to terms", key="agree", kind="checkbox")),
    }


def test_capture_lead_stores_custom_values_on_a_new_lead_without_an_extra_entry(fields, stages):
    captured = capture_lead({"email": "ada@example.com", "custom": {"budget": "99.5", "size": "1-10"}}, via="API")
    assert cf.values_for([captured.lead.id])[captured.lead.id] == {"budget": Decimal("99.50"), "size": "1-10"}
    kinds = db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == captured.lead.id)).all()
    assert kinds == ["created"]


def test_a_resubmission_fills_empty_custom_fields_and_says_so_on_the_timeline(fields, stages):
    first = capture_lead({"email": "ada@example.com", "custom": {"budget": "100"}}, via="API")
    again = capture_lead({"email": "ADA@example.com", "custom": {"budget": "500", "size": "11-50"}}, via="web form")
    assert not again.created and again.lead.id == first.lead.id
    assert cf.values_for([first.lead.id])[first.lead.id] == {"budget": Decimal("100.00"), "size": "11-50"}
    entry = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "resubmitted")).one()
    assert entry.data["custom"] == {"Team size": [None, "11-50"]}
    capture_lead({"email": "ada@example.com", "custom": {"budget": "500"}}, via="import", on_duplicate=OnDuplicate.update)
    assert cf.values_for([first.lead.id])[first.lead.id]["budget"] == Decimal("500.00")


def test_a_bad_custom_value_saves_nothing(fields, stages):
    with pytest.raises(Exception) as refused:
        capture_lead({"email": "ada@example.com", "custom": {"size": "huge"}}, via="API")
    assert refused.value.field == "custom_size"
    assert db.session.scalar(select(Lead.id)) is None


def test_an_admin_picks_custom_fields_for_a_capture_form(as_admin, fields, stages):
    page = as_admin.get("/settings/forms/new").get_data(as_text=True)
    assert f'name="ask_cf_{fields["budget"].id}"' in page
    response = as_admin.post("/settings/forms", editor_data(**{f"ask_cf_{fields['size'].id}": "required",
                                                               f"ask_cf_{fields['agree'].id}": "optional"}))
    assert response.status_code == 302
    form = db.session.scalars(select(CaptureForm)).one()
    assert form.custom_fields == [{"field_id": fields["size"].id, "required": True},
                                  {"field_id": fields["agree"].id, "required": False}]
    edit = as_admin.get(f"/settings/forms/{form.id}").get_data(as_text=True)
    assert re.search(rf'name="ask_cf_{fields["size"].id}".*?<option selected value="required">', edit, re.S)
    assert 'name="custom_size"' in unescape(edit)  # the HTML snippet asks it too


@pytest.fixture
def capture_form(fields, stages):
    form = form_service.create_form(form_service.FormSettings(
        name="Demo request", fields={"email": "required"},
        custom_fields={fields["size"].id: "required", fields["start"].id: "optional",
                       fields["agree"].id: "optional"}))
    return form


def test_the_public_form_asks_validates_and_stores_custom_fields(app, capture_form, fields):
    prospect = Web(app.test_client())
    page = prospect.get("/f/demo-request").get_data(as_text=True)
    assert 'name="custom_size"' in page and 'type="date"' in page and "Start (optional)" in page
    refused = prospect.post("/f/demo-request", human(capture_form, email="ada@example.com", custom_start="soon"))
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "required" in re.search(r'id="custom_size-error">([^<]*)<', body).group(1)
    assert "YYYY-MM-DD" in re.search(r'id="custom_start-error">([^<]*)<', body).group(1)
    assert db.session.scalar(select(Lead.id)) is None
    sent = prospect.post("/f/demo-request", human(capture_form, email="ada@example.com", custom_size="11-50",
                                                  custom_start="2027-02-01", custom_agree="y"))
    assert sent.status_code == 303
    lead = db.session.scalars(select(Lead)).one()
    assert cf.values_for([lead.id])[lead.id] == {"size": "11-50", "start": date(2027, 2, 1), "agree": True}


def test_a_field_deleted_after_being_put_on_a_form_leaves_the_form_working(app, capture_form, fields, admin):
    cf.delete_field(fields["size"].id, admin.id)
    prospect = Web(app.test_client())
    assert 'name="custom_size"' not in prospect.get("/f/demo-request").get_data(as_text=True)
    assert prospect.post("/f/demo-request", human(capture_form, email="ada@example.com")).status_code == 303
