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
