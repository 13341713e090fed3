"""Quick add on the board in Chromium, at desktop and phone width, from the keyboard: a new lead
straight into a column with its owner; a refusal puts focus on the field in error."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import card, column, column_cards, sign_in

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@pytest.mark.parametrize("size", list(SIZES))
def test_a_lead_is_added_straight_into_a_column_with_its_owner(new_page, seeded, size):
    seeded.lead("Cora", "Contacted", stage="Contacted")
    page = new_page(viewport=SIZES[size])
    sign_in(page, seeded.member)
    contacted = column(page, "Contacted")
    if size == "phone":
        page.get_by_role("navigation", name="Columns").get_by_role("link", name="Contacted 1 lead").click()
    opener = contacted.locator(".quick-add > summary")
    opener.focus()
    page.keyboard.press("Enter")
    name = contacted.get_by_label("Name")
    expect(name).to_be_visible()
    # Nothing typed: refused, focus on the field in error.
    contacted.get_by_role("button", name="Add to Contacted").focus()
    page.keyboard.press("Enter")
    expect(contacted.get_by_text("Give the lead a name, a company or an email.")).to_be_visible()
    expect(contacted.get_by_label("Name")).to_be_focused()
    contacted.get_by_label("Name").fill("Quinn Quick")
    contacted.get_by_label("Company").fill("Acme")
    contacted.get_by_label("Email").fill("quinn@example.com")
    contacted.get_by_label("Owner").select_option(label="The shared pool")
    contacted.get_by_label("Email").press("Enter")
    expect(page.locator("#flash")).to_contain_text("Added Quinn Quick to Contacted.")
    expect(column_cards(page, "Contacted").get_by_role("link", name="Quinn Quick", exact=True)).to_be_focused()
    expect(card(page, "Quinn Quick").locator(".pool-tag")).to_have_text("Pool")
    expect(contacted.locator(".count")).to_have_text("2 leads")
    expect(contacted.get_by_label("Name")).to_have_count(0)  # the form closed with the refreshed column
    if size == "phone":
        expect(page.get_by_role("navigation", name="Columns").get_by_role("link", name="Contacted 2 leads")).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= SIZES[size]["width"] + 1


def test_won_and_lost_columns_offer_no_quick_add(new_page, seeded):
    page = new_page()
    sign_in(page, seeded.member)
    expect(column(page, "New").get_by_text("Add a lead")).to_be_visible()
    expect(column(page, "Won").get_by_text("Add a lead")).to_have_count(0)
    expect(column(page, "Lost").get_by_text("Add a lead")).to_have_count(0)
