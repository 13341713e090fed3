"""Accounts in the browser, by keyboard: a forgotten password reset through the local outbox (the
person at phone width, the admin reading the outbox on a desktop), and an invitation accepted."""
from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import sign_in

PHONE = {"width": 375, "height": 740}
NEW_PASSWORD = "amber kettle lighthouse 73"


def fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_a_forgotten_password_is_reset_from_the_emailed_link_in_the_local_outbox(seeded, new_page):
    seeded.live.app.config["BASE_URL"] = seeded.url
    person = new_page(viewport=PHONE)
    person.goto("/login")
    expect(person.get_by_label("Email")).to_be_focused()
    for _ in range(3):  # email, password, Sign in, then the link
        person.keyboard.press("Tab")
    expect(person.get_by_role("link", name="Forgot your password?")).to_be_focused()
    person.keyboard.press("Enter")
    expect(person.get_by_label("Email")).to_be_focused()
    person.keyboard.type(seeded.member.email)
    person.keyboard.press("Enter")
    expect(person.get_by_role("main")).to_contain_text(f"If {seeded.member.email} belongs to an account here")
    assert fits(person)

    admin = new_page()
    sign_in(admin, seeded.admin)
    admin.goto("/outbox")
    admin.get_by_role("link", name="Reset your Leadboard password").click()
    link = admin.locator("pre.email-text a").get_attribute("href")
    assert re.fullmatch(re.escape(seeded.url) + r"/reset-password/\S+", link)

    person.goto(link)
    expect(person.get_by_label("New password")).to_be_focused()
    person.keyboard.type(NEW_PASSWORD)
    person.keyboard.press("Enter")
    expect(person).to_have_url(re.compile(r"/login$"))
    expect(person.get_by_text("Your password is changed")).to_be_visible()
    assert fits(person)
    # The address is already known: it is filled in and the new password is all there is to type.
    expect(person.get_by_label("Email")).to_have_value(seeded.member.email)
    expect(person.get_by_label("Password")).to_be_focused()
    person.keyboard.type(NEW_PASSWORD)
    person.keyboard.press("Enter")
    expect(person).to_have_url(re.compile(r"/board$"))

    person.goto(link)
    expect(person.get_by_role("heading", name="This link no longer works")).to_be_visible()
    expect(person.get_by_role("main")).to_contain_text("already used")


def test_an_invited_teammate_joins_from_the_link_with_the_keyboard(seeded, admin_page, new_page):
    from app.extensions import db
    from app.models import OutboxEmail
    admin_page.goto("/settings/users")
    expect(admin_page.get_by_text("No invitations are waiting")).to_be_visible()
    admin_page.get_by_label("Email").fill("nia@example.com")
    admin_page.get_by_label("Role", exact=True).select_option("member")
    admin_page.get_by_role("button", name="Send invitation").press("Enter")
    invitations = admin_page.get_by_role("region", name="Invitations waiting")
    expect(invitations.get_by_role("row", name=re.compile("nia@example.com"))).to_be_visible()
    expect(invitations.get_by_role("button", name="Revoke the invitation to nia@example.com")).to_be_visible()
    with seeded.live.db():
        body = db.session.scalars(select(OutboxEmail.text_body).where(OutboxEmail.kind == "account_invitation")).one()
    path = re.search(r"(/invitations/\S+)", body).group(1)

    guest = new_page(viewport=PHONE)
    guest.goto(path)
    expect(guest.get_by_role("heading", name="Join the team on Leadboard")).to_be_visible()
    expect(guest.get_by_label("Your name")).to_be_focused()
    guest.keyboard.type("Nia New")
    guest.keyboard.press("Tab")
    expect(guest.get_by_label("Choose a password")).to_be_focused()
    guest.keyboard.type("short")
    guest.keyboard.press("Enter")
    expect(guest.get_by_text("Use at least 12 characters.")).to_be_visible()
    expect(guest.get_by_label("Choose a password")).to_have_attribute("aria-invalid", "true")
    assert fits(guest)
    guest.get_by_label("Choose a password").fill(NEW_PASSWORD)
    guest.keyboard.press("Enter")
    expect(guest.get_by_text("Welcome, Nia New.")).to_be_visible()
    expect(guest.get_by_label("Email")).to_have_value("nia@example.com")
    expect(guest.get_by_label("Password")).to_be_focused()
    guest.keyboard.type(NEW_PASSWORD)
    guest.keyboard.press("Enter")
    expect(guest).to_have_url(re.compile(r"/board$"))

    admin_page.goto("/settings/users")
    expect(admin_page.get_by_role("row", name=re.compile("Nia New"))).to_be_visible()
    expect(admin_page.get_by_text("No invitations are waiting")).to_be_visible()
