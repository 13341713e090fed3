"""The app works under its own Content-Security-Policy: no inline script or style is ever refused."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import card, column_cards, sign_in

REPORTER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def violations(page):
    """Every CSP violation on any page this test opens: the DOM event, and Chromium's console error."""
    found = []
    page.expose_function("reportCspViolation", lambda text: found.append(text))
    page.add_init_script(REPORTER)
    page.on("console", lambda msg: found.append(msg.text) if msg.type == "error" and (
        "Content Security Policy" in msg.text or "Refused to" in msg.text) else None)
    page.on("pageerror", lambda error: found.append(f"page error: {error}"))
    return found


def test_board_pool_lead_page_and_stage_settings_work_with_no_csp_violations(page, violations, seeded):
    lead_id = seeded.lead("Cora", "Policy", company="Strict Ltd")
    seeded.lead("Otto", "Other", stage="Qualified")
    sign_in(page, seeded.admin)
    response = page.goto("/board")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    # Board: stage colours painted by app.js, and a move through htmx.
    colour = page.get_by_role("region", name="New", exact=True).evaluate(
        "el => getComputedStyle(el).getPropertyValue('--stage-colour').trim()")
    assert colour == "#3b82f6"
    cora = card(page, "Cora Policy")
    cora.locator("summary").click()
    cora.get_by_label("Stage", exact=True).select_option(label="Contacted")
    with page.expect_response("**/board/move"):
        cora.get_by_role("button", name="Move", exact=True).click()
    expect(column_cards(page, "Contacted").get_by_role("link", name="Cora Policy")).to_be_focused()

    # Pool: typing in the search swaps the table through htmx.
    page.goto("/leads")
    expect(page.get_by_text("2 leads", exact=True)).to_be_visible()
    page.get_by_role("searchbox", name="Search").fill("Strict")
    expect(page.get_by_text("1 lead", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Otto Other")).to_have_count(0)

    # Lead page: a note saved through htmx lands in the notes and the timeline.
    page.get_by_role("link", name="Cora Policy", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/leads/{lead_id}$"))
    page.get_by_role("textbox", name="Add a note").fill("Asked for a quote")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("#notes")).to_contain_text("Asked for a quote")
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("Moved from New to Contacted.")

    # Stage settings: the Down button swaps the list; the colour swatches are painted.
    page.goto("/settings/stages")
    with page.expect_response(re.compile(r"/settings/stages/\d+/move$")):
        page.get_by_role("button", name=re.compile(r"^Down\W+move New later$")).click()
    expect(page.get_by_role("list", name="Stages in pipeline order").locator(".stage-name").first).to_have_text(
        "Contacted")
    swatch = page.locator("#stage-list .swatch").first.evaluate("el => getComputedStyle(el).backgroundColor")
    assert swatch == "rgb(6, 182, 212)"  # Contacted's #06b6d4, set by app.js, not an inline style

    assert violations == [], "\n".join(violations)
