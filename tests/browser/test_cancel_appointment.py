"""Cancelling an appointment from the lead page asks first, in place, and can carry a message."""
from datetime import datetime, timedelta, timezone

from playwright.sync_api import expect
from sqlalchemy import select


def book(seeded, lead_id: int) -> int:
    from app.services.appointments import book_appointment
    with seeded.live.db():
        starts = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
        return book_appointment(lead_id, seeded.admin.id, starts_at=starts, duration_minutes=30).id


def cancellation(live) -> tuple[str, str | None]:
    from app.extensions import db
    from app.models import Appointment, OutboxEmail
    with live.db():
        status = db.session.scalars(select(Appointment.status)).one()
        text = db.session.scalars(select(OutboxEmail.text_body)
                                  .where(OutboxEmail.kind == "appointment_cancel")).one_or_none()
        return status, text


def test_cancelling_asks_first_and_sends_the_message(admin_page, seeded):
    page = admin_page
    lead_id = seeded.lead("Lena", "Lindqvist", email="lena@example.com")
    book(seeded, lead_id)
    page.goto(f"/leads/{lead_id}")
    panel = page.get_by_role("region", name="Appointments")

    panel.get_by_role("button", name="Cancel appointment").click()
    message = panel.get_by_label("Message for the prospect (optional)")
    expect(message).to_be_focused()
    expect(panel.get_by_text("Cancel the appointment on")).to_be_visible()
    assert cancellation(seeded.live) == ("awaiting", None)

    panel.get_by_role("link", name="Keep the appointment").click()
    expect(panel.get_by_role("button", name="Cancel appointment")).to_be_visible()
    assert cancellation(seeded.live) == ("awaiting", None)

    panel.get_by_role("button", name="Cancel appointment").click()
    panel.get_by_label("Message for the prospect (optional)").fill("Sorry, I'm ill that day.")
    panel.get_by_role("button", name="Yes, cancel it").click()

    expect(page.locator("#flash")).to_contain_text("The prospect is told, with your message.")
    status, text = cancellation(seeded.live)
    assert status == "cancelled" and "Sorry, I'm ill that day." in text
