"""Logging a call on the lead page: two presses in the form, one from the prompt a tel: link
opens, and a refused duration shown beside its field, at desktop and phone width."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import sign_in


def logged(live, lead_id):
    from app.extensions import db
    from app.models import Activity
    with live.db():
        return list(db.session.execute(select(Activity.kind, Activity.outcome, Activity.duration_minutes)
                                       .where(Activity.lead_id == lead_id).order_by(Activity.id)))


@pytest.mark.parametrize("width", [1280, 375])
def test_a_member_logs_a_call_in_two_presses_and_from_the_tel_prompt(new_page, seeded, width):
    page = new_page(viewport={"width": width, "height": 900})
    sign_in(page, seeded.member)
    lead_id = seeded.lead("Cal", "Caller", owner=seeded.member, phone="+14155550123")
    page.goto(f"/leads/{lead_id}")
    form = page.locator("#activity-form")
    expect(page.locator("#touch-facts")).to_contain_text("First response: not yet")

    # Two presses: the outcome, then "Log it" (a call is already chosen).
    form.get_by_label("Reached").check()
    form.get_by_role("button", name="Log it").click()
    expect(page.locator("#timeline")).to_contain_text("Called: Reached.")
    expect(page.locator("#touch-facts")).to_contain_text("by Max Member")
    expect(page.locator("#flash")).to_contain_text("Logged the call.")
    expect(page.locator("#activity-form").get_by_label("Reached")).not_to_be_checked()

    # The tel: link offers to log the call it starts (the dialer itself is not opened here).
    prompt = page.get_by_role("group", name="How did the call go?")
    expect(prompt).to_be_hidden()
    tel = page.get_by_role("region", name="Actions").locator('a[href^="tel:"]')  # the Call button, first on the page
    tel.evaluate("link => link.addEventListener('click', event => event.preventDefault())")
    tel.click()
    expect(prompt).to_be_visible()
    prompt.get_by_role("button", name="Left a voicemail").click()
    expect(page.locator("#timeline")).to_contain_text("Called: Left a voicemail.")
    expect(prompt).to_be_hidden()

    # A meeting has no outcome to choose; an absurd duration is refused beside the field.
    page.locator("#activity-form").get_by_label("Meeting").check()
    expect(page.locator("#activity-form #activity-outcome")).to_be_hidden()
    page.get_by_label("Duration in minutes (optional)").fill("2000")
    page.locator("#activity-form").get_by_role("button", name="Log it").click()
    expect(page.locator("#activity-duration-error")).to_contain_text("at most 1,440 minutes")
    expect(page.get_by_label("Duration in minutes (optional)")).to_have_attribute("aria-invalid", "true")
    assert logged(seeded.live, lead_id) == [("call", "reached", None), ("call", "voicemail", None)]

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
