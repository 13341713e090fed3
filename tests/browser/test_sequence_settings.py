"""Sequences on a desktop and a phone: an admin makes a sequence and its first step with the keyboard
alone, sees it described in its own words, and neither page scrolls sideways at 375 px."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def no_sideways_scroll(page, width: int) -> None:
    page.wait_for_load_state("load")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1


def test_an_admin_makes_a_sequence_and_a_step_with_the_keyboard(new_page, seeded):
    from app.extensions import db
    from app.services import email_templates
    with seeded.live.db():
        email_templates.create_template(email_templates.TemplateSettings(
            name="Check in", subject="Hi {{ lead.first_name }}", body_html="<p>Hi</p>"))
        db.session.commit()

    for width, viewport in WIDTHS.items():
        page = new_page(viewport=viewport, is_mobile=width == "phone", has_touch=width == "phone")
        sign_in(page, seeded.admin)
        page.goto("/settings/sequences")
        if width == "desktop":
            expect(page.get_by_text("No sequences yet")).to_be_visible()
        no_sideways_scroll(page, viewport["width"])

        page.get_by_label("Name").focus()
        page.keyboard.press("Enter")  # an empty name is refused beside the field
        expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#name-error")).to_have_text("Give the sequence a name.")
        page.get_by_label("Name").focus()
        page.keyboard.type(f"Warm up on {width}")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/settings/sequences/\d+$"))
        expect(page.get_by_role("heading", name=f"Warm up on {width}", level=1)).to_be_visible()
        expect(page.get_by_text("No steps yet")).to_be_visible()

        page.get_by_label("Email template").focus()
        page.keyboard.press("ArrowDown")
        expect(page.get_by_label("Email template")).to_have_value(re.compile(r"\d+"))
        page.get_by_label("Delay in days").focus()
        page.keyboard.press("Control+A")
        page.keyboard.type("2")
        for day in ("Mon", "Wed"):
            page.get_by_label(day, exact=True).focus()
            page.keyboard.press("Space")
        page.get_by_label("From", exact=True).focus()
        page.keyboard.type("0900AM")
        page.get_by_label("To", exact=True).focus()
        page.keyboard.type("1130AM")
        page.get_by_role("button", name="Add step").focus()
        page.keyboard.press("Enter")

        step = page.get_by_role("list").filter(has_text="Email: Check in")
        expect(step).to_contain_text("after 2 days; sent Mon, Wed, 09:00–11:30")
        expect(page.get_by_text("Added step 1: Email: Check in.")).to_be_visible()
        page.get_by_role("button", name="Start").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Status: Running")).to_be_visible()
        no_sideways_scroll(page, viewport["width"])

    from app.models import Sequence
    with seeded.live.db():
        names = sorted(s.name for s in db.session.query(Sequence).all())
        steps = sorted((s.window_days, s.window_start, s.window_end, s.delay_days)
                       for seq in db.session.query(Sequence).all() for s in seq.steps)
    assert names == ["Warm up on desktop", "Warm up on phone"]
    assert steps == [("02", 540, 690, 2)] * 2
