from tests.browser.test_csp import *
def test_dbg(page, seeded):
    found = []
    page.expose_function("rep", lambda t: found.append(t))
    page.add_init_script("""document.addEventListener("securitypolicyviolation", (e) => { window.rep(`${e.violatedDirective} ${e.lineNumber}:${e.columnNumber} sample=${e.sample} target=${e.target && e.target.tagName}#${e.target && e.target.id}`) });
    const orig = Element.prototype.setAttribute;
    Element.prototype.setAttribute = function(n, v) { if (n === 'style') window.rep('setAttribute style on ' + this.id + ' ' + new Error().stack); return orig.call(this, n, v); };
    """)
    seeded.lead("Cora", "Policy", company="Strict Ltd")
    sign_in(page, seeded.admin)
    page.goto("/board")
    cora = card(page, "Cora Policy")
    cora.locator("summary").click()
    cora.get_by_label("Stage", exact=True).select_option(label="Contacted")
    with page.expect_response("**/board/move"):
        cora.get_by_role("button", name="Move", exact=True).click()
    expect(column_cards(page, "Contacted").get_by_role("link", name="Cora Policy")).to_be_focused()
    page.wait_for_timeout(300)
    print("\n".join(found))
