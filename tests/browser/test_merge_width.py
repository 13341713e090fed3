"""The merge screen at phone width: the comparison table scrolls inside its own box, every column
reachable, and the page itself never scrolls sideways: on a phone each field stacks over its two
choices, so even a long email shows whole."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in


@pytest.mark.parametrize("width", [1280, 375])
def test_the_merge_comparison_fits_or_scrolls_inside_its_box(new_page, seeded, width):
    a = seeded.lead("Jonathan", "Smithson-Fairweather", company="Acme Incorporated International",
                    email="jonathan.smithson-fairweather@acme-international.example", job_title="Chief Technology Officer")
    b = seeded.lead("John", "Smithson", company="ACME", email="john.smithson@acme.example", stage="Qualified",
                    referrer="https://www.example.com/a/rather/long/landing/page?utm_campaign=spring-sale-2026")
    page = new_page(viewport={"width": width, "height": 800})
    sign_in(page, seeded.member)
    page.goto(f"/leads/merge?a={a}&b={b}")
    table = page.get_by_role("table")
    expect(table).to_be_visible()
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= width, f"the page is {page_width}px wide at {width}px"
    wrap = page.locator(".table-wrap").filter(has=table)
    box = wrap.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    # The last column's choice can be reached and picked (scrolled into view within the box).
    other = page.get_by_label("Qualified (Stage of the lead merged in)")
    other.scroll_into_view_if_needed()
    other.check()
    expect(other).to_be_checked()
    for label in ("john.smithson@acme.example (Email of the lead merged in)", "Kept: Jonathan Smithson-Fairweather"):
        shown = page.get_by_text(label.split(" (")[0]).first.bounding_box()
        assert shown["x"] >= 0 and shown["x"] + shown["width"] <= width, (label, shown)
