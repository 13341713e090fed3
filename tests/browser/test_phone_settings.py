"""Settings tables at phone width are cards (each cell a line named by its column), so nothing on a
settings page scrolls sideways, in the page or inside a table's box; at desktop width they stay tables."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

PHONE = {"width": 375, "height": 812}
LONG = "a.rather.long.teammate.address.that.goes.on@hyperconvergedinfrastructure.example"


@pytest.fixture
def filled(seeded):
    """One row in every settings table, with long values where a person might type them."""
    from app.services import accounts, api_keys, capture_forms, email_templates, sequences
    with seeded.live.db():
        api_keys.create_key("Website contact form on the marketing site", seeded.admin.id)
        capture_forms.create_form(capture_forms.FormSettings(
            name="Talk to sales about enterprise pricing", fields={"first_name": "required", "email": "required"}))
        email_templates.create_template(email_templates.TemplateSettings(
            name="Follow-up after the first call", subject="Thanks for your time on the phone today, {{ lead.first_name }}",
            body_html="<p>Hello</p>"))
        sequences.create_sequence("New trial sign-ups, first two weeks")
        accounts.invite(LONG, "member", "Newcomer", seeded.admin.id)
    return seeded


def sideways(page) -> dict:
    page.wait_for_load_state("load")
    return page.evaluate("""() => ({
        page: document.documentElement.scrollWidth,
        boxes: [...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth + 1).length })""")


@pytest.mark.parametrize("path, text", [
    ("/settings/users", LONG), ("/settings/api-keys", "Website contact form"), ("/settings/forms", "Talk to sales"),
    ("/settings/templates", "Thanks for your time"), ("/settings/sequences", "New trial sign-ups"),
])
def test_at_phone_width_a_settings_table_is_a_list_of_cards(new_page, filled, path, text):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, filled.admin)
    page.goto(path)
    table = page.locator("table.stack-narrow").filter(has_text=text)
    expect(table).to_be_visible()
    seen = sideways(page)
    assert seen == {"page": PHONE["width"], "boxes": 0}, f"{path} scrolls sideways: {seen}"
    # Each value is named by its column, and sits inside the screen.
    cells = table.locator("tbody [data-label]")
    assert cells.count() > 0
    label = cells.first.evaluate("c => getComputedStyle(c, '::before').content")
    assert label.strip('"') == cells.first.get_attribute("data-label")
    for i in range(cells.count()):
        box = cells.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1


def test_at_phone_width_the_team_page_buttons_work_inside_the_cards(new_page, filled):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, filled.admin)
    page.goto("/settings/users")
    row = page.get_by_role("row").filter(has_text="Max Member")
    expect(row.get_by_label("Role for Max Member")).to_be_visible()
    expect(row.get_by_role("link", name="Deactivate Max Member")).to_be_in_viewport()
    page.get_by_role("button", name=f"Revoke the invitation to {LONG}").tap()
    expect(page.get_by_text("No invitations are waiting")).to_be_visible()


def test_at_desktop_width_settings_tables_stay_tables(admin_page, filled):
    page = admin_page
    page.goto("/settings/users")
    expect(page.get_by_role("columnheader", name="Email").first).to_be_visible()
    assert page.evaluate("() => getComputedStyle(document.querySelector('table.stack-narrow tbody tr')).display") \
        == "table-row"


def test_at_phone_width_the_webhook_signature_snippet_opens_and_scrolls_inside_its_box(new_page, seeded):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(page, seeded.admin)
    page.goto("/settings/webhooks")
    snippet = page.locator(".webhook-verify pre")
    expect(snippet).to_be_hidden()
    page.get_by_text("How the receiving side checks a delivery's signature").click()
    expect(snippet).to_be_visible()
    expect(snippet).to_contain_text("hmac.compare_digest(expected, fields.get(\"v1\", \"\"))")
    widths = page.evaluate("""() => ({page: document.documentElement.scrollWidth,
        box: document.querySelector('.webhook-verify pre').clientWidth,
        inner: document.querySelector('.webhook-verify pre').scrollWidth})""")
    assert widths["page"] <= PHONE["width"] and widths["inner"] > widths["box"]  # the long lines scroll in the box
