"""Capture forms on someone else's website: the snippets copied from the admin page work from another origin."""
import functools
import http.server
import re
import threading

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import CaptureForm, Lead, TimelineEntry
from tests.browser.conftest import sign_in


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def other_site(tmp_path):
    """A customer's website: static files from a second server on another port, so another origin."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(QuietFiles, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, name="other-site", daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def embeddable(seeded):
    """Snippets point at the live server, and the minimum fill time is off (tests don't sleep)."""
    config = seeded.live.app.config
    saved = {key: config.get(key) for key in ("BASE_URL", "CAPTURE_MIN_FILL_SECONDS")}
    config.update(BASE_URL=seeded.url, CAPTURE_MIN_FILL_SECONDS=0)
    yield seeded
    for key, value in saved.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value


@pytest.fixture
def published(embeddable):
    from app.services import capture_forms as form_service
    with embeddable.live.db():
        form = form_service.create_form(form_service.FormSettings(
            name="Talk to sales", fields={"first_name": "required", "email": "required", "company": "optional"},
            default_source="Partner site", default_stage_id=embeddable.stages["Contacted"],
            thank_you_message="Thanks! A human will reply within a day."))
        return form.id


def copy_snippets(page, form_id: int) -> dict:
    page.goto(f"/settings/forms/{form_id}")
    return {"iframe": page.get_by_label("Embed with an iframe").input_value(),
            "html": page.get_by_label("Embed as plain HTML").input_value()}


def customer_page(folder, *snippets: str) -> None:
    (folder / "index.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Acme Widgets</title></head><body>"
        "<h1>Acme Widgets</h1>" + "".join(f"<section>{s}</section>" for s in snippets) + "</body></html>")


def the_lead(live, email: str) -> tuple[Lead, list[str]]:
    with live.db():
        lead = db.session.scalars(select(Lead).where(Lead.email == email)).one()
        vias = list(db.session.scalars(select(TimelineEntry.data).where(TimelineEntry.lead_id == lead.id)))
        db.session.expunge(lead)
        return lead, [v.get("via") for v in vias]


def test_an_admin_builds_a_form_copies_the_html_snippet_and_a_visitor_sends_it_from_another_site(
        new_page, embeddable, other_site):
    folder, site = other_site
    admin = new_page(permissions=["clipboard-read", "clipboard-write"])
    sign_in(admin, embeddable.admin)
    admin.goto("/settings/forms")
    expect(admin.get_by_text("No capture forms yet")).to_be_visible()
    admin.get_by_role("link", name="New form").click()
    admin.get_by_label("Name", exact=True).fill("Widget enquiries")
    admin.get_by_label("Company", exact=True).select_option("Required")
    admin.get_by_label("Source for its leads").fill("Acme website")
    admin.get_by_label("Stage for new leads").select_option("Qualified")
    admin.get_by_role("button", name="Create form").click()
    expect(admin.get_by_role("heading", name="Widget enquiries")).to_be_visible()
    expect(admin.get_by_text("Created the form Widget enquiries")).to_be_visible()

    snippet = admin.get_by_label("Embed as plain HTML")
    admin.get_by_role("button", name="Copy embed as plain html").click()
    expect(admin.get_by_text("Copied.")).to_be_visible()
    html = admin.evaluate("navigator.clipboard.readText()")
    assert html == snippet.input_value() and f'action="{embeddable.url}/f/widget-enquiries"' in html
    customer_page(folder, html)

    visitor = new_page()
    visitor.goto(f"{site}/index.html")
    visitor.get_by_label("First name").fill("Ines")
    visitor.get_by_label("Email").fill("ines@acme.example")
    visitor.get_by_label("Company").fill("Acme <b>Widgets</b>")
    visitor.get_by_role("button", name="Send").click()

    expect(visitor).to_have_url(f"{embeddable.url}/f/widget-enquiries/thanks")
    expect(visitor.get_by_text("Thanks! We'll be in touch soon.")).to_be_visible()
    lead, vias = the_lead(embeddable.live, "ines@acme.example")
    with embeddable.live.db():
        form = db.session.scalars(select(CaptureForm)).one()
    assert (lead.first_name, lead.company, lead.source) == ("Ines", "Acme <b>Widgets</b>", "Acme website")
    assert (lead.capture_form_id, lead.stage_id) == (form.id, embeddable.stages["Qualified"])
    assert lead.referrer.startswith(site)  # the customer's page, as the browser's Referer names it
    assert vias == ["web form Widget enquiries"] and form.submissions == 1 and form.spam_count == 0


def test_the_iframe_snippet_shows_our_form_inside_another_site_and_keeps_errors_and_thanks_in_the_frame(
        new_page, published, embeddable, other_site):
    folder, site = other_site
    admin = new_page()
    sign_in(admin, embeddable.admin)
    snippets = copy_snippets(admin, published)
    iframe = snippets["iframe"].replace('/f/talk-to-sales"', '/f/talk-to-sales?utm_source=acme&utm_campaign=spring"')
    customer_page(folder, "<p>Questions? Ask us below.</p>", iframe)

    visitor = new_page()
    errors = []
    visitor.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    visitor.goto(f"{site}/index.html")
    frame = visitor.frame_locator("iframe[title='Talk to sales']")
    frame.get_by_label("Email").fill("not-an-address")
    frame.get_by_role("button", name="Send").click()
    expect(frame.get_by_text("Enter your first name.")).to_be_visible()
    expect(frame.get_by_label("Email")).to_have_value("not-an-address")
    expect(frame.get_by_label("Email")).to_have_attribute("aria-invalid", "true")

    frame.get_by_label("First name").fill("Omar")
    frame.get_by_label("Email").fill("omar@acme.example")
    frame.get_by_role("button", name="Send").click()
    expect(frame.get_by_text("Thanks! A human will reply within a day.")).to_be_visible()
    expect(visitor.get_by_role("heading", name="Acme Widgets")).to_be_visible()  # the visitor never left

    lead, vias = the_lead(embeddable.live, "omar@acme.example")
    assert (lead.source, lead.capture_form_id, lead.stage_id) == (
        "Partner site", published, embeddable.stages["Contacted"])
    assert (lead.utm_source, lead.utm_campaign) == ("acme", "spring")
    assert lead.referrer.startswith(site)
    assert vias == ["web form Talk to sales"]
    assert not [e for e in errors if "frame" in e.lower() or "Content Security Policy" in e], errors


def test_a_bot_that_fills_the_hidden_field_sees_thanks_but_leaves_no_lead(new_page, published, embeddable):
    page = new_page()
    page.goto("/f/talk-to-sales")
    page.get_by_label("First name").fill("Bot")
    page.get_by_label("Email").fill("bot@spam.example")
    page.locator("input[name=website]").fill("https://cheap.example", force=True)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Thanks! A human will reply within a day.")).to_be_visible()
    with embeddable.live.db():
        assert db.session.scalars(select(Lead)).all() == []
        assert db.session.get(CaptureForm, published).spam_count == 1


def test_the_hosted_form_fits_a_phone_and_its_trap_is_out_of_sight(new_page, published, embeddable):
    page = new_page(viewport={"width": 375, "height": 740})
    page.goto("/f/talk-to-sales")
    expect(page.get_by_role("heading", name="Talk to sales")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    send = page.get_by_role("button", name="Send")
    box = send.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["height"] >= 44
    assert not page.locator("input[name=website]").is_visible() or \
        page.locator("input[name=website]").bounding_box()["x"] < -1000
    expect(page.get_by_label("Leave this field empty")).to_have_attribute("tabindex", "-1")
    # Keyboard order: the trap is skipped.
    page.get_by_label("Company (optional)").focus()
    page.keyboard.press("Tab")
    expect(send).to_be_focused()
    send.click()
    expect(page.get_by_text("Enter your first name.")).to_be_visible()
    page.wait_for_load_state("load")  # measure with the stylesheet applied
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert re.search(r"/f/talk-to-sales$", page.url)
