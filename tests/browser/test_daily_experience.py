"""The daily experience (issue 14, a new user's walk): the phone board's "Columns" switcher says
which column is in view and that it scrolls sideways; the phone menu's open Settings group keeps its
heading in view; "Mark all as read" works in place; the filter count counts "My leads"; moving a
lead's stage and booking an appointment on its page keep the reader's place; a card dragged by
touch on a phone moves. At desktop and phone width, and from the keyboard."""
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import card, column, column_cards, sign_in

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}
SIZES = {"desktop": DESKTOP, "phone": PHONE}


def open_page(new_page, size):
    touch = {"is_mobile": True, "has_touch": True} if size == "phone" else {}
    return new_page(viewport=SIZES[size], **touch)


def mark_page(page):
    """A flag on the window that a full page load would lose."""
    page.evaluate("window.__samePage = true")


def still_same_page(page) -> bool:
    return page.evaluate("window.__samePage === true")


# --- 1. the "Columns" switcher ------------------------------------------------------------------


def test_the_columns_switcher_marks_the_column_in_view_and_shows_that_it_scrolls(new_page, seeded):
    seeded.lead("Ann", "Any")
    page = open_page(new_page, "phone")
    sign_in(page, seeded.member)
    switcher = page.get_by_role("navigation", name="Columns")
    new, won = switcher.get_by_role("link", name=re.compile(r"^New ")), switcher.get_by_role("link", name=re.compile(r"^Won "))
    expect(new).to_have_attribute("aria-current", "true")
    expect(switcher.locator("[aria-current]")).to_have_count(1)
    expect(switcher).to_contain_text("1 of 6")
    # The marked link looks different from the others.
    colours = [link.evaluate("el => getComputedStyle(el).backgroundColor") for link in (new, won)]
    assert colours[0] != colours[1], colours
    # Six links do not fit a phone: the row fades at its right edge (more beyond), not at its left.
    row = switcher.get_by_role("list")
    assert row.evaluate("el => el.scrollWidth > el.clientWidth")
    expect(switcher).to_have_class(re.compile(r"\bmore-after\b"))
    expect(switcher).not_to_have_class(re.compile(r"\bmore-before\b"))
    assert row.evaluate("el => getComputedStyle(el).maskImage") != "none"

    # From the keyboard: Won's link moves the board to Won, which becomes the current one.
    won.focus()
    page.keyboard.press("Enter")
    expect(column(page, "Won")).to_be_focused()
    expect(won).to_have_attribute("aria-current", "true")
    expect(new).not_to_have_attribute("aria-current", "true")
    expect(switcher).to_contain_text("5 of 6")
    expect(switcher).to_have_class(re.compile(r"\bmore-before\b"))
    assert row.evaluate("el => { const a = el.querySelector('[aria-current]').getBoundingClientRect(),"
                        " r = el.getBoundingClientRect(); return a.left >= r.left - 1 && a.right <= r.right + 1; }")

    # Swiping the board (any scroll of it) moves the mark too.
    page.locator("#board").evaluate("el => el.scrollTo({left: 0})")
    expect(new).to_have_attribute("aria-current", "true")
    expect(switcher).to_contain_text("1 of 6")


def test_at_desktop_width_the_columns_switcher_steps_aside(new_page, seeded):
    seeded.lead("Ann", "Any")
    page = open_page(new_page, "desktop")
    sign_in(page, seeded.member)
    expect(page.get_by_role("navigation", name="Columns")).to_be_hidden()  # every column is on the screen
    expect(column_cards(page, "New")).to_contain_text("Ann Any")


# --- 2. the phone menu's Settings group --------------------------------------------------------


def visible_at_its_place(page, locator) -> bool:
    """The element is inside the viewport and is what a tap at its middle would hit."""
    return locator.evaluate("""el => {
      const r = el.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
      const hit = document.elementFromPoint(x, y);
      return r.top >= 0 && r.bottom <= innerHeight && !!hit && (hit === el || el.contains(hit));
    }""")


