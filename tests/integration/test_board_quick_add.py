"""Quick add on the board: a lead straight into a column, with its owner, through the manual-entry
capture path (so the same person is recognised, not duplicated); refused for won and lost columns
and for teams whose custom fields are required (they get the full form)."""
import html
import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import Lead, TimelineEntry
from app.services import custom_fields as cf
from app.services.custom_fields import FieldSettings
from tests.integration.test_board_paging import card_ids, column_html


def add(web, stage, **data):
    return web.post(f"/board/columns/{stage.id}/new", {"name": "", "company": "", "email": "", "owner": "me",
                                                      "view": "", **data}, htmx=True)


def test_a_quick_add_puts_a_new_lead_in_the_column_owned_as_chosen(as_member, member, make_user, stages):
    mate = make_user(name="Tom Mate")
    db.session.commit()
    response = add(as_member, stages["Contacted"], name="Quinn  Quick Jr", company="Acme", email="Quinn@Example.com")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body, body
    assert "Added Quinn Quick Jr to Contacted." in body and response.headers["HX-Reswap"] == "none"
    lead = db.session.scalars(select(Lead).where(Lead.email == "quinn@example.com")).one()
    assert (lead.first_name, lead.last_name, lead.company) == ("Quinn", "Quick Jr", "Acme")
    assert lead.stage_id == stages["Contacted"].id and lead.owner_id == member.id
    assert card_ids(column_html(body, stages["Contacted"]))[0] == lead.id  # the column, refreshed out of band
    assert f'data-focus="card-{lead.id}"' in body
    assert db.session.scalar(select(func.count()).select_from(TimelineEntry).where(TimelineEntry.lead_id == lead.id)) >= 1
    add(as_member, stages["New"], name="Pat Pool", owner="none")
    add(as_member, stages["New"], name="Mo Mate", owner=str(mate.id))
    owners = dict(db.session.execute(select(Lead.first_name, Lead.owner_id).where(Lead.first_name.in_(["Pat", "Mo"]))).all())
    assert owners == {"Pat": None, "Mo": mate.id}


def test_a_quick_add_of_someone_known_makes_no_twin(as_member, make_lead, stages):
    known = make_lead(first_name="Kim", last_name="Known", email="kim@example.com", stage="Qualified")
    response = add(as_member, stages["New"], name="Kim K", email="KIM@example.com ")
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "already a lead (same email)" in body
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1
    db.session.refresh(known)
    assert known.stage_id == stages["Qualified"].id


def test_a_refused_quick_add_says_why_beside_the_field_and_saves_nothing(as_member, stages, make_user):
    for data, field, message in [({}, "name", "Give the lead a name, a company or an email."),
                                 ({"name": "Ann", "email": "not-an-email"}, "email", ""),
                                 ({"name": "Ann", "owner": "999999"}, "owner", "Choose a teammate"),
                                 ({"name": "Ann", "owner": "someone"}, "owner", "Choose a teammate")]:
        response = add(as_member, stages["New"], **data)
        body = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 422 and "<html" not in body, data
        assert re.search(rf'<p class="error" id="qa-{stages["New"].id}-{field}-error">[^<]*{re.escape(message)}', body), (data, body)
        assert f'id="qa-{stages["New"].id}-{field}"' in body and 'aria-invalid="true"' in body
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 0


def test_won_and_lost_columns_and_required_custom_fields_send_people_to_the_full_form(as_member, stages):
    board = as_member.get("/board").get_data(as_text=True)
    assert f'/board/columns/{stages["New"].id}/new' in board
    assert f'/board/columns/{stages["Won"].id}/new' not in board and f'/board/columns/{stages["Lost"].id}/new' not in board
    refused = add(as_member, stages["Won"], name="Will Win")
    assert refused.status_code == 400 and "closed stage" in html.unescape(refused.get_data(as_text=True))
    cf.create_field(FieldSettings("Budget", key="budget", kind="number", required=True))
    db.session.commit()
    board = as_member.get("/board").get_data(as_text=True)
    assert f'/board/columns/{stages["New"].id}/new' not in board and 'class="quick-add-link" href="/leads/new"' in board
    refused = add(as_member, stages["New"], name="Rita Required")
    assert refused.status_code == 400 and "requires Budget" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 0


def test_without_javascript_the_quick_add_is_a_page_of_its_own_that_returns_to_the_board(as_member, stages):
    page = as_member.get(f"/board/columns/{stages['New'].id}/new?owner=none&q=zed").get_data(as_text=True)
    assert "<html" in page and "Add a lead to New" in page and '<option value="none" selected>' in page
    response = as_member.post(f"/board/columns/{stages['New'].id}/new",
                              {"name": "Zed Zero", "company": "", "email": "", "owner": "none", "view": "owner=none&q=zed"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/board?q=zed&owner=none")
    assert db.session.scalars(select(Lead.owner_id).where(Lead.first_name == "Zed")).one() is None
