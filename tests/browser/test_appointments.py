"""The whole appointment flow in Chromium: a member books on the lead page, the invitation goes
through a real SMTP server, the prospect opens the link from that email and presses the button,
and the board shows the answer. Opening the page without pressing confirms nothing."""
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import card, sign_in


@pytest.fixture
def mailing(seeded, smtp_server):
    """Point the live app's emails at the test SMTP server and its links at the live server."""
    config = seeded.live.app.config
    saved = {key: config[key] for key in ("SMTP_URL", "BASE_URL")}
    config.update(SMTP_URL=smtp_server.url, BASE_URL=seeded.url)
    yield smtp_server
    config.update(saved)


def deliver_all(live) -> None:
    """What the worker does for each queued row (the job tests run the real worker process)."""
    from app.extensions import db
    from app.models import OutboxEmail
    from app.services.outbox import deliver
    with live.db():
        for outbox_id in db.session.scalars(select(OutboxEmail.id).where(OutboxEmail.state == "queued")).all():
            assert deliver(outbox_id).outcome == "sent"


def appointment_status(live) -> str:
    from app.extensions import db
    from app.models import Appointment
    with live.db():
        return db.session.scalars(select(Appointment.status)).one()


def test_a_prospect_confirms_from_the_email_and_the_board_shows_it(member_page, seeded, mailing, new_page):
    page = member_page
    lead_id = seeded.lead("Lena", "Lindqvist", email="lena@example.com", owner=seeded.member)
    page.goto(f"/leads/{lead_id}")
    booking = page.get_by_role("region", name="Appointments")
    booking.get_by_label("Date").fill((date.today() + timedelta(days=3)).isoformat())
    booking.get_by_label("Start time").fill("10:30")
    booking.get_by_label("Location or video link").fill("https://meet.example.com/lena")
    booking.get_by_role("button", name="Book and send the invitation").click()
    expect(page.locator("#flash")).to_contain_text("The invitation is on its way.")
    expect(booking.get_by_text("Awaiting answer")).to_be_visible()

    deliver_all(seeded.live)
    message = mailing.wait_for(1)[0]
    assert message["To"] == "Lena Lindqvist <lena@example.com>"
    text = message.get_body(("plain",)).get_content()
    confirm = re.search(r"Confirm: (\S+)", text).group(1)
    assert confirm.startswith(seeded.url + "/appointments/confirm/")

    # A mail scanner's browser: opens the page, runs its scripts, presses nothing.
    scanner = new_page()
    scanner.goto(confirm)
    expect(scanner.get_by_role("button", name="Yes, I'll be there")).to_be_visible()
    scanner.wait_for_load_state("networkidle")
    assert appointment_status(seeded.live) == "awaiting"

    prospect = new_page(viewport={"width": 375, "height": 740})
    prospect.goto(confirm)
    expect(prospect.get_by_text("Hi Lena,")).to_be_visible()
    prospect.get_by_role("button", name="Yes, I'll be there").click()
    expect(prospect.get_by_role("heading", name="You're confirmed. See you then!")).to_be_visible()
    assert appointment_status(seeded.live) == "confirmed"

    page.goto("/board")
    expect(card(page, "Lena Lindqvist").locator(".appt-badge")).to_have_text("Appointment: Confirmed")
    expect(page.get_by_role("link", name=re.compile(r"Notifications\s*1 unread"))).to_be_visible()


# Under a loaded CI run the click inside the email's sandboxed frame once opened no tab within 10 s
# (second CI run of stop 26; it passed in the first and in every run alone): rerun while watched.
@pytest.mark.flaky(reruns=2)
def test_the_admin_reads_an_email_in_the_local_outbox_and_its_link_works(admin_page, seeded, new_page):
    from app.services import appointments
    from datetime import datetime, timezone
    seeded.live.app.config["BASE_URL"] = seeded.url
    lead_id = seeded.lead("Otto", "Outbox", email="otto@example.com")
    with seeded.live.db():
        appointments.book_appointment(lead_id, seeded.admin.id, duration_minutes=30,
                                      starts_at=datetime.now(timezone.utc) + timedelta(days=2))
    deliver_all(seeded.live)
    page = admin_page
    page.goto("/outbox")
    page.get_by_role("link", name=re.compile("Please confirm")).click()
    frame = page.frame_locator("iframe[title=\"The email's HTML\"]")
    expect(frame.get_by_text("Hi Otto,")).to_be_visible()
    with page.context.expect_page() as opened:
        frame.get_by_role("link", name="Confirm").click()
    prospect = opened.value
    expect(prospect.get_by_role("button", name="Yes, I'll be there")).to_be_visible()
    assert appointment_status(seeded.live) == "awaiting"
