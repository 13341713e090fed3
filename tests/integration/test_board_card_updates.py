"""The board as a new user meets it: "My leads" with nothing of one's own says to claim leads from the
pool, the folded filter panel says how many filters are on, and a task added from a card's menu
updates that card's next-task time in the same reply."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Task
from tests.integration.test_board_paging import column_html


def test_my_leads_with_none_of_mine_says_to_claim_from_the_pool_not_to_drag(as_member, make_lead, member, stages):
    make_lead(first_name="Pooled")
    make_lead(first_name="Mine", owner=member, stage="Qualified")
    body = as_member.get("/board?owner=me").get_data(as_text=True)
    empty = column_html(body, stages["New"])
    assert "None of your leads are in this stage." in empty and "Drag a card in" not in empty
    assert re.search(r'<a href="/leads\?owner=none">Claim leads from the pool</a>', empty)
    assert "You have no leads on the board yet" not in body  # one of mine is in Qualified

    assert "Mine Lead" in column_html(body, stages["Qualified"])
    everyone = column_html(as_member.get("/board").get_data(as_text=True), stages["Contacted"])
    assert "Drag a card in" in everyone and "Claim leads" not in everyone


def test_my_leads_with_no_leads_at_all_says_so_once_with_the_pool_link(as_member, make_lead, stages):
    make_lead(first_name="Pooled")
    body = as_member.get("/board?owner=me").get_data(as_text=True)
    assert re.search(r'You have no leads on the board yet\. <a href="/leads\?owner=none">Claim leads from the pool</a>',
                     body)


def test_the_filter_panel_says_how_many_filters_are_on(as_member, make_lead, stages):
    make_lead(first_name="Ann")
    plain = as_member.get("/board").get_data(as_text=True)
    assert 'data-fold-narrow="0"' in plain and '<span id="board-filter-count"></span>' in plain
    page = as_member.get("/board?tag=vip&min_score=10&sort=score").get_data(as_text=True)
    assert 'data-fold-narrow="3"' in page and "(3 on)" in page
    # The board swapped alone brings the count along, out of band.
    fragment = as_member.get("/board?band=Hot", htmx=True).get_data(as_text=True)
    assert '<span id="board-filter-count" hx-swap-oob="true"> (1 on)</span>' in fragment and "<html" not in fragment


def test_a_task_added_from_a_cards_menu_updates_the_cards_next_task_in_the_same_reply(as_member, member, make_lead):
    lead = make_lead(owner=member, first_name="Card")
    board = as_member.get("/board").get_data(as_text=True)
    assert f'<span id="card-task-{lead.id}" class="card-task"></span>' in board  # a place for it, empty
    day = (datetime.utcnow() + timedelta(days=1)).date().isoformat()
    reply = as_member.post(f"/leads/{lead.id}/tasks", data={"title": "Call back", "kind": "call", "due_at": day,
                                                            "due_time": "09:00", "owner_id": str(member.id),
                                                            "where": "board"}, htmx=True)
    body = reply.get_data(as_text=True)
    task = db.session.scalar(select(Task))
    assert reply.status_code == 200 and task.title == "Call back" and "<html" not in body
    card = re.search(rf'<span id="card-task-{lead.id}" class="card-task" hx-swap-oob="true">.*?</span>\s*$', body,
                     re.S | re.M)
    assert card and "Next: " in card.group(0) and f'datetime="{task.due_at.isoformat()}Z"' in card.group(0)
    # From the lead page the panel is swapped as before, and no card piece rides along.
    other = as_member.post(f"/leads/{lead.id}/tasks", data={"title": "Email", "kind": "email", "due_at": day,
                                                            "due_time": "10:00", "owner_id": str(member.id),
                                                            "where": "lead"}, htmx=True).get_data(as_text=True)
    assert "card-task-" not in other
