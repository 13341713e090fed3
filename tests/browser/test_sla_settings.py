"""First-response targets on a desktop and a phone: an admin refuses a bad day beside it, saves
business hours, adds a target with labelled controls, and the board card then counts down."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_sets_hours_and_a_target_and_the_card_counts_down(new_page, seeded, width):
    page = new_page(viewport=WIDTHS[width], is_mobile=width == "phone", has_touch=width == "phone")
    sign_in(page, seeded.admin)
    page.goto("/settings/sla")
    expect(page.get_by_text("No targets yet")).to_be_visible()

    page.get_by_label("Monday", exact=True).fill("17:00-09:00")
    with page.expect_response(re.compile(r"/settings/sla/hours$")) as reply:
        page.get_by_role("button", name="Save hours and holidays").click()
    assert reply.value.status == 422
    expect(page.get_by_label("Monday", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#day0-error")).to_contain_text("ends before it starts")

    page.get_by_label("Monday", exact=True).fill("00:00-24:00")
    for day in ("Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        page.get_by_label(day, exact=True).fill("00:00-24:00")
    page.get_by_role("button", name="Save hours and holidays").click()
    expect(page.get_by_text("Saved the business hours and holidays.")).to_be_visible()

    page.get_by_label("Applies to").select_option("any")
    page.get_by_label("Respond within").fill("2")
    page.get_by_label("Unit").select_option("hours")
    page.get_by_role("button", name="Add target").click()
    expect(page.get_by_text("Everything else: 2 h in business time")).to_be_visible()
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"] + 1

    from app.services.leads import create_lead
    with seeded.live.db():
        lead = create_lead({"first_name": "Tia", "last_name": "Timed"}, None, stage_id=seeded.stages["New"],
                           owner_id=seeded.admin.id).id
    page.goto("/board")
    badge = page.locator(f"#sla-{lead}")
    expect(badge).to_contain_text("left to respond")
