"""Won and lost: moving a lead to a won or lost stage asks for what closing records (the value and day
won; why and when lost), from the board (a dialog), the lead page (a page of its own), the pool and
the API; reopening clears it; closed leads leave the board after the team's period."""
from __future__ import annotations

import threading
import time
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Lead, LostReason, TeamSettings, TimelineEntry
from app.services import ServiceError, closing, leads as lead_service
from tests.integration.test_api import Api, problem, secret  # noqa: F401 (secret: a fixture)
from tests.integration.test_board import card_names, column_html
from tests.integration.test_import import read_csv


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
    ("won_value", "1e40", "Give the value as a number"),
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
    # A plain form, so the browser follows the redirect back (htmx would swap nothing and stay put).
    form_tag = re.search(r'<form[^>]*class="stack close-form"[^>]*>', body).group(0)
    assert "hx-post" not in form_tag
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
    assert as_admin.post(f"/settings/closing/reasons/{quiet.id}/archive", {"archived": "1"}).status_code == 302
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


def test_a_closed_column_reads_only_the_leads_closed_in_its_period(app, stages):
    """The won column's cards come through the (stage_id, closed_on) index, not a walk of every lead
    ever won: on SQLite the planner prefers the position index for the ORDER BY unless told."""
    from sqlalchemy import text
    from sqlalchemy.orm import joinedload

    from app.services import board
    query = board._narrowed(select(Lead).options(joinedload(Lead.owner)), stages["Won"].id, board.View(),
                            date(2026, 11, 1)).order_by(Lead.position, Lead.id).limit(21)
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL weighs its statistics; SQLite is told which index to read")
    # 5,000 leads won long ago (no closed_on), with statistics: the position index now looks cheap.
    db.session.execute(text(
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 5000) "
        "INSERT INTO leads (first_name, last_name, stage_id, position, version, created_at, updated_at, "
        "stage_entered_at, score) SELECT 'L', 'N' || n, :stage, n, 1, '2026-01-01', '2026-01-01', '2026-01-01', 0 "
        "FROM g"), {"stage": stages["Won"].id})
    db.session.execute(text("ANALYZE"))
    plan = " ".join(str(row[-1]) for row in db.session.execute(text("EXPLAIN QUERY PLAN " + sql)))
    db.session.rollback()
    assert "ix_leads_stage_id_closed_on" in plan, plan


# --- QA of the won/lost feature --------------------------------------------------------------------------


def test_the_database_refuses_a_second_reason_with_the_same_name_in_another_case(app):
    db.session.add(LostReason(name="PRICE", position=50, archived=False))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_two_admins_adding_one_reason_in_two_cases_at_once_store_it_once(app, as_admin):
    """The other admin's "Racey" is written but not yet committed when "RACEY" is added: the check
    cannot see it, so only the unique index on lower(name) keeps the second out (PostgreSQL); SQLite
    makes the second wait for the first, whose row the check then sees."""
    written, engine = threading.Event(), db.engine

    def other_admin():
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            conn.execute(insert(LostReason).values(name="Racey", position=98, archived=False))
            written.set()
            time.sleep(0.5)  # long enough for the request below to pass its check and wait on us
            conn.commit()

    other = threading.Thread(target=other_admin)
    other.start()
    assert written.wait(10)
    response = as_admin.post("/settings/closing/reasons", {"name": "RACEY"})
    other.join(10)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "already a reason with that name" in body
    assert 'id="name-error"' in body  # beside the field
    db.session.expire_all()
    assert list(db.session.scalars(select(LostReason.name).where(func.lower(LostReason.name) == "racey"))) == ["Racey"]


def test_renaming_a_reason_to_another_ones_name_in_any_case_is_refused_beside_it(as_admin):
    price = reason("Price")
    response = as_admin.post(f"/settings/closing/reasons/{price.id}", {f"reason{price.id}-name": "NO BUDGET"})
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and f'id="reason{price.id}-name-error"' in body
    assert "already a reason with that name" in body
    db.session.refresh(price)
    assert price.name == "Price"


def test_the_api_refuses_a_lost_reason_or_note_sent_with_a_move_to_won(app, stages, make_lead, secret):
    api = Api(app, secret)
    lead = make_lead(first_name="Api")
    for field, value in (("lost_reason", "Price"), ("lost_note", "Too dear"), ("lost_reason", "Aliens")):
        body = problem(api.patch(f"/leads/{lead.id}", {"stage_id": stages["Won"].id, field: value}), 422)
        assert body["errors"][0]["field"] == field and "won stage" in body["detail"]
    db.session.refresh(lead)
    assert (lead.stage_id, lead.closed_on, lead.lost_reason_id) == (stages["New"].id, None, None)


