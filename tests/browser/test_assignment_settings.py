"""The assignment rule editor at desktop and phone width: an admin builds a group and rules, sees a
bad cap refused beside its field, reorders and switches rules with the keyboard-usable buttons, and
asks the tester which rule would take a lead."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import sign_in

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def rule_names(page):
    return page.get_by_role("list", name="Assignment rules in the order they are tried").locator(".rule-name")


def document_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.mark.parametrize("size", WIDTHS)
def test_an_admin_builds_groups_and_rules_and_tries_a_lead(new_page, seeded, size):
    phone = size == "phone"
    page = new_page(viewport=WIDTHS[size], is_mobile=phone, has_touch=phone)
    sign_in(page, seeded.admin)
    page.goto("/settings/assignment")
    expect(page.get_by_text("No rules yet, so every new lead waits in the pool")).to_be_visible()

    # A group of both people, Max twice as often.
    page.get_by_label("Group name").fill("Sales DACH")
    page.get_by_role("checkbox", name="Ada Admin").check()
    page.get_by_role("checkbox", name="Max Member").check()
    page.get_by_label("Weight for Max Member").fill("2")
    page.get_by_role("button", name="Add group").click()
    expect(page.locator("#flash")).to_contain_text("Saved the group Sales DACH.")
    expect(page.locator("#group-list, .group-list")).to_contain_text("Max Member (weight 2)")

    # A cap of zero is refused beside the cap, and what was typed stays.
    form = page.locator("#rule-form")
    form.get_by_label("Rule name").fill("Germany → sales DACH")
    form.get_by_label("When").select_option(label="Country")
    form.get_by_label("Test").select_option(label="is")
    form.get_by_label("Value").fill("DE")
    form.get_by_label("Who receives the leads").select_option(label="Weighted round-robin over a group")
    form.get_by_label("Group").select_option(label="Sales DACH")
    form.get_by_label("Cap: most open leads per member").fill("0")
    form.get_by_role("button", name="Add rule").click()
    cap = page.locator("#rule-form").get_by_label("Cap: most open leads per member")
    expect(cap).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#cap-error")).to_contain_text("A cap is a number of open leads from 1")
    expect(page.locator("#rule-form").get_by_label("Rule name")).to_have_value("Germany → sales DACH")
    cap.fill("30")
    page.locator("#rule-form").get_by_role("button", name="Add rule").click()
    expect(rule_names(page)).to_have_text(["Germany → sales DACH"])
    expect(page.get_by_text("Country is “Germany” → weighted round-robin over Sales DACH, "
                            "at most 30 open leads each")).to_be_visible()

    # A catch-all rule for Max, then moved to the top with the keyboard-usable button.
    form = page.locator("#rule-form")
    form.get_by_label("Rule name").fill("Everyone else")
    form.get_by_label("Who receives the leads").select_option(label="One person")
    form.get_by_label("Person").select_option(label="Max Member")
    form.get_by_role("button", name="Add rule").click()
    expect(rule_names(page)).to_have_text(["Germany → sales DACH", "Everyone else"])
    with page.expect_response(re.compile(r"/settings/assignment/rules/\d+/move$")):
        page.get_by_role("button", name="Move Everyone else up").click()
    expect(rule_names(page)).to_have_text(["Everyone else", "Germany → sales DACH"])
    expect(page.get_by_role("button", name="Move Everyone else up")).to_be_disabled()
    expect(page.locator("#flash")).to_contain_text("Moved Everyone else up.")

    # Switched off, the catch-all no longer takes the German lead in the tester.
    with page.expect_response(re.compile(r"/settings/assignment/rules/\d+/enabled$")):
        page.get_by_role("button", name="Turn off Everyone else").click()
    expect(page.get_by_role("button", name="Turn on Everyone else")).to_be_focused()
    tester = page.locator("#try-form")
    tester.get_by_label("Country").fill("de")
    tester.get_by_role("button", name="Try the rules").click()
    result = page.locator("#try-result")
    expect(result).to_contain_text("would get this lead, by the rule “Germany → sales DACH”")
    expect(result).to_contain_text("Everyone else: Turned off.")

    from app.extensions import db
    from app.models import AssignmentRule
    with seeded.live.db():
        saved = {r.name: (r.enabled, r.cap, r.position) for r in db.session.scalars(select(AssignmentRule))}
    assert saved == {"Everyone else": (False, None, 0), "Germany → sales DACH": (True, 30, 1)}
    assert document_width(page) <= WIDTHS[size]["width"] + 1, f"the page is {document_width(page)}px wide"
