"""The automation builder at desktop and phone width: an admin picks a trigger and sees its options,
adds steps and reorders them, sees a zero wait refused beside its field, saves, and the automation
then runs when a lead enters the stage."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import sign_in

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def document_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def step(page, number: int):
    return page.get_by_role("group", name=f"Step {number}", exact=True)


@pytest.mark.parametrize("size", WIDTHS)
def test_an_admin_builds_an_automation_that_then_runs(new_page, seeded, size):
    from app.extensions import db
    from app.models import Task
    from app.services import atomic, tags
    from app.services.leads import move_lead
    with seeded.live.db():
        with atomic():
            tags.ensure_tags(["qualified"])
    phone = size == "phone"
    page = new_page(viewport=WIDTHS[size], is_mobile=phone, has_touch=phone)
    sign_in(page, seeded.admin)
    page.goto("/settings/automations")
    expect(page.get_by_text("No automations yet.")).to_be_visible()
    page.get_by_role("link", name="New automation").click()

    page.get_by_label("Name").fill("Qualified: call them")
    with page.expect_response(re.compile(r"/settings/automations$")):
        page.get_by_label("When", exact=True).select_option(label="A lead enters a stage")
    page.get_by_label("Stage", exact=True).select_option(label="Qualified")
    with page.expect_response(re.compile(r"/settings/automations$")):
        step(page, 1).get_by_label("Action").select_option(label="Add a tag")
    step(page, 1).get_by_label("Tag").fill("qualified")

    page.get_by_role("button", name="Add an action").click()
    with page.expect_response(re.compile(r"/settings/automations$")):
        step(page, 2).get_by_label("Action").select_option(label="Wait")
    step(page, 2).get_by_label("How long").fill("0")
    page.get_by_role("button", name="Add an action").click()
    with page.expect_response(re.compile(r"/settings/automations$")):
        step(page, 3).get_by_label("Action").select_option(label="Create a task")
    step(page, 3).get_by_label("Task").fill("Call to book a demo")
    step(page, 3).get_by_label("How long").fill("5")
    page.get_by_role("button", name="Up step 3").click()
    expect(step(page, 2).get_by_label("Task")).to_have_value("Call to book a demo")

    page.get_by_role("button", name="Save automation").click()
    wait = step(page, 3).get_by_label("How long")
    expect(wait).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#actions-2-amount-error")).to_have_text("Enter a wait of at least 1 minute.")
    expect(page.get_by_label("Name")).to_have_value("Qualified: call them")
    page.get_by_role("button", name="Remove step 3").click()
    expect(step(page, 3)).to_have_count(0)
    if phone:
        assert document_width(page) <= 375
    page.get_by_role("button", name="Save automation").click()

    expect(page).to_have_url(re.compile(r"/settings/automations$"))
    expect(page.locator("#flash")).to_contain_text("Saved the automation “Qualified: call them”.")
    expect(page.locator("#automation-list")).to_contain_text(
        "A lead enters “Qualified”: Add the tag “qualified”; Create the call task “Call to book a demo” for the "
        "lead's owner, due 5 minutes later.")
    if phone:
        assert document_width(page) <= 375

    lead_id = seeded.lead("Ida", owner=seeded.member)
    with seeded.live.db():
        move_lead(lead_id, seeded.stages["Qualified"], None, None, seeded.member.id)
        assert db.session.scalars(select(Task.title).where(Task.lead_id == lead_id)).all() == ["Call to book a demo"]
        assert tags.tags_for([lead_id])[lead_id] == ["qualified"]
    page.goto(f"/leads/{lead_id}")
    expect(page.get_by_text(re.compile("Automation “Qualified: call them”: added the tag “qualified”; "
                                       "created the task “Call to book a demo” for Max Member"))).to_be_visible()


@pytest.mark.parametrize("size", WIDTHS)
def test_an_admin_builds_a_time_trigger_and_is_told_it_counts_from_the_save(new_page, seeded, size):
    phone = size == "phone"
    page = new_page(viewport=WIDTHS[size], is_mobile=phone, has_touch=phone)
    sign_in(page, seeded.admin)
    page.goto("/settings/automations/new")
    page.get_by_label("Name").fill("Gone quiet")
    with page.expect_response(re.compile(r"/settings/automations$")):
        page.get_by_label("When", exact=True).select_option(label="A lead has had no activity for a number of days")
    days = page.get_by_label("Days without activity")
    days.focus()
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Show the options for this trigger")).to_be_focused()
    with page.expect_response(re.compile(r"/settings/automations$")):
        page.keyboard.press("Enter")
    expect(page.locator("#automation-backlog")).to_contain_text("it counts from when you save")
    expect(page.locator("#automation-backlog")).to_contain_text("Right now")
    with page.expect_response(re.compile(r"/settings/automations$")):
        step(page, 1).get_by_label("Action").select_option(label="Create a task")
    step(page, 1).get_by_label("Task").fill("Call again")
    step(page, 1).get_by_label("How long").fill("0")
    if phone:
        assert document_width(page) <= 375
    page.get_by_role("button", name="Save automation").click()
    expect(page).to_have_url(re.compile(r"/settings/automations$"))
    expect(page.locator("#automation-list")).to_contain_text(
        "An open lead has had no activity for 3 days: Create the call task “Call again” for the lead's owner, "
        "due at once.")
