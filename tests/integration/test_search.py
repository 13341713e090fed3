"""The navigation's search: one normalised document per lead, kept current by every way a lead's
text changes, found ignoring case, accents, punctuation and phone formats, on both databases."""
from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from sqlalchemy import insert, select

from app.extensions import db
from app.models import Lead, LeadSearchDocument
from app.services import custom_fields as cf, leads as lead_service, merge as merge_service, search, tags as tag_service
from app.services.custom_fields import FieldSettings
from app.services.imports import create_import, run_import


def names(raw: str, **kwargs) -> list[str]:
    return [lead.full_name for lead in search.search(raw, **kwargs).leads]


def document(lead_id: int) -> str:
    return db.session.scalar(select(LeadSearchDocument.document).where(LeadSearchDocument.lead_id == lead_id))


# --- normalisation ---------------------------------------------------------------------------


def test_case_accents_and_punctuation_are_ignored_both_ways(make_lead):
    make_lead(first_name="Zoë", last_name="Fischer-Ayers", company="Ørsted A/S")
    make_lead(first_name="Bob", last_name="Brown")
    assert names("fischer ayers") == ["Zoë Fischer-Ayers"]
    assert names("FISCHER-AYERS") == ["Zoë Fischer-Ayers"]
    assert names("zoe") == names("Zoë") == names("ZOË") == ["Zoë Fischer-Ayers"]
    assert names("orsted a/s") == ["Zoë Fischer-Ayers"]
    assert names("fisch") == ["Zoë Fischer-Ayers"]  # every word typed begins a word of the lead's
    assert names("zoe brown") == []  # every word must match


@pytest.mark.parametrize("typed", ["+1 (415) 555-0123", "415.555.0123", "4155550123", "(415) 555 0123",
                                   "14155550123", "+14155550123"])
def test_a_phone_number_in_any_format_finds_the_lead(make_lead, typed):
    make_lead(first_name="Pat", last_name="Phone", phone="415-555-0123")
    make_lead(first_name="Other", last_name="Number", phone="+442079460000")
    assert names(typed) == ["Pat Phone"]


# --- every source of text --------------------------------------------------------------------


def test_each_source_field_is_found(make_lead, member):
    plan = cf.create_field(FieldSettings("Plan", key="plan", kind="choice", choices=["Enterprise", "Starter"]))
    channels = cf.create_field(FieldSettings("Channels", key="channels", kind="multi_choice", choices=["Webinar", "Print"]))
    cf.create_field(FieldSettings("Region code", key="region_code", kind="text"))
    cf.create_field(FieldSettings("Story", key="story", kind="long_text"))
    lead = make_lead(first_name="Quinn", last_name="Quartz", company="Globex Corporation", email="quinn@initech.example",
                     job_title="Procurement lead")
    make_lead(first_name="Nobody", last_name="Else")
    lead_service.update_lead(lead.id, {}, member.id, custom={"plan": "Enterprise", "channels": ["Webinar"],
                                                             "region_code": "EMEA-7", "story": "Met at Kubecon"},
                             custom_partial=True)
    lead_service.add_note(lead.id, "Prefers calls on Thursdays", member.id)
    tag_service.add_tags(lead.id, "trade show 2026", member.id)
    assert plan and channels
    for typed in ("quinn", "quartz", "globex", "initech", "quinn@initech.example", "procurement", "thursdays",
                  "trade show", "enterprise", "webinar", "emea-7", "kubecon"):
        assert names(typed) == ["Quinn Quartz"], typed


# --- the document follows every change -------------------------------------------------------


def test_edits_tags_notes_and_custom_values_keep_the_document_current(make_lead, member):
    cf.create_field(FieldSettings("Code", key="code", kind="text"))
    lead = make_lead(first_name="Ann", last_name="Old")
    lead_service.update_lead(lead.id, {"first_name": "Ann", "last_name": "Newman"}, member.id)
    assert names("old") == [] and names("newman") == ["Ann Newman"]
    tag_service.add_tags(lead.id, "golden", member.id)
    assert names("golden") == ["Ann Newman"]
    tag = tag_service.find_tag("golden")
    tag_service.rename_tag(tag.id, "platinum", member.id)
    assert names("golden") == [] and names("platinum") == ["Ann Newman"]
    tag_service.remove_tag(lead.id, "platinum", member.id)
    assert names("platinum") == []
    lead_service.update_lead(lead.id, {}, member.id, custom={"code": "zx81"}, custom_partial=True)
    assert names("zx81") == ["Ann Newman"]
    lead_service.update_lead(lead.id, {}, member.id, custom={"code": None}, custom_partial=True)
    assert names("zx81") == []
    lead_service.update_lead(lead.id, {}, member.id, custom={"code": "spectrum"}, custom_partial=True)
    cf.delete_field(cf.fields_by_key()["code"].id, member.id)
    assert names("spectrum") == []
    lead_service.add_note(lead.id, "Budget approved by Señora Núñez", member.id)
    assert names("senora nunez") == ["Ann Newman"]


def test_bulk_tagging_and_deleting_a_tag_keep_every_document_current(make_lead, member):
    a, b = make_lead(first_name="Al", last_name="One"), make_lead(first_name="Bea", last_name="Two")
    tag_service.bulk_tag([a.id, b.id], "conference", member.id)
    assert sorted(names("conference")) == ["Al One", "Bea Two"]
    tag_service.delete_tag(tag_service.find_tag("conference").id, member.id)
    assert names("conference") == []


