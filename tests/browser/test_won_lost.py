"""Closing a lead on the board: the won and lost dialogs, by keyboard, at desktop and phone width."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import card, column_cards, sign_in


def closed(live, lead_id):
    from app.extensions import db
    from app.models import Lead
    with live.db():
        lead = db.session.get(Lead, lead_id)
        return lead.stage.name, lead.value, lead.closed_on, lead.lost_reason.name if lead.lost_reason else None


def add_reasons(live):
    from app.services import closing
    with live.db():
        for name in ("Price", "Chose a competitor"):
            closing.add_reason(name)


def move_by_menu(page, name, stage):
    the_card = card(page, name)
    the_card.locator("summary").click()
    the_card.get_by_label("Stage", exact=True).select_option(label=stage)
    the_card.get_by_role("button", name="Move", exact=True).click()


@pytest.mark.parametrize("width", [1280, 375])
def test_winning_asks_for_the_value_and_cancel_leaves_the_card(new_page, seeded, width):
    lead_id = seeded.lead("Wanda", "Win", value="800")
    page = new_page(viewport={"width": width, "height": 800})
    sign_in(page, seeded.admin)
    move_by_menu(page, "Wanda Win", "Won")
    dialog = page.get_by_role("dialog", name="Won: Wanda Win")
    expect(dialog).to_be_visible()
    value = dialog.get_by_label("Won value")
    expect(value).to_be_focused()
    expect(value).to_have_value("800.00")
    box = dialog.bounding_box()
    assert box["width"] <= width  # fits a phone
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert closed(seeded.live, lead_id)[0] == "New"

    move_by_menu(page, "Wanda Win", "Won")
    dialog = page.get_by_role("dialog", name="Won: Wanda Win")
    dialog.get_by_label("Won value").fill("lots")
    dialog.get_by_role("button", name="Mark as won").click()
    expect(dialog.get_by_text("Give the value as a number")).to_be_visible()
    dialog = page.get_by_role("dialog", name="Won: Wanda Win")
    dialog.get_by_label("Won value").fill("1200")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(column_cards(page, "Won").get_by_role("link", name="Wanda Win", exact=True)).to_be_visible()
    stage, value, closed_on, _ = closed(seeded.live, lead_id)
    assert (stage, str(value)) == ("Won", "1200.00") and closed_on is not None


def test_losing_by_keyboard_records_the_reason(new_page, seeded):
    add_reasons(seeded.live)
    lead_id = seeded.lead("Lou", "Lost")
    page = new_page()
    sign_in(page, seeded.admin)
    move_by_menu(page, "Lou Lost", "Lost")
    dialog = page.get_by_role("dialog", name="Lost: Lou Lost")
    reason = dialog.get_by_label("Why was it lost? (optional)")
    expect(reason).to_be_focused()
    reason.select_option(label="Price")
    page.keyboard.press("Tab")
    page.keyboard.type("Cheaper elsewhere")
    dialog.get_by_role("button", name="Mark as lost").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(column_cards(page, "Lost").get_by_role("link", name="Lou Lost", exact=True)).to_be_visible()
    assert closed(seeded.live, lead_id)[0::3] == ("Lost", "Price")


def require_reasons(live):
    from app.extensions import db
    from app.models import TeamSettings
    from app.services import team_settings
    with live.db():
        row = db.session.get(TeamSettings, 1) or team_settings.current()
        row.lost_reason_required = True
        db.session.add(row)
        db.session.commit()


def same_line(a, b) -> bool:
    """Two boxes side by side: their vertical middles within a few pixels."""
    return abs((a["y"] + a["height"] / 2) - (b["y"] + b["height"] / 2)) <= 4


@pytest.mark.parametrize("width", [1280, 375])
def test_the_closing_settings_rows_keep_one_line_and_saving_keeps_focus(new_page, seeded, width):
    add_reasons(seeded.live)
    page = new_page(viewport={"width": width, "height": 800})
    sign_in(page, seeded.admin)
    page.goto("/settings/closing")
    box = page.get_by_role("checkbox", name="Require a reason when a lead is lost")
    text = page.get_by_text("Require a reason when a lead is lost", exact=True)
    assert same_line(box.bounding_box(), text.bounding_box())  # beside its label, not above it
    assert text.bounding_box()["height"] < 2 * box.bounding_box()["height"] + 8  # one line: box and words
    expect(page.get_by_text("Reason", exact=True)).to_have_count(0)  # no visible label repeated per row

    name = page.get_by_label("Name of the reason Chose a competitor")
    rename = page.get_by_role("button", name="Rename Chose a competitor")
    archive = page.get_by_role("button", name="Archive Chose a competitor")
    for button in (rename, archive):
        assert same_line(name.bounding_box(), button.bounding_box())
        assert button.bounding_box()["height"] <= name.bounding_box()["height"] + 2  # one line of text
        assert button.bounding_box()["x"] + button.bounding_box()["width"] <= width
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    name.fill("Competitor")
    name.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Renamed the reason to Competitor")
    expect(page.get_by_label("Name of the reason Competitor")).to_be_focused()
    page.get_by_role("button", name="Archive Competitor").click()
    expect(page.get_by_role("button", name="Restore Competitor")).to_be_focused()
    page.get_by_role("checkbox", name="Require a reason when a lead is lost").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("checkbox", name="Require a reason when a lead is lost")).to_be_focused()


@pytest.mark.parametrize("width", [1280, 375])
def test_the_pool_bulk_bar_asks_why_before_moving_leads_to_lost(new_page, seeded, width):
    add_reasons(seeded.live)
    require_reasons(seeded.live)
    ids = [seeded.lead("Bulk", "One"), seeded.lead("Bulk", "Two")]
    page = new_page(viewport={"width": width, "height": 900})
    sign_in(page, seeded.member)
    page.goto("/leads?sort=name&dir=asc")
    why = page.get_by_label("Why lost", exact=True)
    expect(why).to_be_hidden()  # an open stage asks for nothing more
    page.get_by_label("Select Bulk One").check()
    page.get_by_label("Select Bulk Two").check()
    actions = page.locator(".bulk-panel")
    if actions.get_attribute("open") is None:  # folded on a phone: open it as a person would
        actions.locator("summary").click()
    page.get_by_label("Move to", exact=True).select_option(label="Lost")
    expect(why).to_be_visible()
    expect(page.get_by_label("Won or lost on")).to_be_visible()
    why.select_option(label="Price")
    page.get_by_label("Lost note (optional)").fill("Budget cut")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_text("Moved 2 leads to Lost.")).to_be_visible()
    for lead_id in ids:
        stage, _, closed_on, reason = closed(seeded.live, lead_id)
        assert (stage, reason) == ("Lost", "Price") and closed_on is not None
    assert page.evaluate("document.documentElement.scrollWidth") <= width
