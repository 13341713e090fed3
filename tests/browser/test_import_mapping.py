"""The import's mapping screen with a file that has a title and metadata above its table: the header
line is found and shown, can be changed from the keyboard, and the screen asks how to read 03/04/2024."""
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import sign_in

PREAMBLE = (
    "Contacts export\n"
    "Exported by: Jane Doe\n"
    "Exported on:,2024-07-11\n"
    "\n"
    "First Name,Last Name,Email,Phone,Signed up\n"
    "Ada,Lovelace,ada@example.com,+1 415 555 0101,03/04/2024\n"
    "Grace,Hopper,grace@example.com,,05/06/2024\n"
    "\n"
    "Total: 2\n"
).encode()


def focus_is_visible(page) -> bool:
    return page.evaluate("() => { const s = getComputedStyle(document.activeElement);"
                         " return s.outlineStyle !== 'none' || s.boxShadow !== 'none'; }")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 812}],
                         ids=["desktop", "phone"])
def test_the_header_line_is_shown_changed_by_keyboard_and_the_date_order_asked(new_page, seeded, viewport):
    from app.extensions import db
    from app.models import LeadImport
    from app.services import custom_fields as cf
    with seeded.live.db():
        cf.create_field(cf.FieldSettings("Signed up", kind="date"))
    page = new_page(viewport=viewport)
    sign_in(page, seeded.member)
    page.goto(f"{seeded.url}/leads/import")
    page.get_by_label("CSV file").set_input_files({"name": "contacts.csv", "mimeType": "text/csv",
                                                   "buffer": PREAMBLE})
    page.get_by_role("button", name="Upload and preview").press("Enter")

    expect(page.get_by_role("heading", name="Column names on line 5")).to_be_visible()
    expect(page.get_by_role("group", name="Dates like 03/04/2024 in this file")).to_be_visible()
    lines = page.get_by_label("The column names are on")
    expect(lines).to_have_value("5")
    expect(lines.locator("option").first).to_have_text("Line 1: Contacts export")

    # The keyboard alone: the next line down, then the button.
    lines.focus()
    assert focus_is_visible(page)
    page.keyboard.press("ArrowDown")
    expect(lines).to_have_value("6")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Use this line as the header")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Column names on line 6")).to_be_visible()
    expect(page.get_by_role("group", name="Dates like 03/04/2024 in this file")).to_have_count(0)
    expect(page.get_by_role("combobox", name="Ada", exact=True)).to_have_value("ignore")  # the mapping was guessed again

    lines = page.get_by_label("The column names are on")
    lines.focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Column names on line 5")).to_be_visible()
    expect(page.get_by_role("combobox", name="Email", exact=True)).to_have_value("email")

    day_first = page.get_by_label("Day first: 03/04/2024 is 3 April 2024")
    day_first.focus()
    assert focus_is_visible(page)
    page.keyboard.press("Space")
    expect(day_first).to_be_checked()

    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"] + 1, f"the mapping page is {width}px wide"

    page.get_by_role("button", name="Start import").press("Enter")
    page.wait_for_load_state("load")
    with seeded.live.db():
        imp = db.session.scalar(select(LeadImport).order_by(LeadImport.id.desc()))
        assert (imp.header_row, imp.date_order, imp.mapping["2"]) == (5, "dmy", "email")
