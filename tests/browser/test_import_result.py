"""An import's result page at desktop and phone width: every row with its outcome and lead, narrowed
by outcome, "See the leads" to the pool filtered to the import (a chip that removes the filter), and
undoing the import after a confirm step."""
import io

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

FILE = (b"Email,First name,Last name\n"
        b"ada.l@example.com,Ada,Lovelace\n"
        b",,\n"
        b"nobody,,\n"
        b"grace@example.com,Grace,Hopper\n")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 375, "height": 812}],
                         ids=["desktop", "phone"])
def test_the_result_page_lists_every_row_and_the_import_can_be_seen_and_undone(new_page, seeded, viewport):
    from app.extensions import db
    from app.services.imports import create_import, run_import
    with seeded.live.db():
        imp = create_import(io.BytesIO(FILE), "fair-contacts.csv", seeded.member.id)
        imp.status = "queued"
        db.session.commit()
        import_id = run_import(imp.id).id

    page = new_page(viewport=viewport)
    sign_in(page, seeded.member)
    page.goto(f"/leads/import/{import_id}/progress")
    ledger = page.locator("#import-ledger")
    expect(ledger.get_by_role("link", name="Created (2)")).to_be_visible()
    expect(ledger.get_by_role("link", name="Rejected (1)")).to_be_visible()
    expect(ledger.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    expect(ledger.locator("#ledger-row-4")).to_contain_text("no lead to import")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"] + 1, f"the result page is {width}px wide"

    ledger.get_by_role("link", name="Rejected (1)").click()
    expect(page).to_have_url(f"{seeded.url}/leads/import/{import_id}/progress?outcome=rejected")
    expect(page.locator("#ledger-row-4")).to_be_visible()
    expect(page.locator("#ledger-row-2")).to_have_count(0)

    page.get_by_role("link", name="See the leads").click()
    chip = page.locator("#import-chip")
    expect(chip).to_contain_text("fair-contacts.csv")
    expect(page.locator("#lead-table")).to_contain_text("Grace")
    chip.get_by_role("link", name="Remove this filter").click()
    expect(page.locator("#import-chip")).to_have_count(0)

    page.goto(f"/leads/import/{import_id}/progress")
    page.get_by_role("link", name="Undo this import").click()
    expect(page.get_by_role("heading", name="Undo the import of fair-contacts.csv?")).to_be_visible()
    page.get_by_role("button", name="Undo the import").click()
    expect(page.get_by_text("Import undone: 2 leads removed, 0 reverted.")).to_be_visible()
    expect(page.locator("#import-undone")).to_be_visible()
    expect(page.get_by_role("link", name="Undo this import")).to_have_count(0)
