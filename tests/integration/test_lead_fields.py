"""A lead's street, city, postal code, website and description, and a business with no person as a
lead (issue 15 §1), through every way in and out: the lead form and page, the API and its document,
CSV import (German headers, a multi-line cell, a bad website noted not fatal) and export, quick add,
and the pool's search; and the expected close date the forecast reads, the same way."""
from __future__ import annotations

import html
import json
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ImportRow, Lead, TimelineEntry
from app.services import ServiceError, search
from app.services.capture import capture_lead
from app.services.imports import run_import
from tests.integration.test_api import Api
from tests.integration.test_board_quick_add import add as quick_add
from tests.integration.test_import import csv_bytes, queued, read_csv
from tests.integration.test_import_cells import notes_of

NOTHING = "Give the lead a name, a company, an email address or a phone number."


def leads_of(**where) -> list[Lead]:
    db.session.expire_all()
    query = select(Lead).order_by(Lead.id)
    for name, value in where.items():
        query = query.where(getattr(Lead, name) == value)
    return list(db.session.scalars(query))


def lead_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Lead))


# --- the lead form and page -------------------------------------------------------------------------


def test_the_lead_form_takes_the_address_website_and_description_and_the_page_shows_them(as_member, stages):
    response = as_member.post("/leads/new", {
        "first_name": "Ada", "email": "ada@example.com", "street": "Hauptstraße 5\r\nHinterhaus",
        "city": "Berlin", "postal_code": "10115", "country": "Germany", "website": " acme.com ",
        "description": "Met at the fair.\r\n\r\nWants a demo in May."})
    assert response.status_code == 302
    [lead] = leads_of(email="ada@example.com")
    assert (lead.street, lead.city, lead.postal_code, lead.country) == ("Hauptstraße 5\r\nHinterhaus", "Berlin",
                                                                       "10115", "DE")
    assert lead.website == "https://acme.com"
    assert lead.description == "Met at the fair.\r\n\r\nWants a demo in May."  # kept as sent
    page = html.unescape(as_member.get(f"/leads/{lead.id}").get_data(as_text=True))
    assert '<dd class="pre-wrap lead-address">Hauptstraße 5\r\nHinterhaus\n10115 Berlin</dd>' in page
    assert '<a href="https://acme.com" rel="noopener noreferrer" target="_blank">https://acme.com</a>' in page
    assert '<dd class="pre-wrap lead-description">Met at the fair.\r\n\r\nWants a demo in May.</dd>' in page
    edit = html.unescape(as_member.get(f"/leads/{lead.id}/edit").get_data(as_text=True))
    assert re.search(r'<textarea[^>]*name="street"[^>]*>\s*Hauptstraße 5\r\nHinterhaus</textarea>', edit)
    assert re.search(r'name="website"[^>]*value="https://acme.com"', edit)
    assert re.search(r'<label for="description">Description</label>', edit)


def test_editing_the_new_fields_records_them_on_the_timeline(as_member, make_lead):
    lead = make_lead(first_name="Ada", email="ada@example.com", city="Bonn")
    response = as_member.post(f"/leads/{lead.id}/edit", {
        "first_name": "Ada", "last_name": "Lead", "email": "ada@example.com", "city": "Köln", "postal_code": "50667",
        "website": "https://www.acme.de/kontakt", "description": "Line one\nLine two", "version": str(lead.version)})
    assert response.status_code == 302
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                          TimelineEntry.kind == "updated"))
    assert entry.data["changes"] == {"city": ["Bonn", "Köln"], "postal_code": [None, "50667"],
                                     "website": [None, "https://www.acme.de/kontakt"],
                                     "description": [None, "Line one\nLine two"]}


