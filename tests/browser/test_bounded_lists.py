"""The lead page in Chromium: older notes load in place with focus on the first one added, and the
booking form's time-zone suggestions arrive when the field is first focused."""
from datetime import date, timedelta

from playwright.sync_api import expect
from sqlalchemy import select


def add_notes(seeded, lead_id: int, count: int) -> None:
    from app.services.leads import add_note
    with seeded.live.db():
        for n in range(count):
            add_note(lead_id, f"Note number {n}", seeded.admin.id)


def test_older_notes_load_in_place_and_focus_moves_to_the_first_of_them(member_page, seeded):
    page = member_page
    lead_id = seeded.lead("Nora", "Notes", owner=seeded.member)
    add_notes(seeded, lead_id, 25)
    page.goto(f"/leads/{lead_id}")
    notes = page.get_by_role("region", name="Notes").locator("#notes")
    expect(notes.locator("li[id^=note-]")).to_have_count(20)
    expect(notes.get_by_text("Note number 4", exact=True)).to_have_count(0)

    page.get_by_role("link", name="Show older notes").click()
    expect(notes.locator("li[id^=note-]")).to_have_count(25)
    expect(page.get_by_role("link", name="Show older notes")).to_have_count(0)
    expect(notes.locator("li[id^=note-]").nth(20)).to_be_focused()
    expect(notes.locator("li[id^=note-]").last).to_contain_text("Note number 0")
    expect(page).to_have_url(f"{seeded.url}/leads/{lead_id}")


def test_the_zone_list_arrives_on_focus_and_a_typed_zone_books(member_page, seeded):
    page = member_page
    lead_id = seeded.lead("Zed", "Zones", owner=seeded.member)
    page.goto(f"/leads/{lead_id}")
    panel = page.get_by_role("region", name="Appointments")
    options = page.locator("#timezone-options option")
    assert options.count() < 20
    panel.get_by_label("Date").fill((date.today() + timedelta(days=3)).isoformat())
    panel.get_by_label("Start time").fill("11:00")
    zone = panel.get_by_label("Prospect's timezone")
    zone.focus()
    expect(page.locator('#timezone-options option[value="Pacific/Chatham"]')).to_have_count(1)
    zone.fill("Pacific/Chatham")
    panel.get_by_role("button", name="Book and send the invitation").click()
    expect(page.locator("#flash")).to_contain_text("Booked for")

    from app.extensions import db
    from app.models import Appointment
    with seeded.live.db():
        assert db.session.scalars(select(Appointment.timezone)).one() == "Pacific/Chatham"


def test_the_move_form_arrives_when_opened_from_the_keyboard_and_moves_the_appointment(member_page, seeded):
    from datetime import datetime

    from app.services.appointments import book_appointment
    page = member_page
    lead_id = seeded.lead("Mo", "Moves", owner=seeded.member)
    with seeded.live.db():
        starts = (datetime.now().astimezone() + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
        booked = book_appointment(lead_id, seeded.member.id, starts_at=starts, duration_minutes=30).id
    page.goto(f"/leads/{lead_id}")
    item = page.locator(f"#appointment-{booked}")
    expect(item.get_by_label("Start time")).to_have_count(0)  # not rendered until asked for
    item.get_by_text("Move to another time").focus()
    page.keyboard.press("Enter")
    start = item.get_by_label("Start time")
    expect(start).to_be_visible()
    start.fill("15:45")
    item.get_by_role("button", name="Move and send the update").click()
    expect(page.locator("#flash")).to_contain_text("Moved to")

    from app.extensions import db
    from app.models import Appointment
    with seeded.live.db():
        assert f"{db.session.get(Appointment, booked).starts_at:%M}" == "45"
