"""The pool's table keeps one state: typing a search and at once sorting or paging ends with the
address and the table saying the same thing (issue 9, section 6)."""
import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def names_in_table(page) -> list[str]:
    return page.locator("#lead-table tbody tr td:nth-child(2) a").all_inner_texts()


def names(page):
    return page.locator("#lead-table tbody tr td:nth-child(2) a")


def query(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def test_typing_a_search_then_clicking_a_sort_header_at_once_keeps_both(admin_page, seeded):
    page = admin_page
    for last in ("Carlsson", "Andersson", "Berg"):  # the name column sorts by last name
        seeded.lead("Pat", last, company="Acme")
    seeded.lead("Zed", "Zimmer", company="Globex")
    page.goto("/leads")
    expect(page.locator("#lead-table tbody tr")).to_have_count(4)

    page.get_by_label("Search").press_sequentially("acme")
    page.locator("#lead-table").get_by_role("link", name="Name", exact=True).click()  # within the typing delay

    expect(page.locator("#lead-table").get_by_role("columnheader", name="Name")).to_have_attribute(
        "aria-sort", "descending")
    expect(page.locator("#lead-table tbody tr")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"[?&]q=acme"))
    expect(page).to_have_url(re.compile(r"[?&]sort=name"))
    assert query(page) == {"q": "acme", "sort": "name", "dir": "desc"}
    assert names_in_table(page) == ["Pat Carlsson", "Pat Berg", "Pat Andersson"]

    # The address is the state: loading it again shows the same table.
    page.reload()
    expect(page.locator("#lead-table tbody tr")).to_have_count(3)
    assert names_in_table(page) == ["Pat Carlsson", "Pat Berg", "Pat Andersson"]
    expect(page.get_by_label("Search")).to_have_value("acme")


def test_paging_keeps_the_search_and_sort_and_a_new_search_goes_back_to_page_one(admin_page, seeded):
    page = admin_page
    seeded.live.app.config["PAGE_SIZE"] = 2
    try:
        for last in ("Andersson", "Berg", "Carlsson", "Dahl", "Ek"):
            seeded.lead("Pat", last, company="Acme")
        seeded.lead("Zed", "Zimmer", company="Globex")
        page.goto("/leads?sort=name&dir=asc")
        page.get_by_label("Search").press_sequentially("acme")
        page.get_by_role("link", name="Next →").click()  # the pager of the table before the search

        expect(page.get_by_role("link", name="← Previous")).to_be_visible()
        expect(page).to_have_url(re.compile(r"[?&]after="))
        assert set(query(page)) == {"q", "sort", "dir", "after"} and query(page)["q"] == "acme"
        expect(names(page)).to_have_text(["Pat Carlsson", "Pat Dahl"])

        page.get_by_label("Search").fill("acm")
        expect(page.get_by_role("link", name="← Previous")).to_have_count(0)
        expect(page).not_to_have_url(re.compile(r"[?&]after="))
        expect(names(page)).to_have_text(["Pat Andersson", "Pat Berg"])
    finally:
        seeded.live.app.config["PAGE_SIZE"] = 50


def test_the_pager_works_from_the_keyboard_and_fits_a_phone(new_page, seeded):
    page = new_page(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    sign_in(page, seeded.member)
    seeded.live.app.config["PAGE_SIZE"] = 2
    try:
        for last in ("Andersson", "Berg", "Carlsson", "Dahl", "Ek"):
            seeded.lead("Pat", last)
        page.goto("/leads?sort=name&dir=asc")
        expect(page.get_by_text("5 leads", exact=True)).to_be_visible()

        page.get_by_role("link", name="Last »").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("link", name="Next →")).to_have_count(0)
        expect(names(page)).to_have_text(["Pat Dahl", "Pat Ek"])
        expect(page).to_have_url(re.compile(r"[?&]last=1"))

        page.get_by_role("link", name="← Previous").focus()
        page.keyboard.press("Enter")
        expect(names(page)).to_have_text(["Pat Berg", "Pat Carlsson"])
        expect(page.get_by_role("link", name="« First")).to_be_visible()
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 376

        page.get_by_role("link", name="« First").click()
        expect(page.get_by_role("link", name="« First")).to_have_count(0)
        expect(names(page)).to_have_text(["Pat Andersson", "Pat Berg"])
        expect(page).not_to_have_url(re.compile(r"[?&](after|before|last)="))
    finally:
        seeded.live.app.config["PAGE_SIZE"] = 50


def test_without_javascript_a_filter_applied_on_a_later_page_starts_from_its_first_page(new_page, seeded):
    page = new_page(java_script_enabled=False)
    sign_in(page, seeded.member)
    seeded.live.app.config["PAGE_SIZE"] = 2
    try:
        for last in ("Andersson", "Berg", "Carlsson", "Dahl", "Ek"):
            seeded.lead("Pat", last, source="Web")
        seeded.lead("Zed", "Zimmer", source="Referral")
        page.goto("/leads?sort=name&dir=asc")
        page.get_by_role("link", name="Next →").click()
        expect(names(page)).to_have_text(["Pat Carlsson", "Pat Dahl"])
        page.get_by_label("Source").select_option("Web")
        page.get_by_role("button", name="Apply filters").click()
        expect(page).not_to_have_url(re.compile(r"[?&](after|before|last)="))
        expect(names(page)).to_have_text(["Pat Andersson", "Pat Berg"])
    finally:
        seeded.live.app.config["PAGE_SIZE"] = 50


def test_the_bulk_bar_counts_the_selection_and_one_box_selects_the_page(admin_page, seeded):
    page = admin_page
    for last in ("Berg", "Ek", "Ng"):
        seeded.lead("Pat", last)
    page.goto("/leads")
    count = page.locator("[data-bulk-count]")
    expect(count).to_have_text("")
    page.get_by_label("Select Pat Berg").check()
    page.get_by_label("Select Pat Ek").check()
    expect(count).to_have_text("(2 selected)")
    whole = page.get_by_label("Select every lead on this page")
    assert whole.evaluate("box => box.indeterminate")
    whole.check()
    expect(page.locator("input[name=lead_ids]:checked")).to_have_count(3)
    expect(count).to_have_text("(3 selected)")
    whole.uncheck()
    expect(count).to_have_text("")
