"""Tagging a lead inline on its page with the keyboard only, at desktop and phone width."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def lead_tags(live, lead_id):
    from app.services.tags import tags_for
    with live.db():
        return tags_for([lead_id])[lead_id]


# Known focus race, seen on main before issue 14 too (about one run in three, alone or in the suite):
# after an htmx outerHTML swap of the panel at 375 px, focus sometimes ends on <body> instead of
# the element htmx should restore by id or autofocus. Rerun while it is tracked down (see the note).
@pytest.mark.parametrize("width", [1280, 375])
def test_a_member_adds_and_removes_tags_with_the_keyboard(new_page, seeded, width):
    page = new_page(viewport={"width": width, "height": 900})
    sign_in(page, seeded.member)
    lead_id = seeded.lead("Tia", "Tagged")
    other = seeded.lead("Olga", "Other")
    from app.services.tags import add_tags
    with seeded.live.db():
        add_tags(other, "Trade show, Showroom", None)
    page.goto(f"/leads/{lead_id}")
    panel = page.locator("#lead-tags")
    expect(panel.get_by_text("No tags yet.")).to_be_visible()

    box = page.get_by_label("Add tags")
    box.focus()
    page.keyboard.type("vip, sho")
    # The suggestions follow the last tag being typed.
    expect(page.locator("#tag-suggestions option")).to_have_count(2)
    page.keyboard.type("w")
    page.keyboard.press("Enter")
    expect(panel.get_by_role("button", name="Remove tag vip", exact=True)).to_be_visible()
    expect(panel.get_by_role("button", name="Remove tag show", exact=True)).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("Tagged show, vip.")
    expect(page.get_by_label("Add tags")).to_be_focused()
    expect(page.get_by_label("Add tags")).to_have_value("")
    assert lead_tags(seeded.live, lead_id) == ["show", "vip"]

    # A bad tag: the message sits beside the box, which keeps what was typed and the focus.
    page.keyboard.type("<b>")
    page.keyboard.press("Enter")
    expect(page.locator("#tags-error")).to_contain_text("Tags may hold letters")
    expect(page.get_by_label("Add tags")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Add tags")).to_have_value("<b>")
    expect(page.get_by_label("Add tags")).to_be_focused()

    # Remove with the keyboard: Shift+Tab back from the box reaches the last tag's remove button.
    page.get_by_label("Add tags").fill("")
    page.keyboard.press("Shift+Tab")
    expect(panel.get_by_role("button", name="Remove tag vip", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(panel.get_by_role("button", name="Remove tag vip", exact=True)).to_have_count(0)
    expect(page.get_by_label("Add tags")).to_be_focused()
    expect(page.locator("#flash")).to_contain_text("Removed the tag vip.")
    assert lead_tags(seeded.live, lead_id) == ["show"]

    # Nothing runs off the side of the page.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box_right = page.get_by_label("Add tags").bounding_box()
    assert box_right["x"] + box_right["width"] <= width

    # The pool shows the tag and filters by it.
    page.goto("/leads?tag=SHOW")
    expect(page.get_by_role("link", name="Tia Tagged")).to_be_visible()
    expect(page.get_by_role("link", name="Olga Other")).to_have_count(0)


def test_enter_in_the_pools_bulk_tags_box_adds_the_tags_and_keeps_the_owner(new_page, seeded):
    """Enter used to send the bulk form's first button, Assign (to the pool), instead of Add tags."""
    page = new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, seeded.member)
    lead_id = seeded.lead("Bea", "Bulk", owner=seeded.member)
    page.goto("/leads")
    page.get_by_label("Select Bea Bulk").check()
    page.locator("#bulk-tags").fill("vip")
    page.locator("#bulk-tags").press("Enter")
    expect(page.locator("#flash")).to_contain_text("Tagged 1 lead.")
    assert lead_tags(seeded.live, lead_id) == ["vip"]
    from app.extensions import db
    from app.models import Lead
    with seeded.live.db():
        assert db.session.get(Lead, lead_id).owner_id == seeded.member.id
