import re
import threading
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Lead, TimelineEntry
from app.services import leads as lead_service


def timeline_kinds(lead) -> list[str]:
    return list(db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == lead.id)
                                   .order_by(TimelineEntry.id)))


def only_lead() -> Lead:
    return db.session.scalars(select(Lead)).one()


def test_adding_a_lead_stores_it_normalised_in_the_pool_with_a_created_entry(as_member, stages):
    response = as_member.post("/leads/new", {
        "first_name": " Grace ", "last_name": "Hopper", "email": " Grace@Navy.MIL ", "phone": "(415) 555-0123",
        "company": "US Navy", "job_title": "Rear Admiral", "source": "Referral", "value": "12,500"})
    assert response.status_code == 302
    lead = only_lead()
    assert (lead.first_name, lead.email, lead.phone, lead.value) == ("Grace", "grace@navy.mil", "+14155550123",
                                                                    Decimal("12500.00"))
    assert lead.owner_id is None and lead.stage_id == stages["New"].id
    assert timeline_kinds(lead) == ["created"]
    assert response.headers["Location"] == f"/leads/{lead.id}"


@pytest.mark.parametrize("field, value, message", [
    ("email", "grace@", "Enter a valid email address"),
    ("phone", "12", "Enter a phone number"),
    ("value", "-5", "cannot be negative"),
    ("value", "lots", "as a number"),
    ("company", "x" * 201, "200 characters"),
])
def test_bad_input_is_shown_next_to_its_field_and_keeps_what_was_typed(as_member, stages, field, value, message):
    data = {"first_name": "Grace", "last_name": "Hopper", "company": "US Navy", field: value}
    response = as_member.post("/leads/new", data, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "<html" not in body  # a fragment, swapped in place of the form
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', body)
    assert error and message in error.group(1)
    assert re.search(rf'aria-describedby="[^"]*{field}-error', body) and 'aria-invalid="true"' in body
    assert 'value="Hopper"' in body  # nothing typed is lost
    assert db.session.scalars(select(Lead)).first() is None


def test_a_lead_with_nothing_to_identify_it_is_refused(as_member, stages):
    response = as_member.post("/leads/new", {"job_title": "Buyer"}, htmx=True)
    assert response.status_code == 422
    assert "Give the lead a name, a company, an email address or a phone number." in response.get_data(as_text=True)
    assert as_member.post("/leads/new", {"company": "Acme"}).status_code == 302  # a business with no person is one


def test_html_in_any_field_shows_as_text_everywhere(as_member, make_lead):
    lead = make_lead(first_name="<script>alert(1)</script>", last_name="<b>bold</b>",
                     company='<img src=x onerror="alert(2)">', job_title="<i>x</i>")
    for url in ("/board", "/leads", f"/leads/{lead.id}"):
        body = as_member.get(url).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url
        assert "<script>alert(1)" not in body and "<img src=x" not in body and "<b>bold" not in body, url


def test_editing_a_lead_records_old_and_new_values_in_the_timeline(as_member, make_lead, member):
    lead = make_lead(first_name="Ada", email="ada@old.example", value="100")
    response = as_member.post(f"/leads/{lead.id}/edit", {
        "first_name": "Ada", "last_name": "Lead", "email": "ada@new.example", "value": "250", "version": lead.version})
    assert response.status_code == 302
    db.session.refresh(lead)
    assert lead.email == "ada@new.example" and lead.value == Decimal("250.00")
    entry = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "updated")).one()
    assert entry.actor_id == member.id
    assert entry.data["changes"] == {"email": ["ada@old.example", "ada@new.example"], "value": ["100.00", "250.00"]}
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "ada@old.example" in page and "Max Member" in page


def test_an_edit_based_on_an_old_version_is_refused_and_saves_nothing(as_member, make_lead, member):
    lead = make_lead(first_name="Ada", email="ada@example.com")
    lead_service.update_lead(lead.id, {"email": "ada@theirs.example"}, member.id)
    response = as_member.post(f"/leads/{lead.id}/edit", {"first_name": "Ada", "email": "ada@mine.example",
                                                           "version": 1}, htmx=True)
    assert response.status_code == 422 and "Someone else edited this lead" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.email == "ada@theirs.example"


def test_an_unknown_lead_is_a_friendly_404(as_member):
    response = as_member.get("/leads/999999")
    assert response.status_code == 404 and "does not exist" in response.get_data(as_text=True)
    assert as_member.post("/leads/999999/claim").status_code == 404


