"""The bell at desktop and phone width: a link to the notifications page named by its label, and
a count that appears without a reload when a lead is assigned to me (htmx polling)."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}


@pytest.fixture
def quick_bell(live_server):
    """Poll every second for this test (the live server's config is read on each page)."""
    before = live_server.app.config["BELL_POLL_SECONDS"]
    live_server.app.config["BELL_POLL_SECONDS"] = 1
    yield
    live_server.app.config["BELL_POLL_SECONDS"] = before


@pytest.mark.parametrize("size", list(SIZES))
def test_the_bell_counts_a_new_assignment_without_a_reload(size, new_page, seeded, quick_bell):
    from app.services.leads import assign_lead
    lead_id = seeded.lead("Grace", "Hopper")
    viewport = SIZES[size]
    page = new_page(viewport=viewport, **({"is_mobile": True, "has_touch": True} if size == "phone" else {}))
    sign_in(page, seeded.member)
    bell = page.get_by_role("link", name=re.compile(r"^Notifications"))
    expect(bell).to_be_visible()
    expect(bell).to_have_accessible_name("Notifications")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1

    with seeded.live.db():
        assign_lead(lead_id, seeded.member.id, seeded.admin.id)
    expect(bell).to_have_accessible_name("Notifications 1 unread")
    expect(page.locator("#bell-count")).to_have_attribute("aria-live", "polite")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1

    bell.click()
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    notice = page.get_by_role("button", name="Ada Admin assigned Grace Hopper to you.")
    expect(notice).to_be_visible()
    notice.focus()
    page.keyboard.press("Enter")  # opening it marks it read, on the way to the lead
    expect(page.get_by_role("heading", name="Grace Hopper", level=1)).to_be_visible()
    page.goto("/notifications")
    expect(page.get_by_role("link", name="Ada Admin assigned Grace Hopper to you.")).to_be_visible()
