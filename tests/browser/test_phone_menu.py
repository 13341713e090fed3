"""The navigation at phone width is one "Menu" button (a <details>, so no JavaScript is needed) holding
every link; the bell stays beside the brand; Escape closes the innermost menu. At desktop width the
same links show inline, on one row even for an admin."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
DAILY = ["Board", "Leads", "My day"]
ADMIN = ["Team settings", "Stages", "Scoring", "Fields", "Tags", "People", "Forms", "Assignment", "Email templates",
         "Sequences", "Response targets", "Suppression list", "API keys", "Outbox"]


def width(page) -> int:
    page.wait_for_load_state("load")
    return page.evaluate("() => document.documentElement.scrollWidth")


@pytest.mark.parametrize("javascript", [True, False])
def test_at_phone_width_a_tap_on_menu_reaches_every_link(new_page, seeded, javascript):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=javascript)
    sign_in(page, seeded.admin)
    nav = page.get_by_role("navigation", name="Main")
    menu = page.locator("summary", has_text="Menu")
    bell = page.get_by_role("link", name="Notifications")
    # Closed: only the brand, the bell and the button show, on one row, and nothing is wider than the phone.
    expect(menu).to_be_visible()
    expect(bell).to_be_visible()
    expect(nav.get_by_role("link", name="Leads")).to_be_hidden()
    expect(page.get_by_role("searchbox", name="Find")).to_be_hidden()
    bar = page.locator(".topbar").bounding_box()
    assert bar["height"] < 70, f"the closed bar is {bar['height']}px tall"
    assert width(page) <= PHONE["width"]

    menu.tap()
    for name in DAILY + ["Saved views"] if not javascript else DAILY:
        if name == "Saved views":
            page.locator(".nav-views summary", has_text="Views").tap()
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    page.locator(".nav-settings summary").tap()
    for name in ADMIN:  # the open menu scrolls inside itself when it is taller than the screen
        link = nav.get_by_role("link", name=name, exact=True)
        link.scroll_into_view_if_needed()
        expect(link).to_be_in_viewport()
    expect(page.get_by_role("searchbox", name="Find")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert width(page) <= PHONE["width"]

    nav.get_by_role("link", name="Leads", exact=True).tap()
    expect(page.get_by_role("heading", name="Leads", level=1)).to_be_visible()
    expect(nav.get_by_role("link", name="Leads")).to_be_hidden()  # the new page starts with the menu closed


def test_at_phone_width_the_menu_opens_by_keyboard_and_escape_closes_the_innermost(new_page, seeded):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, seeded.admin)
    nav = page.get_by_role("navigation", name="Main")
    menu = page.locator(".nav-menu > summary")
    menu.focus()
    page.keyboard.press("Enter")
    expect(nav.get_by_role("link", name="Board", exact=True)).to_be_visible()
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Board", exact=True)).to_be_focused()

    settings = page.locator(".nav-settings summary")
    settings.focus()
    page.keyboard.press("Enter")
    stages = nav.get_by_role("link", name="Stages", exact=True)
    stages.focus()
    page.keyboard.press("Escape")  # the Settings menu closes, focus back on its summary; Menu stays open
    expect(stages).to_be_hidden()
    expect(settings).to_be_focused()
    expect(nav.get_by_role("link", name="Board", exact=True)).to_be_visible()
    page.keyboard.press("Escape")  # now Menu itself
    expect(nav.get_by_role("link", name="Board", exact=True)).to_be_hidden()
    expect(menu).to_be_focused()

    page.keyboard.press("Space")  # open again: Settings starts closed
    expect(nav.get_by_role("link", name="Board", exact=True)).to_be_visible()
    expect(stages).to_be_hidden()


def test_the_bell_is_one_tap_away_outside_the_menu(new_page, seeded):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, seeded.member)
    bell = page.get_by_role("link", name="Notifications")
    assert page.evaluate("() => !document.querySelector('.nav-menu').contains(document.querySelector('a.bell'))")
    bell.tap()
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()


def test_at_desktop_width_the_bar_shows_every_entry_inline_on_one_row_for_an_admin(new_page, seeded):
    page = new_page(viewport=DESKTOP)
    sign_in(page, seeded.admin)
    nav = page.get_by_role("navigation", name="Main")
    expect(page.locator(".nav-menu > summary")).to_be_hidden()
    for name in DAILY:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_role("searchbox", name="Find")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # Admin pages (the outbox too) sit under one Settings entry, not in the bar.
    expect(nav.get_by_role("link", name="Outbox")).to_be_hidden()
    expect(nav.get_by_role("link", name="Stages")).to_be_hidden()
    tops = page.evaluate("""() => [...document.querySelectorAll(
        '.topbar .brand, .topbar .bell, .nav-menu nav > ul > li, .nav-search, .signout')]
        .map(el => Math.round(el.getBoundingClientRect().top))""")
    assert max(tops) - min(tops) <= 12, f"the bar wraps: tops {tops}"
    page.locator(".nav-settings summary").click()
    expect(nav.get_by_role("link", name="Outbox")).to_be_visible()
    page.keyboard.press("Escape")
    expect(nav.get_by_role("link", name="Outbox")).to_be_hidden()
    assert width(page) <= DESKTOP["width"]


@pytest.mark.parametrize("viewport", [PHONE, {"width": 800, "height": 800}, DESKTOP])
def test_the_settings_menu_shows_its_groups_and_fits_the_window(new_page, seeded, viewport):
    page = new_page(viewport=viewport)
    sign_in(page, seeded.admin)
    if viewport is PHONE:
        page.locator(".nav-menu > summary").click()
    settings = page.locator(".nav-settings summary")
    settings.focus()
    page.keyboard.press("Enter")
    nav = page.get_by_role("navigation", name="Main")
    for title in ("Team & people", "Pipeline", "Capture", "Follow-up", "Integrations", "Data"):
        group = nav.get_by_role("list", name=title, exact=True)
        group.scroll_into_view_if_needed()
        expect(group).to_be_visible()
    expect(nav.get_by_role("list", name="Integrations").get_by_role("link", name="Webhooks")).to_be_visible()
    box = page.locator(".nav-groups").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
    assert width(page) <= viewport["width"]
    page.keyboard.press("Tab")  # the first link of the first group takes focus
    expect(nav.get_by_role("link", name="Team settings", exact=True)).to_be_focused()