def test_notes_are_kept_and_count_as_first_response(as_member, make_lead, member):
    lead = make_lead()
    assert lead.first_response_at is None
    response = as_member.post(f"/leads/{lead.id}/notes", {"body": "Called <b>twice</b>, left voicemail"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "Called &lt;b&gt;twice&lt;/b&gt;, left voicemail" in body and 'hx-swap-oob="true"' in body
    db.session.refresh(lead)
    assert lead.first_response_at is not None
    assert timeline_kinds(lead) == ["created", "note"]
    empty = as_member.post(f"/leads/{lead.id}/notes", {"body": "   "}, htmx=True)
    assert empty.status_code == 422 and "Write something" in empty.get_data(as_text=True)


def test_a_note_saved_by_htmx_hands_the_lead_pages_stage_form_its_new_version(as_member, make_lead, stages):
    lead = make_lead()
    before = lead.version
    body = as_member.post(f"/leads/{lead.id}/notes", {"body": "Left a voicemail", "version": before},
                          htmx=True).get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.version > before
    assert f'data-lead-version="{lead.version}"' in body
    moved = as_member.post("/board/move", {"lead_id": lead.id, "stage_id": stages["Contacted"].id,
                                           "version": lead.version, "next": f"/leads/{lead.id}"})
    assert moved.status_code == 302
    db.session.refresh(lead)
    assert lead.stage_id == stages["Contacted"].id


@pytest.mark.parametrize("change", ["note", "activity", "tag"])
def test_a_change_from_a_stale_lead_page_keeps_its_old_version_so_the_next_move_is_refused(
        as_member, make_lead, stages, change):
    """The page loaded at version v; a teammate then changed the lead. Saving a note (or an activity,
    or a tag) from the page must not hand it the new version, or its next move would overwrite the
    teammate's change instead of saying someone else changed the lead."""
    lead = make_lead()
    seen = lead.version
    lead_service.update_lead(lead.id, {"first_name": "Renamed"}, None, expected_version=seen)
    db.session.commit()
    url, data = {"note": (f"/leads/{lead.id}/notes", {"body": "Left a voicemail"}),
                 "activity": (f"/leads/{lead.id}/activities", {"kind": "call", "outcome": "no_answer"}),
                 "tag": (f"/leads/{lead.id}/tags", {"tags": "vip"})}[change]
    body = as_member.post(url, {**data, "version": seen}, htmx=True).get_data(as_text=True)
    assert "data-lead-version" not in body
    moved = as_member.post("/board/move", {"lead_id": lead.id, "stage_id": stages["Contacted"].id,
                                           "version": seen, "next": f"/leads/{lead.id}"}, htmx=True)
    assert moved.status_code == 409 and "changed" in moved.headers.get("HX-Trigger", "") + moved.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.stage_id != stages["Contacted"].id


def test_claiming_a_pooled_lead_makes_the_claimer_its_owner(as_member, make_lead, member):
    lead = make_lead()
    response = as_member.post(f"/leads/{lead.id}/claim", htmx=True)
    assert response.status_code == 200 and f'id="lead-row-{lead.id}"' in response.get_data(as_text=True)
    assert 'id="flash"' in response.get_data(as_text=True) and "is now yours" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.owner_id == member.id
    assert timeline_kinds(lead) == ["created", "claimed"]


def test_claiming_a_lead_someone_else_claimed_says_who(as_member, make_lead, make_user):
    rival = make_user(name="Rita Rival")
    lead = make_lead()
    lead_service.claim_lead(lead.id, rival.id)
    response = as_member.post(f"/leads/{lead.id}/claim", htmx=True)
    assert response.status_code == 409
    assert "Rita Rival claimed this lead first" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.owner_id == rival.id


def test_two_simultaneous_claims_have_exactly_one_winner(app, make_lead, make_user):
    lead_id = make_lead().id
    people = [make_user().id for _ in range(6)]
    results, barrier = [], threading.Barrier(len(people))

    def claim(user_id):
        with app.app_context():
            barrier.wait()
            try:
                lead_service.claim_lead(lead_id, user_id)
                results.append(("won", user_id))
            except lead_service.LeadAlreadyClaimed as exc:
                results.append(("lost", exc.owner_name))
            except Exception as exc:  # SQLite may report a lock instead; that is still "not won"
                results.append(("error", type(exc).__name__))

    threads = [threading.Thread(target=claim, args=(p,)) for p in people]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [r for r in results if r[0] == "won"]
    assert len(winners) == 1, results
    lead = db.session.get(Lead, lead_id)
    db.session.refresh(lead)
    assert lead.owner_id == winners[0][1]
    assert timeline_kinds(lead).count("claimed") == 1


def test_assigning_to_a_teammate_and_back_to_the_pool_is_recorded(as_member, make_lead, make_user):
    teammate = make_user(name="Tom Teammate")
    lead = make_lead()
    assert as_member.post(f"/leads/{lead.id}/assign", {"owner": str(teammate.id)}).status_code == 302
    db.session.refresh(lead)
    assert lead.owner_id == teammate.id
    assert as_member.post(f"/leads/{lead.id}/assign", {"owner": ""}).status_code == 302
    db.session.refresh(lead)
    assert lead.owner_id is None
    entries = db.session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "assigned")
                                 .order_by(TimelineEntry.id)).all()
    assert [(e.data["from"], e.data["to"]) for e in entries] == [(None, "Tom Teammate"), ("Tom Teammate", None)]