def test_the_open_settings_group_keeps_its_heading_in_view_while_the_menu_scrolls(new_page, seeded):
    page = open_page(new_page, "phone")
    sign_in(page, seeded.admin)
    page.locator(".nav-menu > summary").focus()
    page.keyboard.press("Enter")
    settings = page.locator(".nav-settings > details > summary")
    settings.focus()
    page.keyboard.press("Enter")
    nav = page.get_by_role("navigation", name="Main")
    outbox = nav.get_by_role("link", name="Outbox", exact=True)
    expect(outbox).to_be_attached()
    # Tab down to the last settings link: the menu scrolls inside the screen.
    for _ in range(40):
        if page.evaluate("document.activeElement.textContent.trim()") == "Outbox":
            break
        page.keyboard.press("Tab")
    expect(outbox).to_be_focused()
    scrolled = page.evaluate("() => { const m = document.querySelector('.nav-menu nav');"
                             " return m.getBoundingClientRect().top < document.querySelector('.topbar').getBoundingClientRect().bottom; }")
    assert scrolled, "the menu did not scroll (the test would prove nothing)"
    assert page.evaluate("scrollY") == 0  # the menu scrolls, not the page under it
    assert visible_at_its_place(page, settings), "the Settings heading slid out of view"
    assert visible_at_its_place(page, outbox), "the focused link is hidden"
    # Every link above it comes back into view, clear of the heading, on the way back up.
    page.keyboard.press("Shift+Tab")
    above = nav.locator(".nav-settings li > a").nth(-2)  # the link just above Outbox
    expect(above).to_be_focused()
    assert visible_at_its_place(page, above)
    stages = nav.get_by_role("link", name="Stages", exact=True)
    stages.focus()
    assert visible_at_its_place(page, stages) and visible_at_its_place(page, settings)


def test_at_desktop_width_the_settings_menu_still_drops_down(new_page, seeded):
    page = open_page(new_page, "desktop")
    sign_in(page, seeded.admin)
    page.locator(".nav-settings > details > summary").click()
    outbox = page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbox", exact=True)
    expect(outbox).to_be_visible()
    assert visible_at_its_place(page, outbox)


# --- 3. "Mark all as read" ---------------------------------------------------------------------


@pytest.mark.parametrize("size", list(SIZES))
def test_mark_all_as_read_works_in_place_focuses_the_list_and_empties_the_bell(new_page, seeded, size):
    from app.services.leads import assign_lead
    for name in ("Nora", "Otto"):
        lead_id = seeded.lead(name, "Quinn")
        with seeded.live.db():
            assign_lead(lead_id, seeded.member.id, seeded.admin.id)
    page = open_page(new_page, size)
    sign_in(page, seeded.member)
    page.goto("/notifications")
    bell = page.get_by_role("link", name=re.compile(r"^Notifications"))
    expect(bell).to_have_accessible_name("Notifications 2 unread")
    mark_page(page)
    button = page.get_by_role("button", name="Mark all as read")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Marked 2 notifications as read.")
    expect(page.get_by_role("list", name="Notifications")).to_be_focused()
    expect(bell).to_have_accessible_name("Notifications")
    expect(page.get_by_role("button", name="Mark all as read")).to_have_count(0)
    # Read now: links, not the buttons that mark one read on the way.
    expect(page.get_by_role("link", name="Ada Admin assigned Nora Quinn to you.")).to_be_visible()
    expect(page.get_by_text("Unread:")).to_have_count(0)
    assert still_same_page(page), "the page was reloaded"


def test_without_javascript_mark_all_as_read_still_works(new_page, seeded):
    from app.services.leads import assign_lead
    lead_id = seeded.lead("Nora", "Quinn")
    with seeded.live.db():
        assign_lead(lead_id, seeded.member.id, seeded.admin.id)
    page = new_page(java_script_enabled=False)
    sign_in(page, seeded.member)
    page.goto("/notifications")
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator("#flash")).to_contain_text("Marked 1 notification as read.")
    expect(page.get_by_role("link", name="Ada Admin assigned Nora Quinn to you.")).to_be_visible()


# --- 5. the filter count ------------------------------------------------------------------------


