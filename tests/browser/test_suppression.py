"""The unsubscribe page a prospect opens from an email, and the admins' suppression list, at phone
and desktop width, with the keyboard."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in

PHONE, DESKTOP = {"width": 375, "height": 740}, {"width": 1280, "height": 800}


def fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def on_list(live, address: str) -> bool:
    from app.services.suppression import is_suppressed
    with live.db():
        return is_suppressed(address)


def test_a_prospect_unsubscribes_with_the_button_and_an_admin_finds_and_lifts_it(new_page, seeded):
    from app.services.suppression import unsubscribe_url
    lead_id = seeded.lead("Lena", "Lindqvist", email="lena@example.com")
    with seeded.live.db():
        link = re.sub(r"^https?://[^/]+", "", unsubscribe_url("lena@example.com", lead_id))

    prospect = new_page(viewport=PHONE)
    prospect.goto(link)
    expect(prospect.get_by_role("heading", name="Unsubscribe")).to_be_visible()
    expect(prospect.get_by_text("Press the button to stop emails from Leadboard to l…@example.com.")).to_be_visible()
    assert fits(prospect) and not on_list(seeded.live, "lena@example.com")  # opening it changed nothing
    button = prospect.get_by_role("button", name="Unsubscribe")
    button.focus()
    prospect.keyboard.press("Enter")
    expect(prospect.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
    assert fits(prospect) and on_list(seeded.live, "lena@example.com")
    prospect.set_viewport_size(DESKTOP)
    prospect.goto(f"{link[:-4]}AAAA")
    expect(prospect.get_by_role("heading", name="This link doesn't work")).to_be_visible()

    admin = new_page(viewport=DESKTOP)
    sign_in(admin, seeded.admin)
    admin.get_by_text("Settings", exact=True).click()
    admin.get_by_role("link", name="Suppression list").click()
    entries = admin.get_by_role("list", name="Suppressed addresses")
    expect(entries).to_contain_text("lena@example.com")
    expect(entries.get_by_role("link", name="Lena Lindqvist")).to_be_visible()

    admin.get_by_label("Email address").fill("not an address")
    admin.get_by_role("button", name="Add to the list").click()
    expect(admin.locator("#address-error")).to_contain_text("Enter a valid email address.")
    expect(admin.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")

    admin.set_viewport_size(PHONE)
    admin.goto("/settings/suppression")
    admin.get_by_label("Find an address (its beginning)").fill("len")
    expect(admin).to_have_url(re.compile(r"q=len"))  # htmx swapped the list and kept the address in step
    admin.get_by_role("link", name="Remove… lena@example.com").click()
    reason = admin.get_by_label("Why may it be emailed again?")
    admin.get_by_role("button", name="Remove from the list").click()
    expect(admin.locator("#reason-error")).to_contain_text("Say why the address may be emailed again")
    reason.fill("She called and asked for the newsletter again")
    admin.get_by_role("button", name="Remove from the list").click()
    expect(admin.locator("#flash")).to_contain_text("Took lena@example.com off the suppression list")
    expect(entries).to_contain_text("Removed by Ada Admin")
    expect(entries).to_contain_text("She called and asked for the newsletter again")
    assert fits(admin) and not on_list(seeded.live, "lena@example.com")
