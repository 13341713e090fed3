"""Email templates and writing to a lead, on a desktop and a phone: an admin writes a template, is
told about an unknown variable beside the body, previews it for a real lead, saves it; then emails
that lead from its page starting from the template, and finds the email in the outbox."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}


def _fits(page, width: str) -> None:
    page.wait_for_load_state("load")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= WIDTHS[width]["width"] + 1


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_writes_a_template_and_emails_a_lead_from_it(new_page, seeded, width):
    lead = seeded.lead("Pia", "Preview", email="pia@example.com", company="Acme & Co")
    page = new_page(viewport=WIDTHS[width], is_mobile=width == "phone", has_touch=width == "phone")
    sign_in(page, seeded.admin)
    page.goto("/settings/templates")
    expect(page.get_by_text("No templates yet.")).to_be_visible()
    page.get_by_role("link", name="New template").click()

    page.get_by_label("Name").fill("Intro")
    page.get_by_label("Subject").fill("Hello {{ lead.first_name }}")
    page.get_by_label("Body (HTML)").fill("<p>Hi {{ lead.first_name }} at {{ lead.company }}.</p>\n<p>{{ lead.shoe }}</p>")
    with page.expect_response(re.compile(r"/settings/templates$")) as reply:
        page.get_by_role("button", name="Save template").click()
    assert reply.value.status == 422
    expect(page.get_by_label("Body (HTML)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#body_html-error")).to_contain_text("Line 2: “lead.shoe” is not a variable")

    page.get_by_label("Body (HTML)").fill("<p>Hi {{ lead.first_name }} at {{ lead.company }}.</p>")
    page.get_by_label("Preview for the lead").fill("pia")
    page.get_by_label("Preview for the lead").press("Enter")  # previews; it does not save the template
    expect(page.get_by_text("As Pia Preview would get it:")).to_be_visible()
    expect(page.get_by_role("button", name="Save template")).to_be_visible()
    assert "/settings/templates/new" in page.url
    expect(page.locator(".preview-subject")).to_have_text("Subject: Hello Pia")
    expect(page.frame_locator("iframe.email-preview").get_by_text("Hi Pia at Acme & Co.")).to_be_visible()
    _fits(page, width)
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_text("Saved the template Intro.")).to_be_visible()
    expect(page.get_by_role("cell", name="Hello {{ lead.first_name }}")).to_be_visible()

    page.goto(f"/leads/{lead}")
    page.get_by_role("link", name="Write email").click()
    page.get_by_label("Start from a template").select_option(label="Intro")
    expect(page.get_by_label("Subject")).to_have_value("Hello Pia")
    expect(page.get_by_label("Message")).to_have_value(re.compile(r"Hi Pia at Acme & Co\."))
    _fits(page, width)
    page.get_by_role("button", name="Send email").click()
    expect(page.get_by_text("Your email to pia@example.com is on its way")).to_be_visible()
    expect(page.get_by_text("Wrote an email to pia@example.com: “Hello Pia”.")).to_be_visible()

    page.goto("/outbox")
    expect(page.get_by_text("Hello Pia").first).to_be_visible()
    _fits(page, width)