def test_a_merge_moves_the_losers_notes_into_the_survivors_document_and_undo_moves_them_back(make_lead, member):
    jon = make_lead(first_name="Jon", last_name="Smith", email="jon@acme.example")
    john = make_lead(first_name="John", last_name="Smith", email="john@acme.example")
    lead_service.add_note(john.id, "Wants the xylophone bundle", member.id)
    merged = merge_service.merge_leads(jon.id, john.id, {}, member.id)
    assert names("xylophone") == ["Jon Smith"]
    assert db.session.get(LeadSearchDocument, john.id) is None  # went with the lead
    merge_service.undo_merge(merged.id, member.id)
    assert names("xylophone") == ["John Smith"]


def test_imported_and_captured_leads_are_searchable_at_once(stages):
    from app.services.capture import capture_lead
    data = "Name;E-mail;Organisation\nZoë Müller;zoe@example.com;Café GmbH\n".encode("cp1252")
    imp = create_import(io.BytesIO(data), "test.csv", None)
    imp.duplicates, imp.status = "skip", "queued"
    db.session.commit()
    run_import(imp.id)
    assert names("cafe gmbh") == ["Zoë Müller"]
    capture_lead({"first_name": "Bo", "last_name": "Jensen", "phone": "(415) 555-0199", "tags": ["webform"]},
                 via="web form")
    assert names("4155550199") == ["Bo Jensen"] and names("webform") == ["Bo Jensen"]


def test_refresh_all_builds_documents_for_leads_written_around_the_services(make_lead):
    make_lead(first_name="Seed", last_name="Lead")
    lead = db.session.scalar(select(Lead))
    db.session.execute(insert(Lead).values(first_name="Bulk", last_name="Loaded", stage_id=lead.stage_id, position=0,
                                           version=1, created_at=lead.created_at, updated_at=lead.created_at,
                                           stage_entered_at=lead.created_at))
    db.session.commit()
    assert names("loaded") == []
    search.refresh_all()
    db.session.commit()
    assert names("loaded") == ["Bulk Loaded"]


# --- paging and bad input --------------------------------------------------------------------


def test_results_are_newest_first_a_page_at_a_time(make_lead):
    made = [make_lead(first_name=f"Pager{n}", last_name="Person").id for n in range(30)]
    first = search.search("pager", per_page=25)
    assert [lead.id for lead in first.leads] == made[::-1][:25] and first.next_after == made[5]
    second = search.search("pager", after=first.next_after, per_page=25)
    assert [lead.id for lead in second.leads] == made[::-1][25:] and second.next_after is None


@pytest.mark.parametrize("typed", ["%", "_", "%_%", "'", '"', "''\"\"", "a", "*", "a:* & !b", "\\"])
def test_wildcards_quotes_and_query_syntax_find_nothing_and_say_why(as_member, make_lead, typed):
    make_lead(first_name="Percy", last_name="Underscore", company="100% Quotes \"Inc\"")
    response = as_member.get(f"/search?q={quote(typed)}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Percy" not in body
    assert "There is nothing to search for" in body


def test_search_syntax_of_either_database_is_read_as_plain_words(as_member, make_lead):
    make_lead(first_name="Nearly", last_name="There", company="Or Else & Co")
    for typed in ('NEAR(', 'ne*', '"there" OR', 'else:* & !co', "co) | (x"):
        response = as_member.get(f"/search?q={quote(typed)}")
        assert response.status_code == 200, typed
    assert names('NEAR(') == ["Nearly There"] and names('"there" OR') == ["Nearly There"]
    assert names("else:* & !co") == ["Nearly There"]


def test_a_nul_or_ten_thousand_characters_get_a_clear_message_not_a_500(as_member, make_lead):
    make_lead()
    nul = as_member.get("/search?q=ab%00cd")
    assert nul.status_code == 400 and "NUL" in nul.get_data(as_text=True)
    long = as_member.get("/search?q=" + "x" * 10_000)
    body = long.get_data(as_text=True)
    assert long.status_code == 422 and "Search for at most 200 characters." in body
    assert 'aria-invalid="true"' in body and 'id="q-error"' in body
    assert body.count("Search for at most 200 characters.") == 1  # beside the box, not again below it
    with pytest.raises(Exception, match="at most 200"):
        search.search("y" * 201)


def test_the_navigation_box_searches_and_htmx_gets_only_the_results(as_member, make_lead):
    make_lead(first_name="Nina", last_name="Navigator", company="Compass Ltd")
    page = as_member.get("/leads").get_data(as_text=True)
    assert 'action="/search"' in page and '<label for="nav-q">' in page
    full = as_member.get("/search?q=compass").get_data(as_text=True)
    assert "Nina Navigator" in full and 'value="compass"' in full
    fragment = as_member.get("/search?q=compass", htmx=True).get_data(as_text=True)
    assert "<html" not in fragment and 'id="search-results"' in fragment and "Nina Navigator" in fragment
    none = as_member.get("/search?q=zzzzz").get_data(as_text=True)
    assert "No lead matches “zzzzz”" in none and "add the lead" in none