@pytest.mark.parametrize("size", list(SIZES))
def test_the_filter_count_counts_my_leads_and_clear_filters_clears_it(new_page, seeded, size):
    seeded.lead("Mia", "Mine", owner=seeded.member)
    seeded.lead("Tom", "Theirs", owner=seeded.admin)
    page = open_page(new_page, size)
    sign_in(page, seeded.member)
    summary = page.locator("#board-filters-panel > summary")
    expect(summary).to_have_text("Filters and order")
    mine = page.get_by_role("link", name="My leads")
    mine.focus()
    page.keyboard.press("Enter")
    expect(mine).to_have_attribute("aria-current", "page")
    expect(summary).to_have_text("Filters and order (1 on)")
    expect(column_cards(page, "New")).not_to_contain_text("Tom Theirs")
    # A second filter adds one more.
    summary.focus()
    page.keyboard.press("Enter")
    page.get_by_label("Search").fill("Mia")
    page.get_by_label("Search").press("Enter")
    expect(summary).to_have_text("Filters and order (2 on)")
    # Clearing the filters clears the owner too: the count and the board say so alike.
    page.get_by_role("link", name="Clear filters").click()
    expect(page.get_by_role("link", name="Everyone's leads")).to_have_attribute("aria-current", "page")
    expect(summary).to_have_text("Filters and order")
    expect(column_cards(page, "New")).to_contain_text("Tom Theirs")


# --- 4. the lead page's "Move to stage" and "Book an appointment" --------------------------------


def stage_of(seeded, lead_id) -> int:
    from app.extensions import db
    from app.models import Lead
    with seeded.live.db():
        db.session.expire_all()
        return db.session.get(Lead, lead_id).stage_id


@pytest.mark.parametrize("size", list(SIZES))
def test_a_stage_move_on_the_lead_page_is_made_in_place_and_focus_stays_on_move(new_page, seeded, size):
    lead_id = seeded.lead("Pia", "Page", owner=seeded.member)
    page = open_page(new_page, size)
    sign_in(page, seeded.member)
    page.goto(f"/leads/{lead_id}")
    actions = page.get_by_role("region", name="Actions")
    mark_page(page)
    actions.get_by_label("Move to stage").select_option(label="Contacted")
    move = actions.get_by_role("button", name="Move", exact=True)
    move.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Moved Pia Page to Contacted.")
    expect(page.get_by_role("region", name="Details")).to_contain_text("Contacted")
    expect(page.locator("#timeline")).to_contain_text("Contacted")
    expect(move).to_be_focused()
    assert still_same_page(page), "the page was reloaded"
    assert page.url.endswith(f"/leads/{lead_id}")
    assert stage_of(seeded, lead_id) == seeded.stages["Contacted"]

    # The page's version came along: a note, then another move, is not refused as stale ...
    actions.get_by_label("Add a note").fill("Keen, call back Monday")
    actions.get_by_role("button", name="Save note").click()
    expect(page.get_by_role("region", name="Notes")).to_contain_text("Keen, call back Monday")
    actions.get_by_label("Move to stage").select_option(label="Qualified")
    move.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Moved Pia Page to Qualified.")
    assert stage_of(seeded, lead_id) == seeded.stages["Qualified"]

    # ... while a teammate's change made meanwhile still is.
    from app.services.leads import move_lead
    with seeded.live.db():
        move_lead(lead_id, seeded.stages["New"], None, None, seeded.admin.id)
    actions.get_by_label("Move to stage").select_option(label="Contacted")
    move.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Someone else changed this lead")
    expect(move).to_be_focused()
    assert stage_of(seeded, lead_id) == seeded.stages["New"]
    assert still_same_page(page)


def test_a_move_to_won_from_the_lead_page_asks_for_the_details_then_returns_to_the_stage_form(new_page, seeded):
    lead_id = seeded.lead("Wes", "Won", owner=seeded.member, value="500")
    page = open_page(new_page, "desktop")
    sign_in(page, seeded.member)
    page.goto(f"/leads/{lead_id}")
    actions = page.get_by_role("region", name="Actions")
    actions.get_by_label("Move to stage").select_option(label="Won")
    actions.get_by_role("button", name="Move", exact=True).press("Enter")
    expect(page.get_by_role("heading", name="Won: Wes Won")).to_be_visible()
    expect(page.get_by_label("Won value")).to_be_focused()
    page.get_by_role("button", name="Mark as won").press("Enter")
    expect(page.locator("#flash")).to_contain_text("Moved Wes Won to Won.")
    expect(page.get_by_role("region", name="Actions").get_by_label("Move to stage")).to_be_focused()
    assert stage_of(seeded, lead_id) == seeded.stages["Won"]


