"""One way to show a notice after an htmx swap (issue 9, section 2): the flash area, swapped out of
band from app.web.with_notice, whatever the main swap was; and templates get decisions, not roles."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import TimelineEntry
from app.services import merge as merge_service

FLASH = re.compile(r'<template><div id="flash" class="flash-area" role="status" aria-live="polite" '
                   r'hx-swap-oob="innerHTML">\s*<p class="flash flash-(\w+)">([^<]*)</p>\s*</div></template>')


def notice_in(response) -> tuple[str, str]:
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert "HX-Trigger" not in response.headers and "HX-Retarget" not in response.headers
    [found] = FLASH.findall(body)
    return found


def test_claiming_from_the_pool_swaps_the_row_and_the_notice_rides_along(as_member, make_lead):
    lead = make_lead(first_name="Nora")
    response = as_member.post(f"/leads/{lead.id}/claim", htmx=True)
    assert f'<tr id="lead-row-{lead.id}" class="pool-row">' in response.get_data(as_text=True)
    assert notice_in(response) == ("success", "Nora Lead is now yours.")


def test_a_bulk_action_swaps_the_table_and_the_notice_rides_along(as_member, make_lead, member):
    lead = make_lead()
    response = as_member.post("/leads/bulk", {"lead_ids": [str(lead.id)], "action": "assign", "owner": str(member.id)},
                              htmx=True)
    assert 'id="lead-table"' in response.get_data(as_text=True)
    assert notice_in(response) == ("success", "Assigned 1 lead.")


def test_moving_a_card_answers_with_columns_and_the_notice(as_member, make_lead, stages):
    lead = make_lead(first_name="Mo")
    response = as_member.post("/board/move", {"lead_id": lead.id, "stage_id": stages["Qualified"].id,
                                              "after_id": "", "version": lead.version,
                                              "from_stage_id": stages["New"].id, "owner": "", "shown": 1},
                              htmx=True)
    assert response.status_code == 200 and response.headers["HX-Reswap"] == "none"
    assert notice_in(response) == ("success", "Moved Mo Lead to Qualified.")


def test_reordering_stages_and_revoking_a_key_use_the_same_notice(as_admin, stages, admin):
    ids = [str(s.id) for s in reversed(list(stages.values()))]
    response = as_admin.post("/settings/stages/order", {"stage_ids": ids}, htmx=True)
    assert 'id="stage-list-wrap"' in response.get_data(as_text=True)
    assert notice_in(response) == ("success", "Stage order saved.")

    from app.services.api_keys import create_key
    key, _ = create_key("Zapier", created_by_id=admin.id)
    response = as_admin.post(f"/settings/api-keys/{key.id}/revoke", htmx=True)
    assert notice_in(response) == ("success", "Revoked the API key Zapier. Requests using it now get 401.")


def test_an_error_for_an_htmx_request_is_only_a_notice(as_member):
    response = as_member.post("/leads/999999/claim", htmx=True)
    assert response.status_code == 404 and response.headers["HX-Reswap"] == "none"
    category, message = notice_in(response)
    assert category == "error" and message


def test_a_plain_request_gets_no_out_of_band_markup(as_member, make_lead):
    lead = make_lead()
    response = as_member.post(f"/leads/{lead.id}/claim")
    assert response.status_code == 302 and b"hx-swap-oob" not in response.data


@pytest.mark.parametrize("age, offered", [(timedelta(days=29), True), (timedelta(days=31), False)])
def test_the_lead_page_is_told_which_merges_can_be_undone(as_member, make_lead, member, age, offered):
    kept, other = make_lead(first_name="Kept"), make_lead(first_name="Other")
    merge_service.merge_leads(kept.id, other.id, {}, member.id)
    entry = db.session.scalar(select(TimelineEntry).where(TimelineEntry.lead_id == kept.id,
                                                          TimelineEntry.kind == "merged"))
    entry.created_at -= age
    db.session.commit()
    assert (entry.id in merge_service.undoable([entry])) is offered
    page = as_member.get(f"/leads/{kept.id}").get_data(as_text=True)
    assert ("Undo merge" in page) is offered


def test_members_are_not_shown_admin_links(as_member, stages):
    page = as_member.get("/board").get_data(as_text=True)
    assert "/settings/stages" not in page and "/outbox" not in page


def test_admins_are_shown_admin_links(as_admin, stages):
    page = as_admin.get("/board").get_data(as_text=True)
    assert 'href="/settings/stages"' in page and 'href="/outbox"' in page
