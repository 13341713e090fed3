"""Markup in a lead's name is shown as text everywhere, and never runs."""
import re

from playwright.sync_api import expect

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def test_script_in_a_lead_name_shows_as_text_on_the_card_the_pool_and_the_lead_page(admin_page, seeded):
    page = admin_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    lead_id = seeded.lead(SCRIPT, IMG, company=f"{IMG} Inc", value="10")
    name = f"{SCRIPT} {IMG}"

    page.goto("/board")
    card_link = page.get_by_role("list", name="New cards").get_by_role("link", name=name, exact=True)
    expect(card_link).to_have_text(name)
    expect(page.locator(".card-company")).to_have_text(f"{IMG} Inc")

    page.goto("/leads")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    expect(row.get_by_role("link", name=name, exact=True)).to_have_text(name)
    expect(row.get_by_role("checkbox", name=f"Select {name}", exact=True)).to_be_visible()
    expect(row).to_contain_text(f"{IMG} Inc")

    row.get_by_role("link", name=name, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/leads/{lead_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page).to_have_title(f"{name} · Leadboard")

    # Same again for a note added through the page (an htmx swap, not a full render).
    page.get_by_role("textbox", name="Add a note").fill(f"Said {SCRIPT} on the phone {IMG}")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("#notes .note-body")).to_have_text(f"Said {SCRIPT} on the phone {IMG}")
    expect(page.locator("#timeline")).to_contain_text(f"Note: Said {SCRIPT} on the phone {IMG}")

    # Nothing was parsed as markup: no injected elements anywhere on the page.
    assert page.locator("main script, main img").count() == 0
    assert dialogs == []
