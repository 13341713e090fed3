"""Small things people notice (issue 14 §6), in Chromium at 1280 and 375 px and by keyboard: the new
API key's Copy button, marking every notification read, and a search box whose hint fits."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}


def open_at(new_page, size: str, **options):
    return new_page(viewport=SIZES[size], **({"is_mobile": True, "has_touch": True} if size == "phone" else {}),
                    **options)


@pytest.mark.parametrize("size", list(SIZES))
def test_the_copy_button_puts_a_new_api_key_on_the_clipboard_and_says_so(size, new_page, seeded):
    page = open_at(new_page, size, permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, seeded.admin)
    page.goto("/settings/api-keys")
    page.get_by_label("Name").fill("Website form")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("API key")
    expect(secret).to_have_value(re.compile(r".{20,}"))
    copy = page.get_by_role("button", name="Copy", exact=True)
    expect(copy).to_be_visible()
    copy.focus()
    page.keyboard.press("Enter")  # by keyboard
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == secret.input_value()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= SIZES[size]["width"] + 1


def test_mark_all_as_read_clears_the_bell_and_the_unread_notices(new_page, seeded):
    from app.services.leads import assign_lead
    leads = [seeded.lead(name, "Hopper") for name in ("Grace", "Alan")]
    with seeded.live.db():
        for lead_id in leads:
            assign_lead(lead_id, seeded.member.id, seeded.admin.id)
    page = new_page()
    sign_in(page, seeded.member)
    bell = page.get_by_role("link", name=re.compile(r"^Notifications"))
    expect(bell).to_have_accessible_name("Notifications 2 unread")
    bell.click()
    # Unread ones open through a button that marks them read on the way.
    expect(page.get_by_role("button", name=re.compile(r"assigned (Grace|Alan) Hopper to you"))).to_have_count(2)
    mark = page.get_by_role("button", name="Mark all as read")
    mark.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Marked 2 notifications as read.")).to_be_visible()
    expect(bell).to_have_accessible_name("Notifications")
    expect(page.get_by_role("link", name=re.compile(r"assigned (Grace|Alan) Hopper to you"))).to_have_count(2)
    expect(page.get_by_role("button", name="Mark all as read")).to_have_count(0)


@pytest.mark.parametrize("size", [*SIZES, "small phone"])
def test_the_search_box_hint_fits_in_the_box(size, new_page, seeded):
    page = open_at(new_page, size) if size in SIZES else new_page(viewport={"width": 320, "height": 640},
                                                                  is_mobile=True, has_touch=True)
    sign_in(page, seeded.member)
    menu = page.locator(".nav-menu > summary")
    if menu.is_visible():  # at phone width the search box is inside the Menu
        menu.click()
    box = page.get_by_role("searchbox", name="Find")
    expect(box).to_be_visible()
    page.wait_for_load_state("load")
    # The placeholder's text, measured in the box's own font, is no wider than the box's content area.
    fits = box.evaluate("""el => {
        const style = getComputedStyle(el);
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = style.font;
        const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        return [ctx.measureText(el.placeholder).width, room];
    }""")
    assert fits[0] <= fits[1], f"the hint needs {fits[0]:.0f}px, the box has {fits[1]:.0f}px"