def test_a_won_value_sent_to_a_lost_stage_from_a_form_is_refused_beside_it(as_member, make_lead, stages):
    lead = make_lead(first_name="Mixed")
    response = drop(as_member, lead, stages["Lost"], closing="1", won_value="500")
    assert response.status_code == 422 and 'id="close-won_value-error"' not in response.get_data(as_text=True)
    assert "a won value goes with a move to a won stage" in response.get_data(as_text=True)
    db.session.refresh(lead)
    assert lead.stage_id == stages["New"].id


def test_tomorrow_in_the_teams_timezone_is_refused_as_a_closing_day(as_member, app, make_lead, stages, secret):
    tomorrow = (closing.team_today() + timedelta(days=1)).isoformat()
    lead = make_lead(first_name="Early")
    response = drop(as_member, lead, stages["Won"], closing="1", closed_on=tomorrow)
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="close-closed_on-error"' in body and "up to today" in body
    body = problem(Api(app, secret).patch(f"/leads/{lead.id}", {"stage_id": stages["Lost"].id, "closed_on": tomorrow}),
                   422)
    assert body["errors"][0]["field"] == "closed_on" and "up to today" in body["detail"]
    assert drop(as_member, lead, stages["Won"], closing="1",
                closed_on=closing.team_today().isoformat()).status_code == 200
    db.session.refresh(lead)
    assert lead.closed_on == closing.team_today()


def test_a_won_value_with_more_than_two_decimals_is_refused_not_rounded(as_member, app, make_lead, stages, secret):
    lead = make_lead(first_name="Cents", value="10")
    response = drop(as_member, lead, stages["Won"], closing="1", won_value="0.005")
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="close-won_value-error"' in body and "2 decimal places" in body
    body = problem(Api(app, secret).patch(f"/leads/{lead.id}", {"stage_id": stages["Won"].id, "value": 0.005}), 422)
    assert body["errors"][0]["field"] == "value" and "2 decimal places" in body["detail"]
    db.session.refresh(lead)
    assert (lead.stage_id, lead.value) == (stages["New"].id, Decimal("10.00"))
    body = Api(app, secret).patch(f"/leads/{lead.id}", {"stage_id": stages["Won"].id, "value": 1200.5}).get_json()
    assert (body["stage_id"], body["value"]) == (stages["Won"].id, 1200.5)


def test_closing_a_lead_is_a_touch_but_not_its_first_response(as_member, make_lead, stages, member):
    lead = make_lead(first_name="Untouched")  # in the pool: anyone's first touch would be its first response
    drop(as_member, lead, stages["Lost"], closing="1")
    db.session.refresh(lead)
    assert lead.stage_id == stages["Lost"].id and lead.last_touch_at is not None
    assert (lead.first_response_at, lead.first_response_by_id, lead.first_response_seconds) == (None, None, None)
    drop(as_member, lead, stages["Contacted"])  # reopening it is a move, and a response
    db.session.refresh(lead)
    assert lead.first_response_by_id == member.id


def bulk(web, leads, stage, **extra):
    return web.post("/leads/bulk", {"lead_ids": [str(lead.id) for lead in leads], "action": "move",
                                    "stage": str(stage.id), **extra}, htmx=True)


def test_the_pool_bulk_bar_asks_for_the_lost_reason_and_closes_every_lead_with_it(as_member, make_lead, stages):
    require_reasons()
    page = as_member.get("/leads").get_data(as_text=True)
    assert 'id="bulk-lost-reason"' in page and "Chose a competitor" in page and 'id="bulk-closed-on"' in page
    leads = [make_lead(first_name="One"), make_lead(first_name="Two")]
    response = bulk(as_member, leads, stages["Lost"])
    assert response.status_code == 400 and "Choose why the lead was lost." in response.get_data(as_text=True)
    for lead in leads:
        db.session.refresh(lead)
        assert lead.stage_id == stages["New"].id  # one transaction: neither moved
    day = (closing.team_today() - timedelta(days=2)).isoformat()
    response = bulk(as_member, leads, stages["Lost"], lost_reason=str(reason("Price").id),
                    lost_note=" Budget  cut ", closed_on=day)
    assert response.status_code == 200 and "Moved 2 leads to Lost." in response.get_data(as_text=True)
    for lead in leads:
        db.session.refresh(lead)
        assert (lead.stage_id, lead.lost_reason_id, lead.lost_note, lead.closed_on.isoformat()) == (
            stages["Lost"].id, reason("Price").id, "Budget cut", day)
        assert stage_entries(lead)[-1] == {"from": "New", "to": "Lost", "closed_on": day, "lost_reason": "Price",
                                           "note": "Budget cut"}


