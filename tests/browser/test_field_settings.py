"""The custom field editor at desktop and phone width: add a field (a refused key shown beside it),
reorder with the keyboard, use it on a lead, then delete it with its value kept on the timeline."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@pytest.mark.parametrize("width", list(WIDTHS))
def test_an_admin_adds_reorders_uses_and_deletes_a_custom_field(new_page, seeded, width):
    page = new_page(viewport=WIDTHS[width], is_mobile=width == "phone", has_touch=width == "phone")
    sign_in(page, seeded.admin)
    lead_id = seeded.lead("Fia", "Fields")
    page.goto("/settings/fields")
    expect(page.get_by_text("No custom fields yet")).to_be_visible()

    # A key that clashes with a built-in field is refused beside the key, what was typed kept.
    page.get_by_label("Label").fill("Industry")
    page.get_by_label("Key").fill("email")
    page.get_by_label("Kind").select_option(label="Single choice")
    page.get_by_label("Options").fill("Retail\nBanking")
    page.get_by_label("Show on board cards").check()
    page.get_by_role("button", name="Add field").click()
    key = page.get_by_label("Key")
    expect(key).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#key-error")).to_contain_text("name of a built-in lead field")
    expect(page.get_by_label("Options")).to_have_value("Retail\nBanking")

    key.fill("")
    page.get_by_role("button", name="Add field").click()
    # Focus lands on the new row (its first live control), not the top of the page.
    expect(page).to_have_url(re.compile(r"/settings/fields$"))
    expect(page.locator("#flash")).to_contain_text("Added the field Industry.")
    expect(page.get_by_role("link", name="Edit Industry")).to_be_focused()
    page.get_by_label("Label").fill("Budget")
    page.get_by_label("Kind").select_option(label="Money")
    page.get_by_role("button", name="Add field").click()
    fields = page.get_by_role("list", name="Custom fields in display order")
    expect(fields.locator(".stage-name")).to_have_text(["Industry", "Budget"])

    # Reorder with the keyboard: focus lands back on the button.
    button = page.get_by_role("button", name="Move Budget up")
    button.focus()
    with page.expect_response(re.compile(r"/settings/fields/\d+/move$")):
        page.keyboard.press("Enter")
    expect(fields.locator(".stage-name")).to_have_text(["Budget", "Industry"])

    width_px = page.evaluate("document.documentElement.scrollWidth")
    assert width_px <= WIDTHS[width]["width"] + 1, f"the editor is {width_px}px wide"

    # Use it on a lead: the form asks it, the page and the board card show it.
    page.goto(f"/leads/{lead_id}/edit")
    page.get_by_label("Industry").select_option("Banking")
    page.get_by_label("Budget").fill("1500")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="Fia Fields", level=1)).to_be_visible()
    expect(page.locator("dl.details")).to_contain_text("Banking")
    page.goto("/board")
    expect(page.locator(f"#card-{lead_id} .card-fields")).to_have_text(re.compile(r"Industry\s*Banking"))

    # Delete asks first; the lead's timeline keeps the value.
    page.goto("/settings/fields")
    page.get_by_role("link", name="Delete Industry").click()
    expect(page.get_by_text("1 lead has a value in this field")).to_be_visible()
    page.get_by_role("button", name="Delete field").click()
    expect(page.locator("#flash")).to_contain_text("Each lead's value is kept on its timeline")
    page.goto(f"/leads/{lead_id}")
    expect(page.locator("#timeline")).to_contain_text("The field Industry was deleted; its value here was Banking")


def test_the_pool_filters_and_sorts_by_a_custom_field_and_keeps_it_in_the_address(admin_page, seeded):
    from app.services import atomic, custom_fields as cf
    from app.services.leads import get_lead
    page = admin_page
    with seeded.live.db():
        cf.create_field(cf.FieldSettings("Plan", kind="choice", choices=["Basic", "Pro"]))
        cf.create_field(cf.FieldSettings("Budget", kind="money"))
    for name, plan, budget in (("Ann", "Pro", "300"), ("Bob", "Basic", "100"), ("Cat", "Pro", "200"), ("Dan", "", "")):
        lead_id = seeded.lead(name)
        with seeded.live.db(), atomic():
            cf.set_values(get_lead(lead_id), cf.check_values({"plan": plan, "budget": budget}, partial=True), None)
    page.goto("/leads")
    with page.expect_response(re.compile(r"/leads\?")):
        page.get_by_label("Custom field").select_option(label="Plan")
    page.get_by_label("Plan is").select_option("Pro")
    expect(page.locator("#lead-table tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"field=plan.*field_value=Pro"))
    page.get_by_role("link", name="Plan").click()  # sort by the shown column
    expect(page).to_have_url(re.compile(r"sort=cf(:|%3A)plan"))
    with page.expect_response(re.compile(r"/leads\?")):
        page.get_by_label("Custom field").select_option(label="Budget")
    page.get_by_label("Budget from").fill("150")
    page.get_by_label("Budget from").press("Enter")
    expect(page.locator("#lead-table tbody tr")).to_have_count(2)
    expect(page.locator("#lead-table")).to_contain_text("$300")
    expect(page.locator("#lead-table")).not_to_contain_text("Bob")
