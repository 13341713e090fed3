"""Signing in through the real login form."""
import re

from playwright.sync_api import expect


def test_signing_in_with_the_right_password_lands_on_the_board(page, seeded):
    seeded.lead("Bea", "Boardwalk")
    page.goto("/login")
    page.get_by_label("Email").fill(seeded.member.email)
    page.get_by_label("Password").fill(seeded.member.password)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/board$"))
    expect(page.get_by_role("heading", name="Board", level=1)).to_be_visible()
    expect(page.get_by_role("banner")).to_contain_text(f"{seeded.member.name} Sign out")
    expect(page.get_by_role("link", name="Bea Boardwalk", exact=True)).to_be_visible()


def test_a_wrong_password_shows_the_error_next_to_the_form_and_stays_on_login(page, seeded):
    page.goto("/login")
    page.get_by_label("Email").fill(seeded.member.email)
    page.get_by_label("Password").fill("not the right password at all")
    with page.expect_response(lambda r: r.request.method == "POST" and "/login" in r.url) as answer:
        page.get_by_role("button", name="Sign in").click()

    assert answer.value.status == 401

    alert = page.get_by_role("alert")
    expect(alert).to_have_text("That email and password do not match an active account.")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Sign in"))
    expect(form.get_by_role("alert")).to_be_visible()  # inside the form, by its fields
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Email")).to_have_value(seeded.member.email)
    expect(page.get_by_label("Password")).to_have_value("")  # never echoed back
    expect(page.get_by_role("link", name="Board")).to_have_count(0)
