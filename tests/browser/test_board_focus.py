"""The board from the keyboard and on a phone: focus stays on the control used (the custom-field
filter, the "My leads" switch, the won dialog's Escape), the filters fold away on a phone, and a
task added from a card's menu shows on the card at once."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import card, move_to_won_by_keyboard, sign_in

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def employees_field(seeded):
    from app.services import custom_fields as cf
    from app.services.custom_fields import FieldSettings
    with seeded.live.db():
        cf.create_field(FieldSettings("Employees", key="employees", kind="number"))


def open_filters(page):
    panel = page.locator("#board-filters-panel")
    if panel.get_attribute("open") is None:
        page.get_by_text("Filters and order").click()
    expect(page.get_by_label("Score band")).to_be_visible()


@pytest.mark.parametrize("size", list(SIZES))
def test_focus_stays_on_the_custom_field_filter_and_the_my_leads_switch(new_page, seeded, size):
    employees_field(seeded)
    seeded.lead("Mia", "Mine", owner=seeded.member)
    page = new_page(viewport=SIZES[size])
    sign_in(page, seeded.member)
    open_filters(page)

    picker = page.get_by_label("Custom field")
    picker.focus()
    picker.select_option("employees")
    expect(page.get_by_label("Employees from")).to_be_visible()
    expect(page.get_by_label("Custom field")).to_be_focused()
    page.keyboard.press("Tab")  # on from there, into the controls the swap brought
    expect(page.get_by_label("Employees from")).to_be_focused()

    mine = page.get_by_role("link", name="My leads")
    mine.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"owner=me"))
    expect(page.get_by_role("link", name="My leads")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name="My leads")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("link", name="Everyone's leads")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Everyone's leads")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("link", name="Everyone's leads")).to_be_focused()


def test_the_filters_fold_on_a_phone_say_how_many_are_on_and_open_by_keyboard(new_page, seeded):
    seeded.lead("Ann", "Any")
    phone = new_page(viewport=SIZES["phone"])
    sign_in(phone, seeded.member)
    panel = phone.locator("#board-filters-panel")
    expect(panel).not_to_have_attribute("open", "")
    expect(phone.get_by_label("Score band")).to_be_hidden()
    box = phone.get_by_role("region", name="New", exact=True).bounding_box()
    assert box["y"] < 812, "the first column starts on the first screen"
    summary = phone.locator("#board-filters-panel summary")
    summary.focus()
    phone.keyboard.press("Enter")
    expect(phone.get_by_label("Tag")).to_be_visible()
    phone.get_by_label("Tag").fill("vip")
    phone.get_by_label("Tag").press("Enter")
    expect(summary).to_contain_text("Filters and order (1 on)")
    # A filter on: open from the start, even on a phone.
    phone.goto("/board?tag=vip")
    expect(phone.get_by_label("Tag")).to_be_visible()

    # On a desktop too the columns come first while no filter is on.
    desktop = new_page(viewport=SIZES["desktop"])
    sign_in(desktop, seeded.member)
    expect(desktop.get_by_label("Score band")).to_be_hidden()
    desktop.goto("/board?tag=vip")
    expect(desktop.get_by_label("Score band")).to_be_visible()


def test_escape_in_the_won_dialog_returns_focus_to_the_cards_move_to_menu(new_page, seeded):
    seeded.lead("Wanda", "Win", value="800")
    page = new_page()
    sign_in(page, seeded.admin)
    dialog = move_to_won_by_keyboard(page, "Wanda Win")
    expect(dialog.get_by_label("Won value")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(card(page, "Wanda Win").locator(".move-to summary")).to_be_focused()


@pytest.mark.parametrize("size", list(SIZES))
def test_a_task_added_from_a_card_shows_its_due_time_on_the_card_at_once(new_page, seeded, size):
    seeded.lead("Tess", "Task")
    page = new_page(viewport=SIZES[size])
    sign_in(page, seeded.member)
    the_card = card(page, "Tess Task")
    expect(the_card.locator(".card-task")).to_have_count(1)
    expect(the_card.locator(".card-task")).to_be_hidden()  # no task yet: nothing shown
    the_card.locator(".move-to summary").click()
    the_card.get_by_text("Add a task").click()
    the_card.get_by_label("Task", exact=True).fill("Call back")
    the_card.get_by_role("button", name="Add task").click()
    expect(page.locator("#flash")).to_contain_text("Added “Call back”")
    expect(the_card.locator(".card-task")).to_contain_text("Next:")
    expect(the_card.locator(".card-task time")).to_have_text(re.compile(r"Tomorrow|\d"))
