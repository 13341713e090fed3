"""The app works under its own Content-Security-Policy: no inline script or style is ever refused."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import card, column_cards, sign_in

REPORTER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.reportCspViolation(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber}`
    + ` on <${e.target && e.target.tagName} id=${e.target && e.target.id}>`);
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


def test_board_pool_lead_page_and_stage_settings_load_and_work_with_no_csp_violations(page, violations, seeded):
    lead_id = seeded.lead("Cora", "Policy", company="Strict Ltd")
    seeded.lead("Otto", "Other", stage="Qualified")
    sign_in(page, seeded.admin)

    # Board: the policy is sent, app.js ran (stage colours painted, Sortable bound).
    response = page.goto("/board")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    new_column = page.get_by_role("region", name="New", exact=True)
    expect(new_column).to_have_css("border-top-color", "rgb(59, 130, 246)")  # New's #3b82f6, set by app.js
    expect(page.get_by_role("list", name="New cards")).to_have_attribute("data-sortable", "1")
    expect(new_column.get_by_role("link", name="Cora Policy")).to_be_visible()

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
    expect(page.get_by_role("region", name="Timeline")).to_contain_text("Note: Asked for a quote")

    # Stage settings: the swatches are painted by app.js, not by inline style attributes.
    page.goto("/settings/stages")
    expect(page.locator("#stage-list .swatch").first).to_have_css("background-color", "rgb(59, 130, 246)")
    expect(page.get_by_role("list", name="Stages in pipeline order")).to_have_attribute("data-sortable", "1")

    assert violations == [], "\n".join(violations)


def test_moving_a_card_and_reordering_stages_swap_with_no_csp_violations(page, violations, seeded):
    seeded.lead("Cora", "Policy")
    sign_in(page, seeded.admin)

    page.goto("/board")
    cora = card(page, "Cora Policy")
    cora.locator("summary").click()
    cora.get_by_label("Stage", exact=True).select_option(label="Contacted")
    with page.expect_response("**/board/move"):
        cora.get_by_role("button", name="Move", exact=True).click()
    moved = column_cards(page, "Contacted").get_by_role("link", name="Cora Policy")
    expect(moved).to_be_focused()
    expect(page.get_by_role("region", name="Contacted", exact=True)).to_have_css(
        "border-top-color", "rgb(6, 182, 212)")

    page.goto("/settings/stages")
    with page.expect_response(re.compile(r"/settings/stages/\d+/move$")):
        page.get_by_role("button", name="Move New down").click()
    expect(page.get_by_role("list", name="Stages in pipeline order").locator(".stage-name").first).to_have_text(
        "Contacted")
    expect(page.locator("#stage-list .swatch").first).to_have_css("background-color", "rgb(6, 182, 212)")

    assert violations == [], "\n".join(violations)
