"""My day in a browser at desktop and phone width: overdue says so in words, one press ticks a task
done or snoozes it (htmx swaps the row out), a task added on the lead page shows up, and nothing
makes the page wider than a phone."""
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}


@pytest.fixture(params=list(SIZES))
def day(request, new_page, seeded):
    """A member with an overdue call and an email due in three days, signed in at one width."""
    from app.services import tasks, utcnow
    lead_id = seeded.lead("Grace", "Hopper", owner=seeded.member, company="Navy")
    with seeded.live.db():
        now = utcnow()
        tasks.create_task(lead_id, seeded.member.id, title="Call about the pilot", kind="call",
                          due_at=now - timedelta(hours=2))
        tasks.create_task(lead_id, seeded.member.id, title="Send the proposal", kind="email",
                          due_at=now + timedelta(days=3))
    size = SIZES[request.param]
    page = new_page(viewport=size, **({"is_mobile": True, "has_touch": True} if request.param == "phone" else {}))
    sign_in(page, seeded.member)
    return page, lead_id, size


def test_my_day_ticks_done_and_snoozes_with_one_press_each(day, seeded):
    page, lead_id, size = day
    if size["width"] < 720:  # on a phone the navigation is behind its Menu button
        page.locator(".nav-menu > summary").click()
    page.get_by_role("link", name="My day").click()
    expect(page.get_by_role("heading", name="My day", level=1)).to_be_visible()
    overdue = page.get_by_role("region", name="Overdue")
    row = overdue.get_by_role("listitem").filter(has_text="Call about the pilot")
    expect(row).to_contain_text("Overdue ·")
    expect(row.get_by_role("link", name="Grace Hopper")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"] + 1

    row.get_by_role("button", name="Done: Call about the pilot").click()
    expect(page.get_by_role("status")).to_contain_text("Done: Call about the pilot")
    expect(overdue.get_by_text("Call about the pilot")).to_have_count(0)
    # The section says so at once: its count and its empty note, without a reload.
    expect(page.get_by_role("heading", name="Overdue")).to_contain_text("(0)")
    expect(overdue.get_by_text("Nothing overdue.")).to_be_visible()

    upcoming = page.get_by_role("region", name="Upcoming")
    upcoming.get_by_role("button", name="Snooze Send the proposal: Next week").click()
    expect(page.get_by_role("status")).to_contain_text("Snoozed “Send the proposal”")
    with seeded.live.db():
        from sqlalchemy import select
        from app.extensions import db
        from app.models import Task
        rows = {t.title: t for t in db.session.scalars(select(Task))}
        assert rows["Call about the pilot"].done_at is not None and rows["Send the proposal"].snoozed == 1


def test_a_task_added_on_the_lead_page_appears_in_its_panel(day):
    page, lead_id, size = day
    page.goto(f"/leads/{lead_id}")
    panel = page.get_by_role("region", name="Tasks")
    panel.get_by_label("Task", exact=True).fill("")
    panel.get_by_role("button", name="Add task").click()
    expect(panel.get_by_text("Give the task a title")).to_be_visible()
    panel.get_by_label("Task", exact=True).fill("Book the demo")
    panel.get_by_role("button", name="Add task").click()
    expect(panel.get_by_role("listitem").filter(has_text="Book the demo")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"] + 1


def test_ticking_done_by_keyboard_keeps_focus_in_the_page(day):
    """The Done button goes away with its row: focus must land near it, not on the document body
    (a keyboard user would start again from the top)."""
    page, lead_id, size = day
    page.goto("/today")
    done = page.get_by_role("button", name="Done: Call about the pilot")
    done.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Done: Call about the pilot")
    page.wait_for_timeout(300)  # the swap settles after the notice shows
    assert page.evaluate("() => document.activeElement && document.activeElement.tagName") not in (None, "BODY")