@pytest.mark.parametrize("size", list(SIZES))
def test_booking_on_the_lead_page_is_made_in_place_and_focus_goes_to_the_appointments(new_page, seeded, size):
    from datetime import date, timedelta
    lead_id = seeded.lead("Bo", "Booker", owner=seeded.member, email="bo@example.com")
    page = open_page(new_page, size)
    sign_in(page, seeded.member)
    page.goto(f"/leads/{lead_id}")
    panel = page.get_by_role("region", name="Appointments")
    mark_page(page)
    # Refused first (no date): the date field takes focus, its message beside it.
    book = panel.get_by_role("button", name="Book and send the invitation")
    book.focus()
    page.keyboard.press("Enter")
    expect(panel.get_by_label("Date")).to_be_focused()
    expect(panel.get_by_label("Date")).to_have_attribute("aria-invalid", "true")
    panel.get_by_label("Date").fill((date.today() + timedelta(days=3)).isoformat())
    panel.get_by_label("Start time").fill("10:30")
    panel.get_by_label("Start time").press("Enter")
    expect(page.locator("#flash")).to_contain_text("The invitation is on its way.")
    expect(panel.get_by_text("Awaiting answer")).to_be_visible()
    expect(panel).to_be_focused()
    expect(page.locator("#timeline")).to_contain_text("ppointment")
    assert still_same_page(page), "the page was reloaded"
    assert page.url.endswith(f"/leads/{lead_id}")


# --- 6. dragging a card by touch on a phone -------------------------------------------------------


def touch_drag(page, source, target, arrived, *, hold_ms: int = 400, timeout: float = 8.0) -> None:
    """A finger on `source`: press and hold (SortableJS starts a touch drag after its 150 ms delay,
    so a quick swipe still scrolls the board), slide to the board's right edge, where the board
    scrolls itself under the finger, until `target` comes into view; then onto `target`, following
    it with small moves (Sortable acts on fresh move events) until `arrived()`; then lift.

    Real touch input through the DevTools protocol: Chromium turns it into the touch and pointer
    events a phone sends (Playwright's touchscreen only taps)."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind, x=None, y=None):
        points = [] if kind == "touchEnd" else [{"x": x, "y": y, "radiusX": 4, "radiusY": 4, "force": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def slide(x0, y0, x1, y1, steps=12):
        for step in range(1, steps + 1):
            touch("touchMove", x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps)
            page.wait_for_timeout(16)

    source.scroll_into_view_if_needed()
    box = source.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    touch("touchStart", x, y)
    page.wait_for_timeout(hold_ms)  # the long press is the gesture itself, not a wait for the page
    board = page.locator("#board").bounding_box()
    edge = board["x"] + board["width"] - 20  # inside the board, within Sortable's scrollSensitivity
    inner = (board["x"] + 100, board["x"] + board["width"] - 100)  # clear of it on both sides
    slide(x, y, edge, y)
    deadline = time.monotonic() + timeout
    nudge = 1
    while target.bounding_box()["x"] > inner[1] and time.monotonic() < deadline:
        touch("touchMove", edge + nudge, y)
        nudge = -nudge
        page.wait_for_timeout(30)
    # The board may scroll on a little after the finger leaves the edge: the finger follows the target.
    while not arrived() and time.monotonic() < deadline:
        goal = target.bounding_box()
        gx = min(max(goal["x"] + goal["width"] / 2, inner[0]), inner[1])
        touch("touchMove", gx + nudge, goal["y"] + min(goal["height"] / 2, 12))
        nudge = -nudge
        page.wait_for_timeout(30)
    touch("touchEnd")
    cdp.detach()


# A phone's user agent matters: on a desktop one SortableJS expects native drag and drop, so it
# scrolls the board only on dragover events, which a touch drag never sends.
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.0.0 Mobile Safari/537.36")


def test_a_card_dragged_by_touch_on_a_phone_moves_to_the_next_column(new_page, seeded):
    lead_id = seeded.lead("Tia", "Touch")
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True, user_agent=ANDROID)
    sign_in(page, seeded.member)
    the_card = card(page, "Tia Touch")
    expect(the_card).to_be_visible()
    contacted = column_cards(page, "Contacted")

    touch_drag(page, the_card, contacted, arrived=lambda: contacted.locator(".card").count() > 0)
    expect(contacted).to_contain_text("Tia Touch")
    expect(page.locator("#flash")).to_contain_text("Moved Tia Touch to Contacted.")
    assert stage_of(seeded, lead_id) == seeded.stages["Contacted"]
    expect(column(page, "New").locator(".count")).to_have_text("0 leads")
