"""The lead page puts a rep's actions first (call, write email, claim, move stage, add a note, book),
then the appointments, then the details; a note or a call logged by htmx leaves the stage form able
to move the lead (its optimistic-lock version follows along)."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


def top(locator) -> float:
    return locator.bounding_box()["y"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_lead_page_puts_the_actions_before_the_appointments_and_the_details(new_page, seeded, viewport):
    lead_id = seeded.lead("Pia", "Phone", company="Northwind Traders", phone="+1 415 555 0123",
                          email="pia.phone.with.a.rather.long.address@hyperconvergedinfrastructure.example")
    page = new_page(viewport=viewport, **({"is_mobile": True, "has_touch": True} if viewport is PHONE else {}))
    sign_in(page, seeded.member)
    page.goto(f"/leads/{lead_id}")

    actions = page.get_by_role("region", name="Actions")
    call = actions.get_by_role("link", name=re.compile(r"^Call "))
    expect(call).to_have_attribute("href", "tel:+14155550123")
    expect(actions.get_by_role("link", name="Write email")).to_be_visible()
    expect(actions.get_by_role("button", name="Claim this lead")).to_be_visible()
    expect(actions.get_by_label("Move to stage")).to_be_visible()
    expect(actions.get_by_label("Add a note")).to_be_visible()
    expect(actions.get_by_role("link", name="Book an appointment")).to_be_visible()

    appointments = page.get_by_role("region", name="Appointments")
    details = page.get_by_role("region", name="Details")
    # In the document (so for the keyboard and screen readers too) and on the screen.
    assert page.evaluate("""() => {
        const [a, b, c] = ['#lead-actions', '#appointments', '[aria-labelledby=details-h]'].map(s => document.querySelector(s));
        return Boolean(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING)
            && Boolean(b.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING); }""")
    assert top(actions) < top(appointments) < top(details)
    if viewport is PHONE:  # the actions are on the first screen
        expect(call).to_be_in_viewport()
        expect(actions.get_by_role("button", name="Claim this lead")).to_be_in_viewport()
    page.wait_for_load_state("load")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"] + 1

    # "Book an appointment" leads to the booking form, opened, even when appointments fold it away.
    actions.get_by_role("link", name="Book an appointment").click()
    expect(appointments.get_by_label("Date")).to_be_visible()


def test_a_move_after_a_note_and_a_logged_call_is_not_refused_as_stale(new_page, seeded):
    from app.extensions import db
    from app.models import Lead
    lead_id = seeded.lead("Pia", "Phone", phone="+1 415 555 0123", owner=seeded.member)
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, seeded.member)
    page.goto(f"/leads/{lead_id}")
    actions = page.get_by_role("region", name="Actions")

    actions.get_by_label("Add a note").fill("Called, left a voicemail")
    with page.expect_response(re.compile(r"/notes$")):
        actions.get_by_role("button", name="Save note").tap()
    expect(page.get_by_role("region", name="Notes")).to_contain_text("Called, left a voicemail")
    with seeded.live.db():
        version = db.session.get(Lead, lead_id).version
    expect(page.locator("#lead-stage-version")).to_have_value(str(version))

    log = page.get_by_role("region", name="Log a call, email, meeting or their reply")
    log.get_by_label("Call", exact=True).check()
    log.get_by_label("No answer").check()
    with page.expect_response(re.compile(r"/activities$")):
        log.get_by_role("button", name="Log it").tap()
    expect(page.locator("#timeline")).to_contain_text("No answer")

    actions.get_by_label("Move to stage").select_option(label="Contacted")
    actions.get_by_role("button", name="Move", exact=True).tap()
    expect(page.locator("#flash")).to_contain_text("Moved Pia Phone to Contacted.")
    expect(page.locator("#flash")).not_to_contain_text("changed")
    with seeded.live.db():
        db.session.expire_all()
        assert db.session.get(Lead, lead_id).stage_id == seeded.stages["Contacted"]


def test_book_an_appointment_opens_the_booking_form_when_appointments_fold_it_away(new_page, seeded):
    from datetime import datetime, timedelta, timezone
    from app.services import appointments
    lead_id = seeded.lead("Pia", "Phone", owner=seeded.member, email="pia@example.com")
    with seeded.live.db():
        appointments.book_appointment(lead_id, seeded.member.id, duration_minutes=30,
                                      starts_at=datetime.now(timezone.utc) + timedelta(days=2))
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, seeded.member)
    page.goto(f"/leads/{lead_id}")
    booking = page.get_by_role("region", name="Appointments").get_by_label("Date")
    expect(booking).to_be_hidden()  # folded: the lead has an appointment already
    page.get_by_role("region", name="Actions").get_by_role("link", name="Book an appointment").tap()
    expect(booking).to_be_visible()
    expect(booking).to_be_in_viewport()
