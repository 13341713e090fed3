"""The navigation's search box and saved views, with the keyboard, at desktop and phone width."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in


@pytest.mark.parametrize("width", [1280, 375])
def test_a_member_finds_a_lead_from_the_navigation_and_saves_a_view(new_page, seeded, width):
    page = new_page(viewport={"width": width, "height": 900})
    sign_in(page, seeded.member)
    seeded.lead("Zoë", "Fischer-Ayers", company="Ørsted A/S", phone="+1 415 555 0123")
    seeded.lead("Bob", "Brown")
    page.goto("/board")

    if width < 720:  # on a phone the search box is inside the navigation's Menu button
        page.locator(".nav-menu > summary").click()
    box = page.get_by_role("searchbox", name="Find")
    box.focus()
    page.keyboard.type("fischer ayers")
    page.keyboard.press("Enter")
    results = page.locator("#search-results")
    expect(results.get_by_role("link", name="Zoë Fischer-Ayers")).to_be_visible()
    expect(results.get_by_role("link", name="Bob Brown")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    # A phone number in another format, typed in the page's own box: htmx swaps only the results.
    page.get_by_role("searchbox", name="Search leads").fill("(415) 555-0123")
    page.get_by_role("main").get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search\?q=.*415"))
    expect(results.get_by_role("link", name="Zoë Fischer-Ayers")).to_be_visible()
    page.get_by_role("searchbox", name="Search leads").fill("%_'")
    page.get_by_role("main").get_by_role("button", name="Search").click()
    expect(results).to_contain_text("There is nothing to search for")

    # Save the pool's filter as a view; it is listed under "Views" in the navigation.
    page.goto("/leads?q=brown")
    page.get_by_text("Save this view").click()
    page.get_by_label("View name").fill("Browns")
    page.get_by_role("button", name="Save view").click()
    expect(page).to_have_url(f"{seeded.url}/leads?q=brown")
    expect(page.locator("#flash")).to_contain_text("Saved the view “Browns”.")
    if width < 720:
        page.locator(".nav-menu > summary").click()
    page.get_by_text("Views", exact=True).click()
    browns = page.get_by_role("navigation", name="Main").get_by_role("link", name="Browns")
    expect(browns).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    browns.focus()
    page.keyboard.press("Escape")  # closes the menu, back on its summary
    expect(browns).to_be_hidden()
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Views"
    page.keyboard.press("Enter")  # open again, then Tab out of it past its last link: it closes
    expect(browns).to_be_visible()
    for _ in range(3):
        page.keyboard.press("Tab")
    if width < 720:  # inside the phone's open Menu, Views unfolds in place and stays open (links don't shift)
        expect(browns).to_be_visible()
        page.keyboard.press("Escape")  # the whole Menu closes, focus on its button
        expect(browns).to_be_hidden()
        expect(page.locator(".nav-menu > summary")).to_be_focused()
    else:
        expect(browns).to_be_hidden()

    # The list of views fits the phone: its table scrolls inside its own box, not the page.
    page.goto("/views")
    expect(page.get_by_role("link", name="Browns")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
