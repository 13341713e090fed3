"""Custom fields in the JSON API: representation, create, update, the listing and the document."""
from decimal import Decimal

import pytest

from app.api.openapi import document
from app.services import custom_fields as cf
from app.services.custom_fields import FieldSettings
from tests.integration.test_api import Api, entries, problem


@pytest.fixture
def fields(app):
    return {
        "budget": cf.create_field(FieldSettings("Budget", kind="money")),
        "plan": cf.create_field(FieldSettings("Plan", kind="choice", choices=["Basic", "Pro"], required=True)),
        "modules": cf.create_field(FieldSettings("Modules", kind="multi_choice", choices=["CRM", "Mail"])),
        "renewal": cf.create_field(FieldSettings("Renewal", kind="date")),
        "vip": cf.create_field(FieldSettings("VIP", kind="checkbox")),
    }


@pytest.fixture
def api(app, stages, fields):
    from app.services.api_keys import create_key
    return Api(app, create_key("Website")[1])


def test_a_lead_created_with_custom_fields_stores_and_returns_them(api, fields):
    response = api.post("/leads", {"email": "ada@example.com", "custom_fields": {
        "budget": 2500.5, "plan": "pro", "modules": ["Mail", "CRM"], "renewal": "2027-01-31", "vip": True}})
    assert response.status_code == 201
    body = response.get_json()
    assert body["custom_fields"] == {"budget": 2500.5, "plan": "Pro", "modules": ["CRM", "Mail"],
                                     "renewal": "2027-01-31", "vip": True}
    assert cf.values_for([body["id"]])[body["id"]]["budget"] == Decimal("2500.50")
    # The required-on-the-lead-form rule is the lead form's: the API may leave a field empty.
    other = api.post("/leads", {"email": "bo@example.com"}).get_json()
    assert other["custom_fields"] == {"budget": None, "plan": None, "modules": None, "renewal": None, "vip": False}


@pytest.mark.parametrize("custom, field, message", [
    ({"plan": "Gold"}, "custom_fields.plan", "is not one of the options"),
    ({"budget": "lots"}, "custom_fields.budget", "enter a number"),
    ({"renewal": "tomorrow"}, "custom_fields.renewal", "YYYY-MM-DD"),
    ({"nope": "x"}, "custom_fields.nope", "There is no custom field called"),
    ({"Bad Key": "x"}, "custom_fields", "is not a custom field key"),
    ({"budget": {"a": 1}}, "custom_fields.budget", "must be a string"),
])
def test_bad_custom_values_are_a_422_problem_naming_the_field(api, custom, field, message):
    response = api.post("/leads", {"email": "ada@example.com", "custom_fields": custom})
    body = problem(response, 422)
    [error] = body["errors"]
    assert error["field"] == field and message in error["message"]
    assert api.get("/leads").get_json()["data"] == []


def test_a_patch_changes_only_the_custom_fields_sent_with_one_timeline_entry(api, fields):
    lead = api.post("/leads", {"email": "ada@example.com", "custom_fields": {"plan": "Basic", "budget": 10}}).get_json()
    response = api.patch(f"/leads/{lead['id']}", {"job_title": "CTO", "custom_fields": {"plan": "Pro", "vip": True}})
    assert response.status_code == 200
    assert response.get_json()["custom_fields"] | {} == {"budget": 10, "plan": "Pro", "modules": None,
                                                         "renewal": None, "vip": True}
    [entry] = entries(lead["id"], "updated")
    assert entry.data["changes"] == {"job_title": [None, "CTO"]}
    assert entry.data["custom"] == {"Plan": ["Basic", "Pro"], "VIP": [None, "Yes"]}
    cleared = api.patch(f"/leads/{lead['id']}", {"custom_fields": {"budget": None}}).get_json()
    assert cleared["custom_fields"]["budget"] is None and cleared["custom_fields"]["plan"] == "Pro"
    refused = api.patch(f"/leads/{lead['id']}", {"job_title": "CEO", "custom_fields": {"plan": "Gold"}})
    assert problem(refused, 422)["errors"][0]["field"] == "custom_fields.plan"
    assert api.get(f"/leads/{lead['id']}").get_json()["job_title"] == "CTO"  # nothing of the patch was kept


def test_the_listing_and_the_definitions_endpoint_show_custom_fields(api, fields):
    for n in range(3):
        api.post("/leads", {"email": f"l{n}@example.com", "custom_fields": {"budget": n}})
    listed = api.get("/leads").get_json()["data"]
    assert [lead["custom_fields"]["budget"] for lead in listed] == [0, 1, 2]
    definitions = api.get("/custom-fields").get_json()["data"]
    assert [d["key"] for d in definitions] == ["budget", "plan", "modules", "renewal", "vip"]
    assert definitions[1] == {"key": "plan", "label": "Plan", "kind": "choice", "help_text": "", "required": True,
                              "choices": ["Basic", "Pro"]}


def test_the_document_describes_custom_fields_in_and_out():
    schemas = document()["components"]["schemas"]
    assert "custom_fields" in schemas["LeadCreate"]["properties"]
    assert "custom_fields" in schemas["LeadUpdate"]["properties"]
    assert "custom_fields" in schemas["Lead"]["required"]
    assert "/custom-fields" in document()["paths"]
