"""The lead page's Sequences panel with the keyboard only: enrol (a refusal beside the select, then
a success swapping the panel), stop, at desktop and phone width."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def _running_sequence(live, name: str = "Warm up") -> int:
    from app.services import email_templates, sequences
    with live.db():
        template = email_templates.create_template(email_templates.TemplateSettings(
            name="Hello again", subject="Hello", body_html="<p>Hello</p>"))
        sequence = sequences.create_sequence(name)
        sequences.add_step(sequence.id, sequences.StepSettings(template_id=template.id, delay_days=2))
        sequences.start(sequence.id)
        return sequence.id


def _current(live, lead_id: int) -> list[tuple[int, str]]:
    from sqlalchemy import select
    from app.extensions import db
    from app.models import SequenceEnrolment
    with live.db():
        return [tuple(row) for row in db.session.execute(select(SequenceEnrolment.sequence_id, SequenceEnrolment.status)
                                                          .where(SequenceEnrolment.lead_id == lead_id))]


# Known focus race, seen on main before issue 14 too (about one run in three, alone or in the suite):
# after an htmx outerHTML swap of the panel at 375 px, focus sometimes ends on <body> instead of
# the element htmx should restore by id or autofocus. Rerun while it is tracked down (see the note).
def test_a_member_enrols_and_stops_a_lead_with_the_keyboard_at_both_widths(new_page, seeded):
    sequence_id = _running_sequence(seeded.live)
    for width in (1280, 375):
        lead_id = seeded.lead(f"Width{width}", email=f"w{width}@example.com")
        page = new_page(viewport={"width": width, "height": 900})
        sign_in(page, seeded.member)
        page.goto(f"/leads/{lead_id}")
        panel = page.locator("#lead-sequences")
        expect(panel.get_by_text("Not in any sequence.")).to_be_visible()

        # Enrol without choosing: the message sits beside the select.
        select = page.get_by_label("Enrol in a sequence")
        select.focus()
        page.keyboard.press("Tab")
        expect(panel.get_by_role("button", name="Enrol", exact=True)).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#enrol-sequence-error")).to_have_text("Choose a sequence first.")
        expect(page.get_by_label("Enrol in a sequence")).to_have_attribute("aria-invalid", "true")

        page.get_by_label("Enrol in a sequence").focus()
        page.keyboard.press("ArrowDown")
        expect(page.get_by_label("Enrol in a sequence")).to_have_value(str(sequence_id))
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(panel.get_by_text("Next: Email: Hello again")).to_be_visible()
        expect(panel.get_by_role("button", name="Enrol", exact=True)).to_be_focused()
        expect(panel.get_by_text("Not in any sequence.")).to_have_count(0)
        expect(page.locator("#flash")).to_contain_text(f"Enrolled Width{width} Lead in “Warm up”.")
        expect(page.locator("#timeline")).to_contain_text("Warm up")
        assert _current(seeded.live, lead_id) == [(sequence_id, "active")]
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1

        stop = panel.get_by_role("button", name="Stop the sequence Warm up")
        stop.focus()
        page.keyboard.press("Enter")
        expect(panel.get_by_text("Stopped: by hand")).to_be_visible()
        expect(page.get_by_label("Enrol in a sequence")).to_be_focused()
        expect(panel.get_by_text("Not in any sequence.")).to_be_visible()
        assert _current(seeded.live, lead_id) == [(sequence_id, "stopped")]

        if width == 375:  # the pool's bulk bar offers the sequence, and still fits a phone
            page.goto("/leads")
            page.locator("#bulk-form summary").click()
            expect(page.get_by_label("Enrol in sequence")).to_be_visible()
            expect(page.get_by_role("button", name="Enrol all 2 matching")).to_be_visible()
            page.wait_for_load_state("load")
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1

        if width == 1280:  # their reply, logged: no outcome, no duration, and the panel shows the stop
            from app.services import sequences
            with seeded.live.db():
                sequences.enrol(lead_id, sequence_id, None)
            page.reload()
            page.get_by_label("They replied").check()
            expect(page.locator("#activity-outcome")).to_be_hidden()
            expect(page.locator("#activity-duration")).to_be_hidden()
            page.locator("#activity-note").fill("Not before spring")
            page.get_by_role("button", name="Log it").click()
            expect(page.locator("#flash")).to_contain_text("Logged their reply.")
            expect(panel.get_by_text("Stopped: the prospect replied")).to_be_visible()
            expect(panel.get_by_text("Not in any sequence.")).to_be_visible()
