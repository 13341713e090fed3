"""A lead's country (ISO 3166-1 alpha-2) and region, through every way in and out: the lead form,
the lead page, the API and its document, CSV import and export, and capture forms. A country is
typed as a name or a code and stored as two letters; a lead captured with only a phone gets the
phone's country."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Lead
from app.services import ServiceError
from app.services import capture_forms as form_service
from app.services.capture import capture_lead
from app.services.countries import country_from_phone, normalize_country
from app.services.imports import run_import
from tests.integration.test_api import Api
from tests.integration.test_capture_forms import human
from tests.integration.test_import import csv_bytes, queued, read_csv


def lead_by_email(email: str) -> Lead:
    db.session.expire_all()
    return db.session.scalar(select(Lead).where(Lead.email == email))


@pytest.mark.parametrize("typed, code", [
    ("DE", "DE"), ("de", "DE"), (" Germany ", "DE"), ("germany", "DE"), ("DEU", "DE"),
    ("Côte d'Ivoire", "CI"), ("cote d ivoire", "CI"), ("Ivory Coast", "CI"), ("UK", "GB"),
    ("United Kingdom", "GB"), ("United States", "US"), ("usa", "US"), ("Türkiye", "TR"), ("Turkey", "TR"),
    ("Russian Federation", "RU"), ("Bosnia & Herzegovina", "BA"), ("", None), ("   ", None), (None, None),
])
def test_a_country_is_stored_as_its_two_letter_code_however_it_is_written(typed, code):
    assert normalize_country(typed) == code


@pytest.mark.parametrize("typed", ["Atlantis", "XX", "EU", "Germany!!x", "x" * 300])
def test_a_country_that_is_none_is_refused_naming_the_field(typed):
    with pytest.raises(ServiceError) as refused:
        normalize_country(typed)
    assert refused.value.field == "country" and "not a country we know" in refused.value.message


def test_a_phones_country_comes_from_its_number():
    assert country_from_phone("+493012345678") == "DE"
    assert country_from_phone("+14165550123") == "CA"  # Toronto: +1 but not the US
    assert country_from_phone("+14155550123") == "US"
    assert country_from_phone("+80012345678") is None  # international freephone: no country
    assert country_from_phone(None) is None


# --- manual entry and the lead page ---------------------------------------------------------------


def test_the_lead_form_takes_a_country_name_and_a_region_and_the_page_shows_them(as_member, stages):
    response = as_member.post("/leads/new", {"first_name": "Ada", "email": "ada@example.com",
                                             "country": "germany", "region": "Bavaria"})
    assert response.status_code == 302
    lead = lead_by_email("ada@example.com")
    assert (lead.country, lead.region) == ("DE", "Bavaria")
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "<dt>Country</dt><dd>Germany, Bavaria</dd>" in page
    edit = as_member.get(f"/leads/{lead.id}/edit").get_data(as_text=True)
    assert re.search(r'name="country"[^>]*value="Germany"', edit)
    assert 'list="country-names"' in edit and '<option value="Germany">DE · on your leads</option>' in edit


def test_a_bad_country_is_refused_beside_the_field_and_nothing_is_saved(as_member, stages):
    response = as_member.post("/leads/new", {"first_name": "Ada", "email": "ada@example.com", "country": "Atlantis"},
                              htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert re.search(r'id="country-error">That is not a country we know', body)
    assert 'aria-invalid="true"' in body
    assert lead_by_email("ada@example.com") is None


def test_editing_the_country_records_the_change_on_the_timeline(as_member, make_lead):
    from app.models import TimelineEntry
    lead = make_lead(first_name="Ada", email="ada@example.com", country="FR")
    response = as_member.post(f"/leads/{lead.id}/edit", {"first_name": "Ada", "last_name": "Lead", "email": "ada@example.com",
                                                        "country": "Austria", "region": "Tyrol",
                                                        "version": str(lead.version)})
    assert response.status_code == 302
    assert (lead_by_email("ada@example.com").country, lead_by_email("ada@example.com").region) == ("AT", "Tyrol")
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                          TimelineEntry.kind == "updated"))
    assert entry.data["changes"] == {"country": ["FR", "AT"], "region": [None, "Tyrol"]}


def test_a_captured_lead_without_a_country_gets_its_phones(app, stages):
    captured = capture_lead({"first_name": "Hans", "phone": "+49 30 1234567"}, via="manual entry")
    assert captured.lead.country == "DE"
    given = capture_lead({"first_name": "Jo", "phone": "+49 30 7654321", "country": "AT"}, via="manual entry")
    assert given.lead.country == "AT"
    local = capture_lead({"first_name": "Sam", "phone": "(415) 555-0199"}, via="manual entry", region="US")
    assert local.lead.country == "US"


# --- the API --------------------------------------------------------------------------------------


@pytest.fixture
def api(app, stages):
    from app.services.api_keys import create_key
    return Api(app, create_key("Website")[1])


def test_the_api_takes_a_country_name_returns_the_code_and_patches_region(api):
    created = api.post("/leads", {"email": "ada@example.com", "country": "Germany", "region": "Berlin"})
    assert created.status_code == 201
    assert (created.get_json()["country"], created.get_json()["region"]) == ("DE", "Berlin")
    lead_id = created.get_json()["id"]
    patched = api.patch(f"/leads/{lead_id}", {"country": "fr", "region": None})
    assert patched.status_code == 200 and (patched.get_json()["country"], patched.get_json()["region"]) == ("FR", None)
    assert (lead_by_email("ada@example.com").country, lead_by_email("ada@example.com").region) == ("FR", None)


def test_the_api_defaults_the_country_from_the_phone(api):
    created = api.post("/leads", {"first_name": "Luigi", "phone": "+39 06 1234 5678"})
    assert created.get_json()["country"] == "IT"


def test_the_api_refuses_an_unknown_country_as_a_problem_naming_the_field(api):
    response = api.post("/leads", {"email": "ada@example.com", "country": "Atlantis"})
    assert response.status_code in (400, 422)
    problem = response.get_json()
    assert any(e["field"] == "country" and "not a country we know" in e["message"] for e in problem["errors"])
    assert lead_by_email("ada@example.com") is None


def test_the_openapi_document_describes_country_and_region(api):
    document = api.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "ISO 3166-1" in schemas["LeadCreate"]["properties"]["country"]["anyOf"][0]["description"] \
        or "ISO 3166-1" in schemas["LeadCreate"]["properties"]["country"].get("description", "")
    assert {"country", "region"} <= set(schemas["Lead"]["required"])


# --- CSV import and export ------------------------------------------------------------------------


def test_an_import_maps_country_and_region_columns_and_notes_a_bad_country(stages):
    data = csv_bytes([["First Name", "Email", "Mailing Country", "Mailing State/Province", "Phone"],
                      ["Ada", "ada@example.com", "Westeros", "", ""],
                      ["Bea", "bea@example.com", "Canada", "Ontario", ""],
                      ["Cy", "cy@example.com", "", "", "+44 20 7946 0958"]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.rejected_count) == (3, 0)
    assert (lead_by_email("bea@example.com").country, lead_by_email("bea@example.com").region) == ("CA", "Ontario")
    assert lead_by_email("cy@example.com").country == "GB"
    ada = lead_by_email("ada@example.com")
    assert ada.country is None  # the row still names a lead: it is created without the country, noted
    from tests.integration.test_import_cells import notes_of
    assert notes_of(ada) == ["Mailing Country “Westeros” could not be read as a country; kept on the lead's timeline"]


def test_a_strict_import_refuses_a_bad_country(stages):
    data = csv_bytes([["First Name", "Email", "Mailing Country"],
                      ["Ada", "ada@example.com", "Westeros"], ["Bea", "bea@example.com", "Canada"]])
    imp = run_import(queued(data, strict=True).id)
    assert (imp.created_count, imp.rejected_count) == (1, 1)
    assert lead_by_email("ada@example.com") is None
    from app.models import ImportRow
    reason = db.session.scalar(select(ImportRow.reason).where(ImportRow.outcome == "rejected"))
    assert reason.startswith("Mailing Country: That is not a country we know")


def test_the_export_has_country_and_region(as_member, make_lead):
    make_lead(first_name="Ada", country="DE", region="Bavaria")
    rows = read_csv(as_member.get("/leads/export.csv"))
    header = rows[0]
    assert rows[1][header.index("Country")] == "DE" and rows[1][header.index("Region")] == "Bavaria"


# --- capture forms --------------------------------------------------------------------------------


@pytest.fixture
def territory_form(app, stages):
    return form_service.create_form(form_service.FormSettings(
        name="Contact us", fields={"first_name": "optional", "email": "required", "phone": "optional",
                                   "country": "optional", "region": "optional"},
        default_source="Website", default_stage_id=None, thank_you_message="Thanks."))


def test_a_capture_form_asks_country_and_region_and_stores_the_code(app, territory_form):
    from tests.conftest import Web
    prospect = Web(app.test_client())
    page = prospect.get("/f/contact-us").get_data(as_text=True)
    assert 'autocomplete="country-name"' in page and 'autocomplete="address-level1"' in page
    prospect.post("/f/contact-us", human(territory_form, email="ada@example.com", country="Spain", region="Madrid"))
    assert (lead_by_email("ada@example.com").country, lead_by_email("ada@example.com").region) == ("ES", "Madrid")
    refused = prospect.post("/f/contact-us", human(territory_form, email="bo@example.com", country="Narnia"))
    assert refused.status_code == 422
    assert "That is not a country we know" in refused.get_data(as_text=True)
    assert lead_by_email("bo@example.com") is None
    prospect.post("/f/contact-us", human(territory_form, email="cy@example.com", phone="+34 912 345 678"))
    assert lead_by_email("cy@example.com").country == "ES"


def test_admins_can_ask_country_and_region_on_a_capture_form(as_admin, stages):
    from tests.integration.test_capture_forms import editor_data
    response = as_admin.post("/settings/forms", editor_data(ask_country="required", ask_region="optional"))
    assert response.status_code in (302, 204)
    form = form_service.list_forms()[0]
    assert {"name": "country", "required": True} in form.fields
    assert {"name": "region", "required": False} in form.fields


# --- the country picker: the team's country first, then those on its leads, then the rest by name ----


def test_the_picker_puts_the_team_s_country_then_those_in_use_before_the_rest_by_name():
    from app.services.countries import country_choices, ordered
    picked = ordered(["GB"], ["FR", "DE", "XX", None, "GB"])
    assert [(s.code, s.why) for s in picked[:3]] == [
        ("GB", "your team's country"), ("FR", "on your leads"), ("DE", "on your leads")]
    rest = picked[3:]
    assert all(s.why == "" for s in rest) and [s.code for s in rest[:2]] == ["AF", "AX"]  # Afghanistan, Åland
    assert [s.code for s in rest] == [code for code, _ in country_choices() if code not in {"GB", "FR", "DE"}]
    assert sorted(s.code for s in picked) == sorted(code for code, _ in country_choices())  # each once


def _options(page: str, list_id: str = "country-names") -> list[tuple[str, str]]:
    datalist = re.search(rf'<datalist id="{list_id}">(.*?)</datalist>', page, re.S).group(1)
    return [(html.unescape(value), html.unescape(label))
            for value, label in re.findall(r'<option value="([^"]*)">([^<]*)</option>', datalist)]


def test_every_country_box_suggests_the_team_s_country_first_then_those_of_its_leads(
        as_admin, admin, make_lead, stages):
    make_lead(first_name="Gerd", country="Germany")
    make_lead(first_name="Fran", country="FR")
    new = _options(as_admin.get("/leads/new").get_data(as_text=True))
    assert new[:4] == [("United States", "US · your team's country"), ("France", "FR · on your leads"),
                       ("Germany", "DE · on your leads"), ("Afghanistan", "AF")]
    assert len(new) == len({value for value, _ in new}) > 240  # every country, once
    tried = _options(as_admin.get("/settings/assignment/try").get_data(as_text=True), "try-country-names")
    assert tried[:3] == new[:3]
    assert re.search(r'name="country"[^>]*list="try-country-names"|list="try-country-names"[^>]*name="country"',
                     as_admin.get("/settings/assignment/try").get_data(as_text=True))

    # A stranger's form offers the team's country first, and says nothing of where the leads are.
    form = form_service.create_form(form_service.FormSettings(name="Contact", fields={"email": "required",
                                                                                      "country": "optional"}))
    db.session.commit()
    public = as_admin.get(f"/f/{form.slug}").get_data(as_text=True)
    assert re.search(r'<input[^>]*list="country-names"', public)
    offered = _options(public)
    assert offered[0] == ("United States", "US · your team's country") and offered[1] == ("Afghanistan", "AF")
    assert "on your leads" not in public

    # The pool's country filter: the countries leads are in, the team's first.
    make_lead(first_name="Uma", country="US")
    pool = as_admin.get("/leads").get_data(as_text=True)
    select = re.search(r'<select id="f-country".*?</select>', pool, re.S).group(0)
    assert re.findall(r'<option value="(\w+)"', select) == ["US", "FR", "DE"]