def test_a_website_that_is_not_a_web_address_is_refused_beside_the_field(as_member, stages):
    response = as_member.post("/leads/new", {"company": "Acme", "website": "ada@acme.com"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert re.search(r'id="website-error">Enter the website as a web address, e.g. acme.com', body)
    assert re.search(r'name="website"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*name="website"', body)
    assert lead_count() == 0


def test_a_business_with_no_person_is_a_lead_and_nothing_at_all_is_refused_clearly(as_member, stages):
    response = as_member.post("/leads/new", {"company": "Acme GmbH", "city": "Berlin"})
    assert response.status_code == 302
    [lead] = leads_of(company="Acme GmbH")
    assert (lead.first_name, lead.last_name, lead.email, lead.full_name) == ("", "", None, "Acme GmbH")
    response = as_member.post("/leads/new", {"job_title": "Buyer", "city": "Berlin"}, htmx=True)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422 and NOTHING in body
    phone_only = as_member.post("/leads/new", {"phone": "+1 415 555 0123"})
    assert phone_only.status_code == 302 and leads_of(phone="+14155550123")


def test_quick_add_takes_a_company_alone(as_member, stages):
    response = quick_add(as_member, stages["New"], company="Initech")
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "Added Initech to New." in body
    [lead] = leads_of(company="Initech")
    assert (lead.first_name, lead.email, lead.stage_id) == ("", None, stages["New"].id)


# --- identity ---------------------------------------------------------------------------------------


def test_a_business_is_recognised_by_its_company_in_any_case_and_never_folded_into_another(app, stages):
    first = capture_lead({"company": "Acme GmbH", "city": "Berlin"}, via="manual entry")
    again = capture_lead({"company": "ACME GMBH", "website": "acme.de"}, via="manual entry")
    assert again.created is False and again.matched_on == "company" and again.lead.id == first.lead.id
    assert again.lead.website == "https://acme.de"  # its empty field filled
    other = capture_lead({"company": "Acme"}, via="manual entry")  # no legal suffix dropped: another company
    assert other.created is True
    person = capture_lead({"first_name": "Ada", "company": "Initech"}, via="manual entry")
    business = capture_lead({"company": "initech"}, via="manual entry")
    assert business.created is True and business.lead.id != person.lead.id  # never into a person's lead
    assert capture_lead({"company": "Initech"}, via="manual entry").lead.id == business.lead.id
    with pytest.raises(ServiceError) as err:
        capture_lead({"job_title": "Buyer", "company": "  "}, via="manual entry")
    assert err.value.message == NOTHING


# --- the API ----------------------------------------------------------------------------------------


@pytest.fixture
def api(app, stages):
    from app.services.api_keys import create_key
    return Api(app, create_key("Website")[1])


def test_the_api_takes_and_returns_the_new_fields_and_patches_them(api):
    created = api.post("/leads", {"company": "Acme GmbH", "street": "Hauptstraße 5\nHinterhaus", "city": "Berlin",
                                  "postal_code": "10115", "country": "DE", "website": "acme.de",
                                  "description": "Two\nlines"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert {k: body[k] for k in ("company", "street", "city", "postal_code", "website", "description")} == {
        "company": "Acme GmbH", "street": "Hauptstraße 5\nHinterhaus", "city": "Berlin", "postal_code": "10115",
        "website": "https://acme.de", "description": "Two\nlines"}
    assert (body["first_name"], body["email"]) == ("", None)
    patched = api.patch(f"/leads/{body['id']}", {"city": "Hamburg", "website": None})
    assert patched.status_code == 200 and (patched.get_json()["city"], patched.get_json()["website"]) == ("Hamburg", None)
    [lead] = leads_of(company="Acme GmbH")
    assert (lead.city, lead.website, lead.description) == ("Hamburg", None, "Two\nlines")
    again = api.post("/leads", {"company": "acme gmbh"})
    assert again.status_code == 200 and again.get_json()["matched_on"] == "company"
    assert again.headers["Leadboard-Duplicate"] == "company" and lead_count() == 1


def test_the_api_refuses_a_bad_website_and_a_lead_with_nothing_to_identify_it(api):
    response = api.post("/leads", {"company": "Acme", "website": "not a site"})
    assert response.status_code == 422
    assert any(e["field"] == "website" and "web address" in e["message"] for e in response.get_json()["errors"])
    nothing = api.post("/leads", {"city": "Berlin"})
    assert nothing.status_code == 422
    assert [e["message"] for e in nothing.get_json()["errors"]] == [NOTHING]
    lead_id = api.post("/leads", {"company": "Acme"}).get_json()["id"]
    emptied = api.patch(f"/leads/{lead_id}", {"company": ""})  # it would leave nothing that identifies it
    assert emptied.status_code == 422 and NOTHING in str(emptied.get_json())
    assert leads_of(company="Acme") and lead_count() == 1


def test_the_openapi_document_describes_the_new_fields(api):
    schemas = api.get("/openapi.json").get_json()["components"]["schemas"]
    new = {"street", "city", "postal_code", "website", "description"}
    assert new <= set(schemas["Lead"]["required"]) and new <= set(schemas["LeadCreate"]["properties"])
    assert new <= set(schemas["LeadUpdate"]["properties"])
    website = schemas["LeadCreate"]["properties"]["website"]
    assert "https://acme.com" in str(website) and "maxLength" in str(website)
    assert "company" in schemas["LeadCreate"]["description"]
    assert "company" in schemas["CapturedDuplicate"]["properties"]["matched_on"]["enum"]


# --- CSV import and export --------------------------------------------------------------------------

GERMAN = ('Firma;Vorname;Straße;PLZ;Ort;Webseite;Beschreibung\r\n'
          'Müller GmbH;;"Hauptstraße 5\r\nHinterhaus";10115;Berlin;mueller.de;"Erste Zeile\r\nZweite Zeile; mit Semikolon"\r\n'
          'Schmidt KG;;Ring 1;20095;Hamburg;keine Webseite;\r\n'
          'MÜLLER GMBH;;;;;;Zweite Zeile derselben Firma\r\n'
          'Schmidt KG;Hans;;;;;\r\n')


def test_an_import_with_german_headers_keeps_multi_line_cells_and_notes_a_bad_website(stages):
    imp = queued(GERMAN.encode("utf-8"))
    assert imp.mapping == {"0": "company", "1": "first_name", "2": "street", "3": "postal_code", "4": "city",
                           "5": "website", "6": "description"}
    imp = run_import(imp.id)
    # Müller twice (any case) is one business; Hans at Schmidt KG is a person there, not the business.
    assert (imp.created_count, imp.skipped_count, imp.rejected_count) == (3, 1, 0)
    [mueller] = leads_of(company="Müller GmbH")
    assert (mueller.street, mueller.postal_code, mueller.city) == ("Hauptstraße 5\r\nHinterhaus", "10115", "Berlin")
    assert mueller.website == "https://mueller.de"
    assert mueller.description == "Erste Zeile\r\nZweite Zeile; mit Semikolon"  # the cell as it is
    [schmidt, hans] = leads_of(company="Schmidt KG")
    assert (schmidt.first_name, hans.first_name) == ("", "Hans")
    assert schmidt.website is None and schmidt.city == "Hamburg"
    assert notes_of(schmidt) == ["Webseite “keine Webseite” could not be read as a web address; kept on the lead's timeline"]


def test_a_strict_import_refuses_a_row_with_a_bad_website(stages):
    data = csv_bytes([["Company", "Website"], ["Acme", "acme.com"], ["Initech", "www initech com"]])
    imp = run_import(queued(data, strict=True).id)
    assert (imp.created_count, imp.rejected_count) == (1, 1)
    assert [lead.website for lead in leads_of()] == ["https://acme.com"]
    reason = db.session.scalar(select(ImportRow.reason).where(ImportRow.outcome == "rejected"))
    assert reason.startswith("Website: Enter the website as a web address")


def test_a_column_of_business_names_alone_can_be_imported(as_member, stages):
    data = csv_bytes([["Company name", "City"], ["Acme", "Paris"], ["acme", "Lyon"], ["Initech", ""]])
    imp = run_import(queued(data).id)
    assert (imp.created_count, imp.skipped_count) == (2, 1)
    assert [(lead.company, lead.city) for lead in leads_of()] == [("Acme", "Paris"), ("Initech", None)]


def test_the_export_has_the_new_fields_and_reads_back_in(as_member, make_lead):
    make_lead(first_name="", last_name="", company="Acme", street="Main St 1\nSuite 2", city="Springfield",
              postal_code="12345", website="acme.com", description="Two\nlines")
    rows = read_csv(as_member.get("/leads/export.csv"))
    header, row = rows[0], rows[1]
    assert {name: row[header.index(name)] for name in ("Company", "Street", "City", "Postal code", "Website",
                                                        "Description")} == {
        "Company": "Acme", "Street": "Main St 1\nSuite 2", "City": "Springfield", "Postal code": "12345",
        "Website": "https://acme.com", "Description": "Two\nlines"}


# --- search -----------------------------------------------------------------------------------------


def test_the_pool_search_finds_a_lead_by_its_city_and_its_website(as_member, make_lead):
    make_lead(first_name="Ada", company="Acme", city="Düsseldorf", website="www.acme-widgets.com")
    make_lead(first_name="Bob", city="Berlin")
    assert [lead.first_name for lead in search.search("dusseldorf").leads] == ["Ada"]
    assert [lead.first_name for lead in search.search("acme-widgets.com").leads] == ["Ada"]
    page = html.unescape(as_member.get("/leads?q=acme-widgets.com").get_data(as_text=True))
    assert "Ada Lead" in page and "Bob Lead" not in page
    page = html.unescape(as_member.get("/leads?q=berlin").get_data(as_text=True))
    assert "Bob Lead" in page and "Ada Lead" not in page


def test_changing_the_city_or_website_keeps_the_search_in_step(as_member, make_lead):
    from app.services import leads as lead_service
    lead = make_lead(first_name="Ada", city="Berlin")
    lead_service.update_lead(lead.id, {"city": "Hamburg", "website": "initech.io"}, None)
    db.session.commit()
    assert [x.id for x in search.search("hamburg").leads] == [lead.id]
    assert [x.id for x in search.search("initech").leads] == [lead.id]
    assert search.search("berlin").leads == []


@pytest.mark.parametrize("company", ["ΣΊΣΥΦΟΣ ΑΕ", "İZMİR TİCARET"])
def test_a_business_named_the_same_way_twice_is_one_lead_whatever_its_letters(stages, company):
    from app.services.capture import capture_lead
    first = capture_lead({"company": company}, via="API")
    again = capture_lead({"company": company}, via="API")
    assert (first.created, again.created, again.lead.id) == (True, False, first.lead.id)


# --- the expected close date (the forecast's month) -------------------------------------------------


def closing_dates() -> list[tuple[str, date | None]]:
    return [(lead.first_name or lead.company, lead.expected_close_on) for lead in leads_of()]


def test_the_lead_form_sets_shows_and_clears_the_expected_close_date_with_its_timeline(as_member, make_lead):
    lead = make_lead(first_name="Ada", email="ada@example.com")
    edit = html.unescape(as_member.get(f"/leads/{lead.id}/edit").get_data(as_text=True))
    assert re.search(r'<label for="expected_close_on">Expected close date</label>', edit)
    assert re.search(r'<input[^>]*type="date"[^>]*name="expected_close_on"|<input[^>]*name="expected_close_on"[^>]*type="date"', edit)
    assert 'id="expected_close_on-hint"' in edit and "forecast" in edit
    form = {"first_name": "Ada", "last_name": "Lead", "email": "ada@example.com"}
    response = as_member.post(f"/leads/{lead.id}/edit", {**form, "expected_close_on": "2031-03-15",
                                                          "version": str(lead.version)})
    assert response.status_code == 302
    [saved] = leads_of(email="ada@example.com")
    assert saved.expected_close_on == date(2031, 3, 15)
    page = html.unescape(as_member.get(f"/leads/{lead.id}").get_data(as_text=True))
    assert '<dt>Expected close date</dt><dd class="lead-expected-close">15 Mar 2031</dd>' in page
    assert re.search(r"Expected close date: <del>empty</del> → <ins>15 Mar 2031</ins>", page)
    edit = as_member.get(f"/leads/{lead.id}/edit").get_data(as_text=True)
    assert re.search(r'name="expected_close_on"[^>]*value="2031-03-15"|value="2031-03-15"[^>]*name="expected_close_on"', edit)
    response = as_member.post(f"/leads/{lead.id}/edit", {**form, "expected_close_on": "", "version": str(saved.version)})
    assert response.status_code == 302
    [cleared] = leads_of(email="ada@example.com")
    assert cleared.expected_close_on is None
    entries = db.session.scalars(select(TimelineEntry.data).where(TimelineEntry.lead_id == lead.id,
                                                                  TimelineEntry.kind == "updated")
                                 .order_by(TimelineEntry.id)).all()
    assert [e["changes"] for e in entries] == [{"expected_close_on": [None, "2031-03-15"]},
                                               {"expected_close_on": ["2031-03-15", None]}]
    page = html.unescape(as_member.get(f"/leads/{lead.id}").get_data(as_text=True))
    assert 'class="lead-expected-close"' not in page
    assert re.search(r"Expected close date: <del>15 Mar 2031</del> → <ins>empty</ins>", page)


@pytest.mark.parametrize("typed, message", [
    ("next spring", "Enter the expected close date as a day, YYYY-MM-DD"),
    ("2026-02-30", "Enter the expected close date as a day, YYYY-MM-DD"),
    ("15/03/2031", "Enter the expected close date as a day, YYYY-MM-DD"),
    ("1999-12-31", "Pick an expected close date between 2000 and 2100."),
    ("2101-01-01", "Pick an expected close date between 2000 and 2100."),
    ("20261-01-01", "Enter the expected close date as a day, YYYY-MM-DD"),
])
def test_a_bad_expected_close_date_is_refused_beside_the_field_and_nothing_is_saved(as_member, make_lead,
                                                                                     typed, message):
    lead = make_lead(first_name="Ada", email="ada@example.com", expected_close_on="2030-01-31", city="Bonn")
    response = as_member.post(f"/leads/{lead.id}/edit", {
        "first_name": "Ada", "last_name": "Lead", "email": "ada@example.com", "city": "Köln",
        "expected_close_on": typed, "version": str(lead.version)}, htmx=True)
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422 and "<html" not in body
    assert re.search(r'id="expected_close_on-error">' + re.escape(message), body)
    assert re.search(r'name="expected_close_on"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*name="expected_close_on"', body)
    [kept] = leads_of(email="ada@example.com")
    assert (kept.expected_close_on, kept.city, kept.version) == (date(2030, 1, 31), "Bonn", lead.version)


def test_the_api_reads_and_writes_the_expected_close_date_and_refuses_a_bad_one_by_name(api):
    created = api.post("/leads", {"company": "Acme", "expected_close_on": "2031-06-30"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["expected_close_on"] == "2031-06-30"
    assert leads_of()[0].expected_close_on == date(2031, 6, 30)
    assert api.get(f"/leads/{body['id']}").get_json()["expected_close_on"] == "2031-06-30"
    patched = api.patch(f"/leads/{body['id']}", {"expected_close_on": "2031-07-01"})
    assert patched.status_code == 200 and patched.get_json()["expected_close_on"] == "2031-07-01"
    [entry] = db.session.scalars(select(TimelineEntry.data).where(TimelineEntry.kind == "updated")).all()
    assert entry["changes"] == {"expected_close_on": ["2031-06-30", "2031-07-01"]}
    for bad in ("2031-13-01", "1999-12-31", "2031-07-01T00:00:00", "", 20310701, "1 July 2031"):
        refused = api.patch(f"/leads/{body['id']}", {"expected_close_on": bad})
        assert refused.status_code == 422, (bad, refused.get_json())
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.get_json()["errors"]] == ["expected_close_on"], bad
    assert leads_of()[0].expected_close_on == date(2031, 7, 1)
    cleared = api.patch(f"/leads/{body['id']}", {"expected_close_on": None})
    assert cleared.status_code == 200 and cleared.get_json()["expected_close_on"] is None
    assert leads_of()[0].expected_close_on is None
    schemas = api.get("/openapi.json").get_json()["components"]["schemas"]
    assert "expected_close_on" in schemas["Lead"]["required"]
    for name in ("LeadCreate", "LeadUpdate"):
        assert '"format": "date"' in json.dumps(schemas[name]["properties"]["expected_close_on"])


def test_an_import_maps_close_date_headers_reads_dates_as_files_write_them_and_notes_a_bad_one(stages):
    data = csv_bytes([["Company", "Close Date"], ["Acme", "15/03/2031"], ["Initech", "March 3, 2031"],
                      ["Globex", "someday"], ["Umbrella", "1999-12-31"], ["Hooli", "2031-04-30"]])
    imp = queued(data, date_order="dmy")
    assert imp.mapping == {"0": "company", "1": "expected_close_on"}
    imp = run_import(imp.id)
    assert (imp.created_count, imp.rejected_count) == (5, 0)
    assert closing_dates() == [("Acme", date(2031, 3, 15)), ("Initech", date(2031, 3, 3)), ("Globex", None),
                               ("Umbrella", None), ("Hooli", date(2031, 4, 30))]
    [globex] = leads_of(company="Globex")
    assert notes_of(globex) == ["Close Date “someday” could not be read as a date between 2000 and 2100; "
                                "kept on the lead's timeline"]


def test_a_strict_import_refuses_a_bad_close_date_and_undo_puts_an_updated_date_back(stages, admin, make_lead):
    from app.services import import_ledger
    make_lead(first_name="Ada", email="ada@example.com", expected_close_on="2030-01-31")
    data = csv_bytes([["Email", "Expected Close Date"], ["ada@example.com", "2031-05-31"],
                      ["bob@example.com", "31.02.2031"]])
    imp = run_import(queued(data, strict=True, duplicates="update").id)
    assert (imp.updated_count, imp.rejected_count) == (1, 1)
    reason = db.session.scalar(select(ImportRow.reason).where(ImportRow.outcome == "rejected"))
    assert reason.startswith("Expected Close Date: Enter the expected close date as a day")
    assert [lead.expected_close_on for lead in leads_of()] == [date(2031, 5, 31)]
    import_ledger.undo_import(imp.id, admin.id)
    assert [lead.expected_close_on for lead in leads_of()] == [date(2030, 1, 31)]


def test_the_export_and_personal_data_carry_the_expected_close_date_and_it_reads_back_in(as_member, make_lead):
    from app.services import personal_data
    lead = make_lead(first_name="Ada", email="ada@example.com", expected_close_on="2031-09-01")
    make_lead(first_name="Bob", email="bob@example.com")
    rows = read_csv(as_member.get("/leads/export.csv"))
    header = rows[0]
    assert sorted(row[header.index("Expected close date")] for row in rows[1:]) == ["", "2031-09-01"]
    assert personal_data.collect(lead.id)["lead"]["expected_close_on"] == "2031-09-01"
    imp = queued(csv_bytes(rows).replace(b"ada@example.com", b"ada2@example.com"))
    assert imp.mapping[str(header.index("Expected close date"))] == "expected_close_on"
