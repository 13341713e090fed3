"""Won and lost: moving a lead to a won or lost stage asks for what closing records (the value and day
won; why and when lost), from the board (a dialog), the lead page (a page of its own), the pool and
the API; reopening clears it; closed leads leave the board after the team's period."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import Lead, LostReason, TeamSettings, TimelineEntry
from app.services import closing, leads as lead_service
from tests.integration.test_api import Api, problem, secret  # noqa: F401 (secret: a fixture)
from tests.integration.test_board import card_names, column_html


@pytest.fixture(autouse=True)
def reasons(app):
    """The reasons a new team starts with (the migration adds them; each test starts from empty tables)."""
    have = set(db.session.scalars(select(LostReason.name)))
    for name in ("Price", "Chose a competitor", "No budget", "Bad timing", "No response", "Not a fit"):
        if name not in have:
            closing.add_reason(name)


def drop(web, lead, stage, **extra):
    """A card dragged onto `stage` (htmx), as the board sends it."""
    return web.post("/board/move", {"lead_id": lead.id, "stage_id": stage.id, "after_id": "", "version": lead.version,
                                     "from_stage_id": lead.stage_id, **extra}, htmx=True)


def stage_entries(lead) -> list[dict]:
    return [e.data for e in db.session.scalars(select(TimelineEntry).where(
        TimelineEntry.lead_id == lead.id, TimelineEntry.kind == "stage_changed").order_by(TimelineEntry.id))]


def reason(name: str) -> LostReason:
    return db.session.scalars(select(LostReason).where(LostReason.name == name)).one()


def require_reasons(on: bool = True) -> None:
    row = db.session.get(TeamSettings, 1) or TeamSettings(id=1, timezone="UTC")
    row.lost_reason_required = on
    db.session.add(row)
    db.session.commit()


def test_dropping_a_card_on_won_asks_first_and_moves_nothing_until_answered(as_member, make_lead, stages):
    lead = make_lead(first_name="Deal", value="1000")
    response = drop(as_member, lead, stages["Won"])
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["HX-Reswap"] == "none"
    assert '<dialog class="close-dialog"' in body and 'name="won_value"' in body and 'value="1000.00"' in body
    # The columns come back as they were: the dragged card is put back until the dialog is answered.
    assert "Deal Lead" in column_html(body, stages["New"])
    db.session.refresh(lead)
    assert lead.stage_id == stages["New"].id and lead.closed_on is None

    response = drop(as_member, lead, stages["Won"], closing="1", won_value="1,250.50", closed_on="2026-11-30")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert 'id="close-dialog-slot" hx-swap-oob="true"></div>' in body  # the dialog goes
    db.session.refresh(lead)
    assert (lead.stage_id, lead.closed_on, lead.value) == (stages["Won"].id, date(2026, 11, 30), Decimal("1250.50"))
    assert stage_entries(lead)[-1] == {"from": "New", "to": "Won", "closed_on": "2026-11-30", "value": "1,250.50"}


@pytest.mark.parametrize("field, value, message", [
    ("won_value", "lots", "Give the value as a number"),
    ("won_value", "-5", "The value is a number from 0"),
    ("won_value", "1e40", "The value is a number from 0"),
    ("closed_on", "yesterday", "Give the date as a day"),
    ("closed_on", "2999-01-01", "any day up to today"),
])
def test_a_bad_won_value_or_day_comes_back_beside_its_field_and_nothing_moves(as_member, make_lead, stages,
                                                                             field, value, message):
    lead = make_lead(first_name="Deal", value="10")
    response = drop(as_member, lead, stages["Won"], closing="1", **{field: value})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and message in body
    assert f'id="close-{field}-error"' in body and 'aria-invalid="true"' in body
    db.session.refresh(lead)
    assert (lead.stage_id, lead.value, lead.closed_on) == (stages["New"].id, Decimal("10.00"), None)


def test_losing_a_lead_records_the_reason_and_note_and_reopening_clears_them(as_member, make_lead, stages):
    lead = make_lead(first_name="Gone")
    price = reason("Price")
    response = drop(as_member, lead, stages["Lost"], closing="1", lost_reason=str(price.id),
                    lost_note="  Went   with the cheaper plan ")
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.refresh(lead)
    assert (lead.lost_reason_id, lead.lost_note, lead.closed_on) == (price.id, "Went with the cheaper plan",
                                                                      closing.team_today())
    page = as_member.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "Price" in page and "Went with the cheaper plan" in page

    drop(as_member, lead, stages["Qualified"])  # an open stage: no question, it reopens
    db.session.refresh(lead)
    assert (lead.stage_id, lead.closed_on, lead.lost_reason_id, lead.lost_note) == (stages["Qualified"].id, None,
                                                                                   None, None)
    assert stage_entries(lead)[-1] == {"from": "Lost", "to": "Qualified", "reopened": True}
    assert "Reopened." in as_member.get(f"/leads/{lead.id}").get_data(as_text=True)


def test_a_required_reason_an_archived_one_or_a_long_note_is_refused(as_member, make_lead, stages):
    require_reasons()
    lead = make_lead(first_name="Gone")
    response = drop(as_member, lead, stages["Lost"], closing="1")
    assert response.status_code == 422 and "Choose why the lead was lost." in response.get_data(as_text=True)
    closing.archive_reason(reason("Price").id)
    response = drop(as_member, lead, stages["Lost"], closing="1", lost_reason=str(reason("Price").id))
    assert response.status_code == 422 and "Choose one of the listed reasons." in response.get_data(as_text=True)
    for garbage in ("abc", "²", "١", "99999999999999999999"):
        response = drop(as_member, lead, stages["Lost"], closing="1", lost_reason=garbage)
        assert response.status_code == 422, garbage
    response = drop(as_member, lead, stages["Lost"], closing="1", lost_reason=str(reason("No budget").id),
                    lost_note="x" * 501)
    assert response.status_code == 422 and "under 500 characters" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.stage_id == stages["New"].id and lead.lost_reason_id is None


def test_without_javascript_the_lead_page_move_shows_a_closing_page_then_returns(as_member, make_lead, stages):
    lead = make_lead(first_name="Plain")
    data = {"lead_id": lead.id, "stage_id": stages["Won"].id, "version": lead.version, "next": f"/leads/{lead.id}"}
    response = as_member.post("/board/move", data)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" in body and 'name="closing" value="1"' in body
    assert f'name="next" value="/leads/{lead.id}"' in body
    response = as_member.post("/board/move", {**data, "closing": "1", "won_value": "500"})
    assert response.status_code == 302 and response.headers["Location"] == f"/leads/{lead.id}"
    db.session.refresh(lead)
    assert (lead.stage_id, lead.value) == (stages["Won"].id, Decimal("500.00"))


def test_a_stale_card_dropped_on_won_is_refused_not_asked_about(as_member, make_lead, stages, make_user):
    lead = make_lead(first_name="Contested")
    stale = lead.version
    lead_service.move_lead(lead.id, stages["Qualified"].id, None, stale, make_user().id)
    response = drop(as_member, lead, stages["Won"], version=stale)
    assert response.status_code == 409 and "<dialog" not in response.get_data(as_text=True)


def test_closed_leads_leave_the_board_after_the_period_and_the_column_counts_the_period(
        as_member, make_lead, stages, admin):
    recent = make_lead(first_name="Recent", stage="Won", value="100")
    old = make_lead(first_name="Old", stage="Won", value="900")
    db.session.execute(update(Lead).where(Lead.id == old.id).values(closed_on=closing.team_today() - timedelta(days=31)))
    db.session.commit()
    column = column_html(as_member.get("/board").get_data(as_text=True), stages["Won"])
    assert card_names(column) == ["Recent Lead"] and "1 lead<" in column and "$100" in column
    assert "closed since" in column
    closing.save_settings(False, "60")
    column = column_html(as_member.get("/board").get_data(as_text=True), stages["Won"])
    assert sorted(card_names(column)) == ["Old Lead", "Recent Lead"] and "2 leads" in column
    # Still in the pool.
    assert "Old Lead" in as_member.get(f"/leads?stage_id={stages['Won'].id}").get_data(as_text=True)


def test_the_api_closes_and_reopens_with_a_reason_by_name(app, stages, make_lead, secret):
    api = Api(app, secret)
    lead = make_lead(first_name="Api")
    body = api.patch(f"/leads/{lead.id}", {"stage_id": stages["Lost"].id, "lost_reason": "price",
                                           "lost_note": "Too dear", "closed_on": "2026-12-01"}).get_json()
    assert (body["stage_id"], body["lost_reason"], body["lost_note"], body["closed_on"]) == (
        stages["Lost"].id, "Price", "Too dear", "2026-12-01")
    assert "lost_reason" in problem(api.patch(f"/leads/{lead.id}", {"lost_reason": "Price"}), 422)["detail"]
    body = api.patch(f"/leads/{lead.id}", {"stage_id": stages["New"].id}).get_json()
    assert (body["closed_on"], body["lost_reason"]) == (None, None)
    detail = problem(api.patch(f"/leads/{lead.id}", {"stage_id": stages["Lost"].id, "lost_reason": "Aliens"}), 422)
    assert "Price" in detail["detail"]
    require_reasons()
    assert "lost" in problem(api.patch(f"/leads/{lead.id}", {"stage_id": stages["Lost"].id}), 422)["detail"]


def test_admins_keep_the_reasons_and_the_settings(as_admin):
    page = as_admin.get("/settings/closing").get_data(as_text=True)
    assert "Chose a competitor" in page
    assert as_admin.post("/settings/closing/reasons", {"name": "  Went   quiet "}).status_code == 302
    assert reason("Went quiet").archived is False
    response = as_admin.post("/settings/closing/reasons", {"name": "went QUIET"})
    assert response.status_code == 422 and "already a reason" in response.get_data(as_text=True)
    quiet = reason("Went quiet")
    assert as_admin.post(f"/settings/closing/reasons/{quiet.id}", {f"reason{quiet.id}-name": "Ghosted"}).status_code == 302
    assert as_admin.post(f"/settings/closing/reasons/{quiet.id}/archive", {}).status_code == 302
    db.session.refresh(quiet)
    assert (quiet.name, quiet.archived) == ("Ghosted", True)
    for garbage in ("0", "²", "-3", "1e3"):
        response = as_admin.post("/settings/closing", {"board_closed_days": garbage})
        assert response.status_code == 422 and "from 1 to 3,650" in response.get_data(as_text=True), garbage
    assert as_admin.post("/settings/closing", {"board_closed_days": "14", "lost_reason_required": "y"}).status_code == 302
    row = db.session.get(TeamSettings, 1)
    db.session.refresh(row)
    assert (row.board_closed_days, row.lost_reason_required) == (14, True)


def test_members_cannot_change_won_and_lost_settings(as_member):
    assert as_member.get("/settings/closing").status_code == 403
    assert as_member.post("/settings/closing/reasons", {"name": "Sneaky"}).status_code == 403
    assert db.session.scalar(select(LostReason.id).where(LostReason.name == "Sneaky")) is None
