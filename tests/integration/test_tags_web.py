"""Tags through the pages: inline on the lead page (htmx and plain posts), on board cards and pool rows,
the pool's tag filter with keyset paging, and the pool's bulk bar."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import TimelineEntry
from app.services import tags as tag_service
from app.services.tags import MAX_PER_LEAD, tags_for


def section(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start:page.index("</section>", start)]


def test_adding_tags_inline_swaps_the_panel_and_the_timeline(as_member, make_lead):
    lead = make_lead()
    response = as_member.post(f"/leads/{lead.id}/tags", {"tags": "VIP, trade show"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "Remove tag VIP" in body and "Remove tag trade show" in body
    assert 'id="timeline"' in body and "hx-swap-oob" in body and "Tagged trade show, VIP." in body
    assert tags_for([lead.id])[lead.id] == ["trade show", "VIP"]


def test_a_bad_tag_is_refused_beside_the_box_with_422_and_nothing_saved(as_member, make_lead):
    lead = make_lead()
    response = as_member.post(f"/leads/{lead.id}/tags", {"tags": "fine, <bad>"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "<html" not in body
    assert 'aria-invalid="true"' in body and 'id="tags-error"' in body and "Tags may hold letters" in body
    assert 'value="fine, &lt;bad&gt;"' in body  # what they typed stays in the box
    empty = as_member.post(f"/leads/{lead.id}/tags", {"tags": "  "}, htmx=True)
    assert empty.status_code == 422 and "Type a tag first." in empty.get_data(as_text=True)
    too_many = as_member.post(f"/leads/{lead.id}/tags", {"tags": ",".join(f"t{n}" for n in range(3000))}, htmx=True)
    assert too_many.status_code == 422 and f"at most {MAX_PER_LEAD} tags" in too_many.get_data(as_text=True)
    assert tags_for([lead.id])[lead.id] == []


def test_removing_a_tag_inline_names_it_and_records_it(as_member, make_lead):
    lead = make_lead()
    tag_service.add_tags(lead.id, "vip, hot", None)
    response = as_member.post(f"/leads/{lead.id}/tags/remove", {"name": "vip"}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "Remove tag vip" not in body and "Remove tag hot" in body and "Removed the tag vip." in body
    assert tags_for([lead.id])[lead.id] == ["hot"]


def test_without_javascript_tag_posts_redirect_back_and_a_refusal_shows_the_whole_page(as_member, make_lead):
    lead = make_lead()
    added = as_member.post(f"/leads/{lead.id}/tags", {"tags": "vip"})
    assert added.status_code == 302 and added.headers["Location"].endswith(f"/leads/{lead.id}")
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Tagged vip." in page and "Remove tag vip" in section(page, "lead-tags")
    refused = as_member.post(f"/leads/{lead.id}/tags", {"tags": "x" * 41})
    assert refused.status_code == 422 and "<html" in refused.get_data(as_text=True)
    assert "Keep each tag to 40 characters" in refused.get_data(as_text=True)
    removed = as_member.post(f"/leads/{lead.id}/tags/remove", {"name": "VIP"})
    assert removed.status_code == 302 and tags_for([lead.id])[lead.id] == []


def test_tag_posts_need_the_csrf_token(as_member, make_lead):
    lead = make_lead()
    assert as_member.post(f"/leads/{lead.id}/tags", {"tags": "vip"}, csrf=False).status_code == 400
    assert tags_for([lead.id])[lead.id] == []


def test_suggestions_match_the_last_tag_being_typed_most_used_first(as_member, make_lead):
    a, b = make_lead(), make_lead()
    tag_service.bulk_tag([a.id, b.id], "Trade show", None)
    tag_service.add_tags(a.id, "Showroom, vip", None)
    body = as_member.get("/leads/tags/suggestions?tags=vip,%20sho", htmx=True).get_data(as_text=True)
    assert re.findall(r'<option value="([^"]+)"', body) == ["Trade show", "Showroom"]
    page = as_member.get(f"/leads/{a.id}").get_data(as_text=True)
    assert '<datalist id="tag-suggestions">' in page and '<option value="vip">' in page


def test_board_cards_and_pool_rows_show_tags_loaded_in_one_query(as_member, make_lead, count_queries):
    leads = [make_lead(first_name=f"Card{n}") for n in range(6)]
    tag_service.bulk_tag([lead.id for lead in leads], "vip", None)
    tag_service.add_tags(leads[0].id, "hot", None)
    with count_queries() as few:
        as_member.get("/board")
    tag_service.bulk_tag([make_lead().id for _ in range(6)], "more", None)
    with count_queries() as more:
        board = as_member.get("/board").get_data(as_text=True)
    assert more.count == few.count
    card = board[board.index(f'id="card-{leads[0].id}"'):]
    card = card[:card.index("</li>\n") if "</li>\n" in card else None]
    assert '<li class="tag">hot</li>' in card and '<li class="tag">vip</li>' in card
    pool = as_member.get("/leads").get_data(as_text=True)
    row = pool[pool.index(f'id="lead-row-{leads[0].id}"'):]
    row = row[:row.index("</tr>")]
    assert '<li class="tag">hot</li>' in row


@pytest.fixture
def small_pages(app):
    app.config["PAGE_SIZE"] = 3
    yield
    app.config["PAGE_SIZE"] = 50


def test_the_pool_filters_by_tag_in_any_case_and_pages_by_keyset_keeping_it(as_member, make_lead, small_pages):
    tagged = [make_lead(first_name=f"Tagged{n}") for n in range(7)]
    make_lead(first_name="Plain")
    tag_service.bulk_tag([lead.id for lead in tagged], "Trade show", None)
    seen, url = [], "/leads?tag=trade+SHOW"
    while url:
        page = as_member.get(url).get_data(as_text=True)
        assert "Plain Lead" not in page
        seen += re.findall(r'id="lead-row-(\d+)"', page)
        found = re.search(r'<a href="([^"]+)" data-pool-page rel="next">', page)
        url = html.unescape(found.group(1)) if found else None
        if url:
            assert "tag=trade+SHOW" in url
    assert sorted(map(int, seen)) == sorted(lead.id for lead in tagged) and len(seen) == 7
    nothing = as_member.get("/leads?tag=nobody-has-this").get_data(as_text=True)
    assert "No leads match these filters." in nothing
    too_long = as_member.get("/leads?tag=" + "x" * 101)
    assert too_long.status_code == 422 and 'id="f-tag-error"' in too_long.get_data(as_text=True)


def test_the_bulk_bar_adds_and_removes_tags_on_the_selected_leads(as_member, make_lead):
    chosen, other = [make_lead(first_name=f"Pick{n}") for n in range(3)], make_lead(first_name="Leave")
    ids = [str(lead.id) for lead in chosen]
    response = as_member.post("/leads/bulk", {"lead_ids": ids, "action": "tag", "tags": "vip, Hot"}, htmx=True)
    assert response.status_code == 200 and "Tagged 3 leads." in response.get_data(as_text=True)
    assert "<html" not in response.get_data(as_text=True)
    assert tags_for([*map(int, ids), other.id]) == {**{int(i): ["Hot", "vip"] for i in ids}, other.id: []}
    response = as_member.post("/leads/bulk", {"lead_ids": ids[:2], "action": "untag", "tags": "hot"}, htmx=True)
    assert "Removed the tags from 2 leads." in response.get_data(as_text=True)
    assert tags_for([int(ids[0]), int(ids[2])]) == {int(ids[0]): ["vip"], int(ids[2]): ["Hot", "vip"]}
    kinds = list(db.session.scalars(select(TimelineEntry.kind).where(TimelineEntry.lead_id == int(ids[0]))
                                    .order_by(TimelineEntry.id)))
    assert kinds == ["created", "tagged", "untagged"]
    refused = as_member.post("/leads/bulk", {"lead_ids": ids, "action": "tag", "tags": "<x>"}, htmx=True)
    assert refused.status_code in (400, 422) and "Tags may hold letters" in refused.get_data(as_text=True)
    no_tags = as_member.post("/leads/bulk", {"lead_ids": ids, "action": "tag", "tags": ""}, htmx=True)
    assert "Type the tags to add." in no_tags.get_data(as_text=True)


# --- the admin's tag list ---------------------------------------------------------------------


def test_members_cannot_reach_the_tag_settings(as_member, make_lead):
    lead = make_lead()
    tag_service.add_tags(lead.id, "vip", None)
    vip = tag_service.find_tag("vip")
    assert as_member.get("/settings/tags").status_code == 403
    assert as_member.post(f"/settings/tags/{vip.id}/delete").status_code == 403
    assert tags_for([lead.id])[lead.id] == ["vip"]


def test_an_admin_finds_and_renames_a_tag_inline_and_a_clash_is_refused_beside_the_field(as_admin, make_lead):
    lead = make_lead()
    tag_service.add_tags(lead.id, "vip, hot", None)
    vip = tag_service.find_tag("vip")
    page = as_admin.get("/settings/tags").get_data(as_text=True)
    assert "on 1 lead" in page and "Rename<span class=\"visually-hidden\"> vip</span>" in page
    found = as_admin.get("/settings/tags?q=VI", htmx=True).get_data(as_text=True)
    hot = tag_service.find_tag("hot")
    # The other tag's row is not listed (its name alone could be a fragment of a random CSRF token).
    assert "<html" not in found and f'id="tag-{vip.id}"' in found and f'id="tag-{hot.id}"' not in found
    renamed = as_admin.post(f"/settings/tags/{vip.id}", {f"tag{vip.id}-name": "Key account"}, htmx=True)
    body = renamed.get_data(as_text=True)
    assert renamed.status_code == 200 and "<html" not in body and "Renamed the tag vip to Key account." in body
    assert tags_for([lead.id])[lead.id] == ["hot", "Key account"]
    clash = as_admin.post(f"/settings/tags/{vip.id}", {f"tag{vip.id}-name": "HOT"}, htmx=True)
    body = clash.get_data(as_text=True)
    assert clash.status_code == 422 and 'aria-invalid="true"' in body and "There is already a tag" in body
    bad = as_admin.post(f"/settings/tags/{vip.id}", {f"tag{vip.id}-name": "a,b"}, htmx=True)
    assert bad.status_code == 422 and "Tags may hold letters" in bad.get_data(as_text=True)
    gone = as_admin.post("/settings/tags/999999", {"tag999999-name": "x"}, htmx=True)  # deleted meanwhile
    assert gone.status_code == 422 and 'id="tag-list-refused"' in gone.get_data(as_text=True)


def test_deleting_a_tag_asks_first_then_takes_it_off_every_lead_with_a_timeline_entry(as_admin, make_lead):
    a, b = make_lead(), make_lead()
    tag_service.bulk_tag([a.id, b.id], "vip", None)
    vip = tag_service.find_tag("vip")
    ask = as_admin.get(f"/settings/tags/{vip.id}/delete").get_data(as_text=True)
    assert "2 leads carry it" in ask
    assert tags_for([a.id])[a.id] == ["vip"]
    done = as_admin.post(f"/settings/tags/{vip.id}/delete")
    assert done.status_code == 302 and tag_service.find_tag("vip") is None
    assert tags_for([a.id, b.id]) == {a.id: [], b.id: []}
    page = as_admin.get(f"/leads/{a.id}").get_data(as_text=True)
    assert "The tag vip was deleted by an admin." in page
    assert "No tags yet." in as_admin.get("/settings/tags").get_data(as_text=True)


def test_a_member_who_sees_only_their_leads_is_not_suggested_a_teammates_tags(as_member, admin, member, make_lead):
    from app.services import atomic, team_settings
    from app.services import tags as tag_service
    team_settings.save("UTC", None, member_permissions={"see_all_leads": False})
    secret = make_lead(owner=admin, first_name="Hidden")
    mine = make_lead(owner=member, first_name="Mine")
    pool = make_lead(owner=None, first_name="Pooled")
    tag_service.add_tags(secret.id, ["secretdeal acme"], admin.id)
    tag_service.add_tags(mine.id, ["secret plan"], member.id)
    tag_service.add_tags(pool.id, ["secret pool"], admin.id)
    with atomic():
        tag_service.ensure_tags(["secret unused"])
    options = as_member.get("/leads/tags/suggestions?tags=secr").get_data(as_text=True)
    assert "secret plan" in options and "secret pool" in options and "secret unused" in options
    assert "secretdeal" not in options
    assert "secretdeal acme" in tag_service.suggestions("secr")  # an admin's view: every tag
