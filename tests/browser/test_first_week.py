"""What a new team trips over in its first week, found by trying it as a new user would."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}


def hint_and_room(box) -> list[float]:
    """The placeholder's width in the box's own font, and the box's content width."""
    return box.evaluate("""el => {
        const style = getComputedStyle(el);
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = style.font;
        return [ctx.measureText(el.placeholder).width,
                el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)];
    }""")


@pytest.mark.parametrize("width", [1280, 800])
def test_an_admins_search_box_hint_fits_beside_the_settings_entry(width, new_page, seeded):
    page = new_page(viewport={"width": width, "height": 800})
    sign_in(page, seeded.admin)
    expect(page.locator(".nav-menu").get_by_text("Settings", exact=True)).to_be_visible()
    box = page.get_by_role("searchbox", name="Find")  # the label still names it for screen readers
    expect(box).to_be_visible()
    page.wait_for_load_state("load")
    needs, room = hint_and_room(box)
    assert needs <= room, f"the hint needs {needs:.0f}px, the box has {room:.0f}px"
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_leaving_the_deactivate_question_says_it_keeps_the_person_active(new_page, seeded):
    page = new_page(**PHONE)
    sign_in(page, seeded.admin)
    page.goto("/settings/users")
    page.get_by_role("link", name=f"Deactivate {seeded.member.name}").press("Enter")
    expect(page.get_by_role("heading", name=f"Deactivate {seeded.member.name}?")).to_be_visible()
    # Beside "Their open leads go to", "Keep them" read as keeping the leads; the way out says what it keeps.
    cancel = page.get_by_role("link", name=f"Cancel: keep {seeded.member.name} active")
    cancel.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/settings/users$"))
    expect(page.get_by_role("link", name=f"Deactivate {seeded.member.name}")).to_be_visible()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_quick_add_opened_by_keyboard_takes_the_typing_in_its_name_box(size, new_page, seeded):
    from tests.browser.conftest import column, column_cards
    page = new_page(**PHONE) if size == "phone" else new_page()
    sign_in(page, seeded.member)
    new = column(page, "New")
    new.locator(".quick-add > summary").focus()
    # Enter then Tab at once, as a keyboard user does, before the form has arrived: the Tab used to
    # land on the placeholder link the swap removes, and the typing went nowhere.
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(new.get_by_label("Name")).to_be_focused()
    page.keyboard.type("Tabby Typist")
    page.keyboard.press("Enter")
    expect(column_cards(page, "New").get_by_role("link", name="Tabby Typist", exact=True)).to_be_focused()


def test_after_claiming_from_the_pool_on_a_phone_focus_stays_on_that_lead(new_page, seeded):
    from tests.browser.conftest import sign_in as _sign_in
    for name in ("Ann", "Ben", "Cat"):
        seeded.lead(name, "Pooled")
    page = new_page(**PHONE)
    _sign_in(page, seeded.member)
    page.goto("/leads")
    claim = page.get_by_role("button", name="Claim Ben Pooled")
    claim.focus()
    page.keyboard.press("Enter")
    row = page.locator("tr.pool-row").filter(has=page.get_by_role("link", name="Ben Pooled"))
    expect(row).to_contain_text(seeded.member.name)
    # Focus was on main (the top of the list); it stays on the claimed lead's card, so Tab carries on there.
    expect(row).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("checkbox", name="Select Ben Pooled")).to_be_focused()


def test_the_outbox_shows_an_email_with_the_teams_logo_when_the_app_runs_on_http(new_page, seeded):
    """`make run` serves http://127.0.0.1; the preview's CSP let only https: images in, so the logo the
    admin just uploaded was a blank gap in every email they checked."""
    import io

    from PIL import Image
    seeded.live.app.config["BASE_URL"] = seeded.url  # http, as make run's
    out = io.BytesIO()
    Image.new("RGB", (60, 30), (15, 118, 110)).save(out, format="PNG")
    page = new_page()
    sign_in(page, seeded.admin)
    page.goto("/settings/team")
    page.get_by_label("Team name").fill("Acme Sales")
    page.get_by_label("Logo (PNG, JPEG or WebP, up to 1 MB)").set_input_files(
        {"name": "logo.png", "mimeType": "image/png", "buffer": out.getvalue()})
    page.get_by_role("button", name="Save").press("Enter")
    expect(page.get_by_text("Team settings saved.")).to_be_visible()
    page.goto("/settings/users")
    page.get_by_label("Email").fill("nia@example.com")
    page.get_by_role("button", name="Send invitation").press("Enter")
    expect(page.get_by_text("Invited nia@example.com.")).to_be_visible()
    page.goto("/outbox")
    page.get_by_role("link", name=re.compile("invited you to join Acme Sales")).click()
    logo = page.frame_locator("iframe").locator("img").first
    expect(logo).to_be_attached()
    page.wait_for_timeout(300)
    assert logo.evaluate("(img) => img.complete && img.naturalWidth") == 60
    # The link opens a page that names the team the email named.
    link = page.locator("pre.email-text a").get_attribute("href")
    guest = new_page(**PHONE)
    guest.goto(link)
    expect(guest.get_by_role("heading", name="Join Acme Sales on Leadboard")).to_be_visible()


@pytest.mark.parametrize("path, label", [("/account", "Your timezone"), ("/settings/team", "Team timezone")])
def test_timezone_pickers_offer_todays_zones_with_names_people_read(path, label, new_page, seeded):
    page = new_page(**PHONE)
    sign_in(page, seeded.admin)
    page.goto(path)
    picker = page.get_by_label(label)
    values = picker.locator("option").evaluate_all("options => options.map(o => o.value)")
    # Before: every IANA name (about 600), old aliases too, shown as raw identifiers.
    assert "US/Eastern" not in values and "Africa/Asmera" not in values and "America/Buenos_Aires" not in values
    assert "America/New_York" in values and "UTC" in values
    expect(picker.locator("option[value='America/New_York']")).to_have_text("America/New_York · Eastern Time (New York)")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_a_zone_saved_before_the_short_list_stays_chosen(new_page, seeded):
    from app.extensions import db
    from app.models import User
    with seeded.live.db():
        db.session.get(User, seeded.member.id).timezone = "US/Eastern"
        db.session.commit()
    page = new_page()
    sign_in(page, seeded.member)
    page.goto("/account")
    expect(page.get_by_label("Your timezone")).to_have_value("US/Eastern")
