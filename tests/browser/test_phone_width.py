"""A phone-sized screen: nothing makes the page wider than the phone, and "Move to…" still works."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import card, column, column_cards, sign_in

PHONE = {"width": 375, "height": 812}


@pytest.fixture
def phone(new_page, seeded):
    """A member signed in on a 375x812 touch screen, with cards in three columns."""
    for n, stage in enumerate(["New", "Contacted", "Won", "Lost"]):
        seeded.lead(f"Filler{n}", "Card", stage=stage, owner=seeded.member, value="100")
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, seeded.member)
    return page


def document_width(page) -> int:
    page.wait_for_load_state("load")  # measured with the stylesheet applied, never mid-load
    return page.evaluate("document.documentElement.scrollWidth")


def test_at_phone_width_the_board_scrolls_inside_its_own_box_not_the_page(phone):
    page = phone
    expect(column(page, "Lost").get_by_role("link", name="Filler3 Card")).to_be_attached()
    # The cards can be in the DOM before the stylesheet applies: wait for the laid-out board
    # (fails with a timeout if the board never scrolls inside its own box).
    page.wait_for_load_state("load")
    page.wait_for_function("() => { const b = document.getElementById('board');"
                           " return b.scrollWidth > b.clientWidth; }", timeout=10_000)
    assert document_width(page) <= PHONE["width"] + 1, f"the board page is {document_width(page)}px wide"


def fits_across(page, locator) -> bool:
    """The element is drawn inside the screen's width, so it is seen without scrolling sideways."""
    box = locator.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"] + 1


def test_at_phone_width_the_pool_is_a_list_of_cards_with_nothing_to_scroll_sideways(phone, seeded):
    page = phone
    seeded.lead("Pia", "Phone-Wellington-Smythe", company="Northwind Traders International Holdings",
                job_title="Head of Procurement", source="Referral", value="4500", stage="Appointment set",
                email="pia.phone.with.a.rather.long.address@hyperconvergedinfrastructure.example")

    page.goto("/leads")
    row = page.get_by_role("row").filter(has_text="Pia Phone-Wellington-Smythe")
    expect(row).to_contain_text("Northwind Traders")
    expect(page.get_by_text("5 leads", exact=True)).to_be_visible()
    assert document_width(page) <= PHONE["width"] + 1, f"the pool is {document_width(page)}px wide"
    # The table no longer scrolls inside its box: every row is a card as wide as the screen.
    assert page.evaluate("() => { const w = document.querySelector('.table-wrap');"
                         " return w.scrollWidth <= w.clientWidth + 1; }")
    claim = row.get_by_role("button", name="Claim Pia Phone-Wellington-Smythe")
    for part in [row.get_by_role("link", name="Pia Phone-Wellington-Smythe"), row.get_by_text("Northwind Traders"),
                 row.locator(".stage-badge"), row.get_by_text("Pool", exact=True), row.get_by_text("$4,500"), claim]:
        expect(part).to_be_visible()
        assert fits_across(page, part), f"{part} is off the side of the screen"
    owned = page.get_by_role("row").filter(has_text="Filler0 Card")
    expect(owned).to_contain_text("Max Member")
    assert fits_across(page, owned.get_by_text("Max Member"))
    # The top buttons wrap inside the screen; the header keeps its sort links.
    for name in ["Import CSV", "Likely duplicates", "Add a lead"]:
        assert fits_across(page, page.get_by_role("link", name=name, exact=True)), f"{name} is off the screen"
    expect(page.get_by_role("link", name="Value")).to_be_visible()

    claim.tap()  # the card is swapped for the claimed one, still a card
    expect(row).to_contain_text("Max Member")
    assert fits_across(page, row.get_by_text("Max Member"))
    assert document_width(page) <= PHONE["width"] + 1


def test_at_desktop_width_the_pool_is_still_a_table(page, seeded):
    from tests.browser.conftest import sign_in
    seeded.lead("Pia", "Phone", company="Northwind Traders", value="4500")
    sign_in(page, seeded.member)
    page.goto("/leads")
    row = page.get_by_role("row").filter(has_text="Pia Phone")
    expect(row).to_be_visible()
    assert page.evaluate("() => getComputedStyle(document.querySelector('.pool-row')).display") == "table-row"
    expect(page.get_by_role("columnheader", name="Contact")).to_be_visible()


def test_at_phone_width_a_lead_named_by_a_long_email_fits_the_screen(phone, seeded):
    from app.services.leads import create_lead
    email = "pia.phone.with.a.rather.long.address@hyperconvergedinfrastructure.example"
    with seeded.live.db():
        lead_id = create_lead({"email": email, "company": "Northwind Traders",
                               "job_title": "Head of Procurement and Strategic Vendor Relationships"}, None).id
    page = phone

    page.goto(f"/leads/{lead_id}")
    expect(page.get_by_role("heading", name=email, level=1)).to_be_visible()
    expect(page.get_by_role("link", name=email, exact=True)).to_be_visible()
    assert document_width(page) <= PHONE["width"] + 1, f"the lead page is {document_width(page)}px wide"