def test_assigning_to_a_deactivated_or_unknown_user_is_refused(as_member, make_lead, make_user):
    from app.services.users import set_active
    gone = make_user()
    set_active(gone.id, False)
    lead = make_lead()
    for owner in (str(gone.id), "999999", "abc"):
        response = as_member.post(f"/leads/{lead.id}/assign", {"owner": owner}, htmx=True)
        assert response.status_code in (400, 404) and "teammate" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.owner_id is None


def test_bulk_assign_and_bulk_move_change_every_selected_lead(as_member, make_lead, make_user, stages):
    teammate = make_user(name="Tom Teammate")
    chosen = [make_lead(first_name=f"Pick{i}") for i in range(3)]
    other = make_lead(first_name="Leave")
    ids = [str(lead.id) for lead in chosen]
    response = as_member.post("/leads/bulk", {"lead_ids": ids, "action": "assign", "owner": str(teammate.id)},
                              htmx=True)
    assert response.status_code == 200 and "Assigned 3 leads." in response.get_data(as_text=True)
    response = as_member.post("/leads/bulk", {"lead_ids": ids, "action": "move", "stage": str(stages["Qualified"].id)},
                              htmx=True)
    assert "Moved 3 leads to Qualified." in response.get_data(as_text=True)
    for lead in chosen:
        db.session.refresh(lead)
        assert (lead.owner_id, lead.stage_id) == (teammate.id, stages["Qualified"].id)
        assert timeline_kinds(lead) == ["created", "assigned", "stage_changed"]
    db.session.refresh(other)
    assert (other.owner_id, other.stage_id) == (None, stages["New"].id)


def test_bulk_actions_with_nothing_selected_or_a_tampered_stage_are_refused(as_member, make_lead, stages):
    lead = make_lead()
    nothing = as_member.post("/leads/bulk", {"action": "assign", "owner": ""}, htmx=True)
    assert nothing.status_code == 400 and "Select at least one lead" in nothing.get_data(as_text=True)
    tampered = as_member.post("/leads/bulk", {"lead_ids": [str(lead.id)], "action": "move", "stage": "999999"},
                              htmx=True)
    assert tampered.status_code == 404 and "stage no longer exists" in tampered.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.stage_id == stages["New"].id


def test_a_missing_csrf_token_changes_nothing(as_member, make_lead):
    lead = make_lead()
    response = as_member.post(f"/leads/{lead.id}/claim", csrf=False)
    assert response.status_code == 400
    db.session.refresh(lead)
    assert lead.owner_id is None


# --- the pool ---------------------------------------------------------------------------------


def names_in(body: str) -> list[str]:
    return re.findall(r'<td class="pool-name"[^>]*><a href="/leads/\d+">([^<]+)</a>', body)


