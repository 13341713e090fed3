"""The team's identity at /settings/team on a desktop and a phone, with the keyboard: an SVG logo is
refused beside its field, then the name, a PNG logo, the accent colour and the currency are saved,
and a public page shows them."""
import io
import re

from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>'


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 30), (15, 118, 110)).save(out, format="PNG")
    return out.getvalue()


def test_an_admin_sets_the_teams_identity_with_the_keyboard_at_both_widths(new_page, seeded):
    page = new_page()
    sign_in(page, seeded.admin)
    page.goto("/settings/team")
    page.get_by_label("Team name").focus()
    page.keyboard.type("Acme Sales")
    page.get_by_label("Logo (PNG, JPEG or WebP, up to 1 MB)").set_input_files(
        {"name": "logo.svg", "mimeType": "image/svg+xml", "buffer": SVG})
    page.get_by_label("Currency").focus()
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_role("button", name="Save").focus()
    with page.expect_response(re.compile(r"/settings/team$")) as reply:
        page.keyboard.press("Enter")
    assert reply.value.status == 422
    logo = page.get_by_label("Logo (PNG, JPEG or WebP, up to 1 MB)")
    expect(logo).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#logo-error")).to_contain_text("SVG is not accepted")
    expect(page.get_by_label("Team name")).to_have_value("Acme Sales")  # what was typed is kept

    logo.set_input_files({"name": "logo.png", "mimeType": "image/png", "buffer": png()})
    page.get_by_label("Accent colour").fill("#0f766e")
    page.get_by_role("button", name="Save").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Team settings saved.")).to_be_visible()
    preview = page.get_by_role("img", name="The team's logo as it is now")
    expect(preview).to_be_visible()
    assert preview.evaluate("(img) => img.naturalWidth") == 60
    expect(page.get_by_label("Currency")).to_have_value("EUR")

    # A page prospects see shows the name, the logo and the accent.
    page.goto("/unsubscribe/not-a-token")
    expect(page.locator(".brand-name")).to_have_text("Acme Sales")
    assert page.locator(".brand-logo").evaluate("(img) => img.naturalWidth") == 60
    border = page.locator(".brand").evaluate("(el) => getComputedStyle(el).borderBottomColor")
    assert border == "rgb(15, 118, 110)"

    phone = new_page(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    sign_in(phone, seeded.admin)
    phone.goto("/settings/team")
    expect(phone.get_by_label("Team name")).to_have_value("Acme Sales")
    for label in ("Team name", "Accent colour", "Currency", "Emails come from", "Remove the logo"):
        expect(phone.get_by_label(label)).to_be_visible()
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 376
