"""A report in the browser at desktop and phone width: the chart and its table show, the page never
scrolls sideways, and a range that ends before it starts is refused beside the date."""
import os
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in


@pytest.mark.parametrize("width", [1280, 375])
def test_a_report_shows_its_chart_and_table_and_fits_the_width(new_page, seeded, width):
    for n, source in enumerate(("Website", "Website", "Referral from a very long partner name")):
        seeded.lead(f"Lena{n}", "Lindqvist", source=source)
    page = new_page(viewport={"width": width, "height": 800})
    sign_in(page, seeded.admin)
    page.goto("/reports")
    page.get_by_role("link", name="Conversion by source").click()
    expect(page.get_by_role("heading", name="Conversion by source")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Conversion .* by source"))).to_be_visible()
    table = page.get_by_role("table")
    expect(table.get_by_role("rowheader", name="Website")).to_be_visible()
    expect(table.get_by_role("row").filter(has_text="Website")).to_contain_text("2")
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= width, f"the page is {page_width}px wide at {width}px"
    # Every bar's value is on the screen, inside its card (nothing scrolls sideways); at phone width
    # the label sits above its bar, beside it on a desktop.
    chart = page.locator(".report-chart")
    assert chart.evaluate("el => el.scrollWidth <= el.clientWidth")
    card = chart.bounding_box()
    for value in page.locator(".bar-value").all():
        box = value.bounding_box()
        assert box["x"] >= card["x"] and box["x"] + box["width"] <= card["x"] + card["width"], box
    label = page.locator(".bar-label").first.bounding_box()
    bar = page.locator(".bar-track").first.bounding_box()
    if width < 600:
        assert label["y"] + label["height"] <= bar["y"] + 1, (label, bar)
    else:
        assert label["x"] + label["width"] <= bar["x"] and abs(label["y"] - bar["y"]) < bar["height"], (label, bar)
    if os.environ.get("REPORT_SCREENSHOTS"):
        page.screenshot(path=f"{os.environ['REPORT_SCREENSHOTS']}/report-{width}.png", full_page=True)

    page.get_by_label("From", exact=True).fill("2026-11-30")
    page.get_by_label("To", exact=True).fill("2026-11-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_label("To", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("The range ends before it starts.")).to_be_visible()
    assert "start=2026-11-30" in page.url  # the filters stay in the URL