def test_the_pool_searches_filters_and_sorts(as_member, make_lead, make_user, stages, member):
    make_lead(first_name="Alice", last_name="Ng", company="Acme", value="300", source="Referral")
    make_lead(first_name="Bob", last_name="Stone", company="Acme", value="100", stage="Qualified", owner=member)
    make_lead(first_name="Cara", last_name="Diaz", company="Globex", value="200", phone="+1 415 555 0199")
    assert names_in(as_member.get("/leads?q=acme&sort=value&dir=asc").get_data(as_text=True)) == ["Bob Stone", "Alice Ng"]
    assert names_in(as_member.get("/leads?q=(415) 555-0199").get_data(as_text=True)) == ["Cara Diaz"]
    one_letter = as_member.get("/leads?q=e").get_data(as_text=True)
    assert names_in(one_letter) == [] and "There is nothing to search for in “e”" in one_letter
    assert names_in(as_member.get("/leads?q=alice ng").get_data(as_text=True)) == ["Alice Ng"]
    assert names_in(as_member.get(f"/leads?stage={stages['Qualified'].id}").get_data(as_text=True)) == ["Bob Stone"]
    assert names_in(as_member.get("/leads?owner=none&sort=name&dir=asc").get_data(as_text=True)) == ["Cara Diaz", "Alice Ng"]
    assert names_in(as_member.get("/leads?owner=me").get_data(as_text=True)) == ["Bob Stone"]
    assert names_in(as_member.get("/leads?source=Referral").get_data(as_text=True)) == ["Alice Ng"]


def test_filtering_with_htmx_swaps_only_the_table(as_member, make_lead):
    make_lead(first_name="Alice")
    response = as_member.get("/leads?q=alice", htmx=True)
    body = response.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<div id="lead-table"') and "Alice" in body
    assert "HX-Request" in response.headers["Vary"]
    # A reload or shared link of the same URL gets the whole page, with the filter still applied.
    page = as_member.get("/leads?q=alice").get_data(as_text=True)
    assert "<html" in page and 'value="alice"' in page and "Alice" in page


def test_the_pool_pages_through_every_lead(app, as_member, stages):
    from app.services.demo import bulk_leads
    bulk_leads(120, [], list(stages.values()), notes=False)
    seen, url = [], "/leads?sort=created&dir=asc"
    while url:
        body = as_member.get(url).get_data(as_text=True)
        assert "120 leads" in body
        seen += re.findall(r'id="lead-row-(\d+)"', body)
        found = re.search(r'<a href="([^"]+)" data-pool-page rel="next">', body)
        url = found and found.group(1).replace("&amp;", "&")
    assert len(seen) == 120 and len(set(seen)) == 120


@pytest.mark.parametrize("query", ["stage=x", "owner=robert'); drop", "sort=evil", "dir=sideways"])
def test_tampered_pool_filters_get_the_pool_with_a_clear_message(as_member, query):
    response = as_member.get(f"/leads?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="lead-table"' in page
    assert re.search(r'<p class="error"( id="[\w-]+-error"| role="alert")>[^<]+', page)
    # An action on the filtered leads (an export) cannot leave a filter out: it refuses, naming it.
    export = as_member.get(f"/leads/export.csv?{query}")
    assert export.status_code == 400 and "filter is not valid" in export.get_data(as_text=True)


def test_the_empty_pool_says_what_to_do_next(as_member, stages):
    body = as_member.get("/leads").get_data(as_text=True)
    assert "No leads yet" in body and "Add your first lead" in body
    body = as_member.get("/leads?q=nobody").get_data(as_text=True)
    assert "No leads match these filters" in body


def test_losing_a_claim_race_swaps_the_row_to_show_the_new_owner(as_member, make_lead, make_user):
    rival = make_user(name="Rita Rival")
    lead = make_lead()
    lead_service.claim_lead(lead.id, rival.id)
    response = as_member.post(f"/leads/{lead.id}/claim", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "<html" not in body
    row = body[body.index(f'id="lead-row-{lead.id}"'):]
    row = row[:row.index("</tr>")]
    assert "Rita Rival" in row and "Claim" not in row
    assert "Rita Rival claimed this lead first" in body  # the notice rides along


def test_an_old_page_number_shows_the_first_page_and_the_address_follows(as_member, make_lead):
    for i in range(3):
        make_lead(first_name=f"John{i}", last_name="Smith")
    plain = as_member.get("/leads?q=john&page=4")
    assert plain.status_code == 302 and plain.headers["Location"] == "/leads?q=john"
    swapped = as_member.get("/leads?q=john&page=4", htmx=True)
    body = swapped.get_data(as_text=True)
    assert swapped.status_code == 200 and swapped.headers["HX-Push-Url"] == "/leads?q=john"
    assert body.count('id="lead-row-') == 3 and "No leads match" not in body


def test_the_lead_page_offers_claim_only_for_a_pool_lead(as_member, make_lead, member):
    pooled, owned = make_lead(first_name="Pooled"), make_lead(first_name="Owned", owner=member)
    assert "Claim this lead" in as_member.get(f"/leads/{pooled.id}").get_data(as_text=True)
    assert "Claim this lead" not in as_member.get(f"/leads/{owned.id}").get_data(as_text=True)
