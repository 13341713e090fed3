"""A phone-sized screen: nothing makes the page wider than the phone, and "Move to…" still works."""
import re

from playwright.sync_api import expect

from tests.browser.conftest import card, column, column_cards, sign_in

PHONE = {"width": 375, "height": 812}


def expect_no_horizontal_overflow(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"{page.url} is {width}px wide on a {PHONE['width']}px screen"


def test_at_phone_width_the_board_pool_and_lead_page_fit_and_move_to_works(new_page, seeded):
    long_company = "Hyperconvergedinfrastructureconsultancyworldwide Incorporated"
    pia = seeded.lead("Pia", "Phone", company=long_company, value="4500", source="Referral",
                      email="pia.phone.with.a.rather.long.address@hyperconvergedinfrastructure.example",
                      job_title="Head of Procurement and Strategic Vendor Relationships")
    for n in range(3):
        seeded.lead(f"Filler{n}", "Card", stage=["New", "Contacted", "Won"][n], owner=seeded.member)
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, seeded.member)

    # Board: the columns scroll sideways inside the board, never the page.
    expect(column(page, "New").get_by_role("link", name="Pia Phone")).to_be_visible()
    expect_no_horizontal_overflow(page)
    board_scrolls = page.locator("#board").evaluate("b => b.scrollWidth > b.clientWidth")
    assert board_scrolls, "six columns cannot fit 375px; the board should scroll inside its own box"

    # "Move to…" on a phone: tap the summary, pick a stage, Move.
    pias_card = card(page, "Pia Phone")
    pias_card.locator("summary").tap()
    pias_card.get_by_label("Stage", exact=True).select_option(label="Won")
    with page.expect_response("**/board/move") as answer:
        pias_card.get_by_role("button", name="Move", exact=True).tap()
    assert answer.value.status == 200
    won = column_cards(page, "Won").get_by_role("link", name="Pia Phone", exact=True)
    expect(won).to_be_visible()
    expect(column(page, "Won").locator(".count")).to_have_text("2 leads")
    expect(column(page, "New").locator(".count")).to_have_text("1 lead")
    expect_no_horizontal_overflow(page)

    # The pool: the table may scroll inside its wrapper, the page may not.
    page.goto("/leads")
    expect(page.get_by_role("link", name="Pia Phone", exact=True)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Pia Phone")).to_contain_text("Won")
    expect_no_horizontal_overflow(page)

    # The lead page, with its long company name and email.
    page.get_by_role("link", name="Pia Phone", exact=True).tap()
    expect(page).to_have_url(re.compile(rf"/leads/{pia}$"))
    expect(page.get_by_role("heading", name="Pia Phone", level=1)).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^pia\.phone\."))).to_be_visible()
    expect(page.get_by_role("list").filter(has_text="Moved from New to Won.")).to_be_visible()
    expect_no_horizontal_overflow(page)