def test_at_phone_width_a_lead_page_fits_the_screen(phone, seeded):
    page = phone
    lead_id = seeded.lead("Pia", "Phone", company="Northwind Traders", source="Referral", value="4500",
                          email="pia.phone.with.a.rather.long.address@hyperconvergedinfrastructure.example",
                          job_title="Head of Procurement and Strategic Vendor Relationships")

    page.goto("/leads")
    page.get_by_role("link", name="Pia Phone", exact=True).tap()
    expect(page).to_have_url(re.compile(rf"/leads/{lead_id}$"))
    expect(page.get_by_role("heading", name="Pia Phone", level=1)).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^pia\.phone\."))).to_be_visible()
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("Added via manual entry in New.")
    assert document_width(page) <= PHONE["width"] + 1, f"the lead page is {document_width(page)}px wide"


def test_at_phone_width_move_to_moves_a_card(phone, seeded):
    page = phone
    seeded.lead("Pia", "Phone", owner=seeded.member, value="4500")
    page.reload()
    pias_card = card(page, "Pia Phone")

    pias_card.locator("summary").tap()
    pias_card.get_by_label("Stage", exact=True).select_option(label="Won")
    with page.expect_response("**/board/move") as answer:
        pias_card.get_by_role("button", name="Move", exact=True).tap()

    assert answer.value.status == 200
    dialog = page.get_by_role("dialog", name="Won: Pia Phone")  # closing asks for the won value first
    with page.expect_response("**/board/move"):
        dialog.get_by_role("button", name="Mark as won").tap()
    expect(column_cards(page, "Won").get_by_role("link", name="Pia Phone", exact=True)).to_be_visible()
    expect(column(page, "Won").locator(".count")).to_have_text("2 leads")
    expect(column(page, "Won").locator(".total")).to_have_text("$4,600")
    expect(column(page, "New").locator(".count")).to_have_text("1 lead")
    page.reload()
    expect(column_cards(page, "Won").get_by_role("link", name="Pia Phone", exact=True)).to_be_visible()


def test_at_phone_width_appointments_the_outbox_and_notifications_fit(new_page, seeded):
    from datetime import datetime, timedelta, timezone
    from app.services import appointment_emails, appointments
    from app.services.outbox import deliver
    lead_id = seeded.lead("Pia", "Phone", owner=seeded.admin,
                          email="pia.phone.with.a.rather.long.address@hyperconvergedinfrastructure.example")
    with seeded.live.db():
        booked = appointments.book_appointment(
            lead_id, seeded.admin.id, starts_at=datetime.now(timezone.utc) + timedelta(days=2), duration_minutes=45,
            location="https://meet.example.com/a-very-long-meeting-room-name-that-goes-on-and-on")
        appointments.answer(appointment_emails.link_token(booked, "reschedule"), "reschedule", "Mornings, please")
        from app.extensions import db
        from app.models import OutboxEmail
        invite = db.session.scalars(db.select(OutboxEmail.id).where(OutboxEmail.kind == "appointment_invite")).one()
        deliver(invite)
        token = appointment_emails.link_token(booked, "confirm")
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, seeded.admin)
    for path, text in [(f"/leads/{lead_id}", "New time asked"), ("/outbox", "Please confirm"),
                       (f"/outbox/{invite}", "As the recipient sees it"), ("/notifications", "asked for another time"),
                       ("/settings/team", "Team timezone"), (f"/appointments/confirm/{token}", "Hi Pia,")]:
        page.goto(path)
        expect(page.get_by_text(text).first).to_be_visible()
        assert document_width(page) <= PHONE["width"] + 1, f"{path} is {document_width(page)}px wide"


def test_at_phone_width_the_pool_folds_its_filters_unless_one_is_on(phone):
    """The first leads are on the first screen; a filter that is on keeps the panel open to show it."""
    page = phone
    page.goto("/leads")
    panel = page.locator("#pool-filters-panel")
    expect(panel).not_to_have_attribute("open", "")
    expect(page.get_by_role("link", name="Filler0 Card")).to_be_in_viewport()
    page.locator("#pool-filters-panel > summary").click()
    expect(page.get_by_label("Stage", exact=True)).to_be_visible()
    page.goto("/leads?owner=me")
    expect(page.locator("#pool-filters-panel")).to_have_attribute("open", "")
    expect(page.locator("#pool-filters-panel > summary")).to_contain_text("(1 on)")
