from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import UserSession
from app.services import utcnow
from app.services.auth import InvalidCredentials, LoginThrottled, sign_in
from tests.conftest import TEST_PASSWORD, Web


def sessions_of(user) -> int:
    return db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user.id))


def test_signing_in_opens_a_server_side_session_with_safe_cookie_flags(web, member):
    response = web.login(member)
    assert response.headers["Location"].endswith("/board")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert sessions_of(member) == 1
    assert "Max Member" in web.get("/board").get_data(as_text=True)


def test_a_wrong_password_is_refused_with_a_message_and_no_session(web, member):
    response = web.post("/login", {"email": member.email, "password": "not the password at all"})
    assert response.status_code == 401
    assert "do not match an active account" in response.get_data(as_text=True)
    assert sessions_of(member) == 0


def test_an_empty_login_form_says_what_is_missing(web):
    response = web.post("/login", {"email": "", "password": ""})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Enter your email." in body and "Enter your password." in body


def test_login_without_a_csrf_token_is_refused(web, member):
    response = web.post("/login", {"email": member.email, "password": TEST_PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert sessions_of(member) == 0


def test_signing_out_ends_the_session_so_the_old_cookie_no_longer_works(app, web, member):
    web.login(member)
    stolen = type(web)(app.test_client())
    stolen.client.set_cookie("session", web.client.get_cookie("session").value)
    assert stolen.get("/board").status_code == 200
    web.post("/logout")
    assert sessions_of(member) == 0
    response = stolen.get("/board")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_deactivating_a_user_ends_their_sessions_at_once_and_pools_their_leads(web, member, admin, make_lead, app):
    lead = make_lead(owner=member)
    web.login(member)
    admin_web = type(web)(app.test_client())
    admin_web.login(admin)
    assert admin_web.post(f"/settings/users/{member.id}/deactivate").status_code == 302
    assert web.get("/board").status_code == 302  # member's open session is gone
    assert sessions_of(member) == 0
    db.session.refresh(lead)
    assert lead.owner_id is None  # "the pool" is the choice a post without one gets
    refused = type(web)(app.test_client()).post("/login", {"email": member.email, "password": TEST_PASSWORD})
    assert refused.status_code == 401


def test_an_htmx_request_without_a_session_is_sent_to_the_login_page(web):
    response = web.get("/leads", htmx=True)
    assert response.status_code == 401 and "/login" in response.headers["HX-Redirect"]


def test_the_next_parameter_never_redirects_off_site(web, member):
    response = web.client.post("/login?next=//evil.example/x",
                                data={"email": member.email, "password": TEST_PASSWORD, "csrf_token": web.token()})
    assert response.headers["Location"] == "/board"


# --- throttling: slowed down per account and per address, never locked out by a stranger -----


def test_repeated_failures_from_one_address_at_one_account_are_slowed_down(member):
    now = utcnow()
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            sign_in(member.email, "wrong password here", "10.0.0.1", now=now)
    with pytest.raises(LoginThrottled) as err:
        sign_in(member.email, TEST_PASSWORD, "10.0.0.1", now=now)
    assert err.value.retry_after == 1
    # Each further failure doubles the wait.
    later = now + timedelta(seconds=2)
    with pytest.raises(InvalidCredentials):
        sign_in(member.email, "wrong password here", "10.0.0.1", now=later)
    with pytest.raises(LoginThrottled) as err:
        sign_in(member.email, TEST_PASSWORD, "10.0.0.1", now=later)
    assert err.value.retry_after == 2


def test_a_stranger_hammering_an_account_cannot_lock_its_owner_out(member):
    now = utcnow()
    for i in range(40):  # many addresses, so per-address limits never bite
        with pytest.raises((InvalidCredentials, LoginThrottled)):
            sign_in(member.email, "guess", f"203.0.113.{i}", now=now)
    # The owner, from their own address, waits at most 30 seconds and then gets in.
    with pytest.raises(LoginThrottled) as err:
        sign_in(member.email, TEST_PASSWORD, "198.51.100.7", now=now)
    assert err.value.retry_after <= 30
    session = sign_in(member.email, TEST_PASSWORD, "198.51.100.7", now=now + timedelta(seconds=31))
    assert session.user_id == member.id


def test_one_address_spraying_many_accounts_is_slowed_down(make_user):
    users = [make_user() for _ in range(3)]
    now = utcnow()
    for i in range(20):
        with pytest.raises(InvalidCredentials):
            sign_in(f"nobody{i}@example.com", "guess", "192.0.2.9", now=now)
    with pytest.raises(LoginThrottled):
        sign_in(users[0].email, TEST_PASSWORD, "192.0.2.9", now=now)


def test_a_throttled_login_page_answers_429_with_retry_after(web, member):
    for _ in range(5):
        web.post("/login", {"email": member.email, "password": "wrong password here"})
    response = web.post("/login", {"email": member.email, "password": TEST_PASSWORD})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert sessions_of(member) == 0


def test_the_login_endpoint_is_rate_limited_per_address(make_app, member):
    limited = make_app(RATELIMIT_ENABLED=True)
    client = Web(limited.test_client())
    # Empty forms never reach the password check, so only the address limit can answer 429 here.
    responses = [client.post("/login", {"email": "", "password": ""}) for _ in range(31)]
    assert [r.status_code for r in responses[:30]] == [422] * 30
    assert responses[30].status_code == 429
    assert "Too many requests" in responses[30].get_data(as_text=True)


# --- headers -----------------------------------------------------------------------------------


def test_pages_carry_a_strict_content_security_policy_and_no_inline_scripts(as_member):
    response = as_member.get("/board")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_data(as_text=True)
    import re
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", body, re.S)
    assert scripts and all('src="' in attrs and not inner.strip() for attrs, inner in scripts)
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", body)  # no inline event handlers either
