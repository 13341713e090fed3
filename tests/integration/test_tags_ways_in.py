"""Tags through every way in and out besides the pages: capture_lead, the JSON API (and its document),
CSV import and export."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Lead, TimelineEntry
from app.services import ServiceError
from app.services import tags as tag_service
from app.services.capture import OnDuplicate, capture_lead
from app.services.tags import MAX_PER_LEAD, tags_for
from tests.integration.test_api import api, secret  # noqa: F401 (fixtures)


def kinds(lead_id: int) -> list[str]:
    return list(db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == lead_id)
                                   .order_by(TimelineEntry.id)))


# --- capture ----------------------------------------------------------------------------------


def test_a_captured_lead_gets_its_tags_and_a_resubmission_adds_more(stages):
    first = capture_lead({"first_name": "Ada", "email": "ada@example.com", "tags": "webinar, VIP"}, via="API")
    assert tags_for([first.lead.id])[first.lead.id] == ["VIP", "webinar"]
    again = capture_lead({"email": "ADA@example.com", "tags": ["vip", "pricing page"]}, via="web form")
    assert again.lead.id == first.lead.id
    assert tags_for([first.lead.id])[first.lead.id] == ["pricing page", "VIP", "webinar"]
    assert kinds(first.lead.id) == ["created", "tagged", "tagged", "resubmitted"]
    capture_lead({"email": "ada@example.com", "tags": "ignored"}, via="import", on_duplicate=OnDuplicate.skip)
    assert "ignored" not in tags_for([first.lead.id])[first.lead.id]


def test_bad_tags_refuse_the_capture_before_anything_is_saved(stages):
    with pytest.raises(ServiceError) as refused:
        capture_lead({"first_name": "Ada", "tags": "<script>"}, via="API")
    assert refused.value.field == "tags"
    assert db.session.scalar(select(Lead.id)) is None


def test_a_resubmission_to_a_lead_without_room_for_its_tags_is_still_captured(stages, make_lead):
    lead = make_lead(email="full@example.com")
    tag_service.add_tags(lead.id, [f"t{n}" for n in range(MAX_PER_LEAD)], None)
    captured = capture_lead({"email": "full@example.com", "company": "Acme", "tags": "one more"}, via="API")
    assert captured.lead.id == lead.id and captured.lead.company == "Acme"
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.lead_id == lead.id,
                                                          TimelineEntry.kind == "resubmitted"))
    assert f"at most {MAX_PER_LEAD} tags" in entry.data["tags_refused"]
    assert "one more" not in tags_for([lead.id])[lead.id]


def test_manual_entry_takes_tags(as_member, stages):
    response = as_member.post("/leads/new", {"first_name": "Mo", "last_name": "Manual", "tags": "walk-in, VIP"})
    assert response.status_code == 302
    lead = db.session.scalar(select(Lead).where(Lead.first_name == "Mo"))
    assert tags_for([lead.id])[lead.id] == ["VIP", "walk-in"]
    refused = as_member.post("/leads/new", {"first_name": "Bad", "tags": "<x>"}, htmx=True)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Tags may hold letters" in body and 'aria-invalid="true"' in body
    assert db.session.scalar(select(Lead).where(Lead.first_name == "Bad")) is None


# --- the API ----------------------------------------------------------------------------------


def test_the_api_sets_tags_on_create_replaces_them_on_update_and_shows_them(api):
    created = api.post("/leads", {"first_name": "Ada", "email": "ada@example.com", "tags": ["VIP", "webinar", "vip"]})
    assert created.status_code == 201 and created.get_json()["tags"] == ["VIP", "webinar"]
    lead_id = created.get_json()["id"]
    again = api.post("/leads", {"email": "ada@example.com", "tags": ["pricing"]})
    assert again.status_code == 200 and again.get_json()["tags"] == ["pricing", "VIP", "webinar"]
    updated = api.patch(f"/leads/{lead_id}", {"tags": ["webinar", "Hot"]})
    assert updated.get_json()["tags"] == ["Hot", "webinar"]
    assert tags_for([lead_id])[lead_id] == ["Hot", "webinar"]
    assert kinds(lead_id)[-2:] == ["untagged", "tagged"]
    assert api.get(f"/leads/{lead_id}").get_json()["tags"] == ["Hot", "webinar"]
    untouched = api.patch(f"/leads/{lead_id}", {"job_title": "CTO"})
    assert untouched.get_json()["tags"] == ["Hot", "webinar"]
    assert api.patch(f"/leads/{lead_id}", {"tags": None}).get_json()["tags"] == []


def test_the_api_lists_leads_by_tag_with_their_tags(api):
    for n in range(3):
        api.post("/leads", {"first_name": f"P{n}", "tags": ["vip"] if n != 1 else ["cold"]})
    page = api.get("/leads?tag=VIP&limit=1").get_json()
    assert [lead["first_name"] for lead in page["data"]] == ["P0"] and page["data"][0]["tags"] == ["vip"]
    rest = api.get(f"/leads?tag=VIP&limit=5&cursor={page['next_cursor']}").get_json()
    assert [lead["first_name"] for lead in rest["data"]] == ["P2"] and rest["next_cursor"] is None


@pytest.mark.parametrize("tags, message", [
    (["<b>"], "Tags may hold letters"),
    (["x" * 41], "Keep each tag to 40 characters"),
    ([f"t{n}" for n in range(MAX_PER_LEAD + 1)], f"at most {MAX_PER_LEAD} tags"),
    ("vip", "must be a list of strings"),
    ([1], "Give tags as text"),
])
def test_the_api_refuses_bad_tags_as_a_problem_naming_the_field(api, tags, message):
    response = api.post("/leads", {"first_name": "Ada", "tags": tags})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert errors[0]["field"] == "tags" and message in errors[0]["message"]
    assert db.session.scalar(select(Lead.id)) is None


def test_the_openapi_document_describes_tags(api):
    schemas = api.get("/openapi.json").get_json()["components"]["schemas"]
    assert schemas["Lead"]["properties"]["tags"]["type"] == "array"
    create = schemas["LeadCreate"]["properties"]["tags"]
    assert create["anyOf"][0]["maxItems"] == MAX_PER_LEAD and create["anyOf"][0]["items"]["maxLength"] == 40
    assert "tags" in schemas["LeadUpdate"]["properties"]


# --- CSV import and export --------------------------------------------------------------------


def test_a_tags_column_imports_split_on_semicolons_or_commas_and_a_bad_cell_rejects_its_row(stages):
    from app.models import ImportRow
    from app.services.imports import run_import
    from tests.integration.test_import import csv_bytes, queued
    data = csv_bytes([["Email", "First name", "Labels"],
                      ["ada@example.com", "Ada", "VIP; trade show, vip"],
                      ["bo@example.com", "Bo", "<bad>"],
                      ["cy@example.com", "Cy", ""],
                      ["di@example.com", "Di", '"Customer","Mailchimp style"']])
    imp = queued(data)
    assert imp.mapping["2"] == "tags"
    imp = run_import(imp.id)
    assert (imp.created_count, imp.rejected_count) == (3, 1)
    di = db.session.scalar(select(Lead).where(Lead.email == "di@example.com"))
    assert tags_for([di.id])[di.id] == ["Customer", "Mailchimp style"]
    ada = db.session.scalar(select(Lead).where(Lead.email == "ada@example.com"))
    assert tags_for([ada.id])[ada.id] == ["trade show", "VIP"]
    reason = db.session.scalar(select(ImportRow.reason).where(ImportRow.outcome == "rejected"))
    assert reason.startswith("Labels: Tags may hold letters")


def test_the_export_has_a_tags_column_that_imports_back(as_member, stages, make_lead):
    from app.services.imports import run_import
    from tests.integration.test_import import queued, read_csv
    ada, bo = make_lead(first_name="Ada", email="ada@example.com"), make_lead(first_name="Bo", email="bo@x.org")
    tag_service.add_tags(ada.id, "VIP, -minus, trade show", None)
    exported = as_member.get("/leads/export.csv?sort=name&dir=asc").get_data()
    rows = read_csv(as_member.get("/leads/export.csv?tag=vip"))
    assert rows[0][-1] == "Tags" and len(rows) == 2
    assert rows[1][-1] == "'-minus; trade show; VIP"
    db.session.execute(Lead.__table__.delete())
    db.session.commit()
    imp = run_import(queued(exported).id)
    assert imp.created_count == 2
    ada = db.session.scalar(select(Lead).where(Lead.email == "ada@example.com"))
    bo = db.session.scalar(select(Lead).where(Lead.email == "bo@x.org"))
    assert tags_for([ada.id, bo.id]) == {ada.id: ["-minus", "trade show", "VIP"], bo.id: []}