def test_the_pool_bulk_bar_closes_won_leads_on_the_day_given_each_keeping_its_value(as_member, make_lead, stages):
    leads = [make_lead(first_name="Big", value="900"), make_lead(first_name="Small", value="50")]
    day = (closing.team_today() - timedelta(days=1)).isoformat()
    assert bulk(as_member, leads, stages["Won"], closed_on=day).status_code == 200
    values = []
    for lead in leads:
        db.session.refresh(lead)
        assert (lead.stage_id, lead.closed_on.isoformat(), lead.lost_reason_id) == (stages["Won"].id, day, None)
        values.append(lead.value)
    assert values == [Decimal("900.00"), Decimal("50.00")]
    response = bulk(as_member, leads, stages["Lost"], closed_on="2999-01-01")
    assert response.status_code == 400 and "up to today" in response.get_data(as_text=True)


def test_the_csv_export_carries_the_closing_day_reason_and_note(as_member, make_lead, stages):
    lead = make_lead(first_name="Exported", value="300")
    drop(as_member, lead, stages["Lost"], closing="1", lost_reason=str(reason("Price").id), lost_note="Too dear",
         closed_on="2026-11-30")
    rows = read_csv(as_member.get("/leads/export.csv"))
    header = rows[0]
    row = next(r for r in rows[1:] if r[header.index("First name")] == "Exported")
    assert [row[header.index(name)] for name in ("Deal value", "Closed on", "Lost reason", "Lost note")] == [
        "300.00", "2026-11-30", "Price", "Too dear"]


def test_saving_on_the_closing_settings_page_puts_focus_back_on_what_was_saved(as_admin):
    def focus_after(response) -> str:
        assert response.status_code == 302
        page = as_admin.get("/settings/closing").get_data(as_text=True)
        return page.split('data-focus="', 1)[1].split('"', 1)[0]

    assert focus_after(as_admin.post("/settings/closing", {"board_closed_days": "30"})) == "closing-settings-form"
    assert focus_after(as_admin.post("/settings/closing/reasons", {"name": "Ghosted"})) == f"reason-{reason('Ghosted').id}"
    ghosted = reason("Ghosted")
    assert focus_after(as_admin.post(f"/settings/closing/reasons/{ghosted.id}",
                                     {f"reason{ghosted.id}-name": "Went quiet"})) == f"reason-{ghosted.id}"
    assert focus_after(as_admin.post(f"/settings/closing/reasons/{ghosted.id}/archive", {"archived": "1"})) == \
        f"reason-{ghosted.id}-archive"


def test_the_closing_settings_page_labels_each_reason_for_screen_readers_only(as_admin):
    page = as_admin.get("/settings/closing").get_data(as_text=True)
    price = reason("Price")
    assert f'<label for="reason{price.id}-name" class="visually-hidden">Name of the reason Price</label>' in page
    assert '<label for="lost_reason_required"><input' in page  # the box beside its label, inside it
    assert ">Reason</label>" not in page


def test_archiving_twice_stays_archived_and_a_missing_state_is_refused(as_admin):
    """Archive sends the state wanted, not a toggle: a double submit must not restore the reason."""
    price = reason("Price")
    for _ in range(2):
        assert as_admin.post(f"/settings/closing/reasons/{price.id}/archive", {"archived": "1"}).status_code == 302
    db.session.expire_all()
    assert reason("Price").archived is True
    assert as_admin.post(f"/settings/closing/reasons/{price.id}/archive", {}).status_code == 400
    assert as_admin.post(f"/settings/closing/reasons/{price.id}/archive", {"archived": "0"}).status_code == 302
    db.session.expire_all()
    assert reason("Price").archived is False


def test_reason_names_differing_only_in_a_non_ascii_capital_are_one_name(as_admin, app):
    """SQLite's lower() folds ASCII only: the check and the API's lookup fold in Python."""
    closing.add_reason("École")
    with pytest.raises(closing.NameTaken):
        closing.add_reason("ÉCOLE")
    assert closing.reason_id("éCOLE") == reason("École").id
    closing.add_reason("Quorum")
    with pytest.raises(closing.NameTaken):
        closing.add_reason("Ｑuorum")  # a fullwidth Q: the same name to anyone reading the list


@pytest.mark.parametrize("typed", ["١٢٣", "1,2,3,4", "1_000", "1e3", "12.", "-5", "1,2345"])
def test_a_won_value_must_be_plain_digits(typed):
    with pytest.raises(ServiceError) as caught:
        closing._money(typed)
    assert caught.value.field == "won_value"


@pytest.mark.parametrize("typed, value", [("1200", "1200.00"), ("1,200", "1200.00"), ("1,234,567.5", "1234567.50"),
                                          ("0.05", "0.05")])
def test_a_won_value_reads_plain_and_grouped_numbers(typed, value):
    assert closing._money(typed) == Decimal(value)
