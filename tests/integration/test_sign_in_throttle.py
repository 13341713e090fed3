"""A stranger can slow a user's sign-in, never lock them out: a correct password from a known device
or address is never held back by the per-account delay, and the delay grows per source."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.services import utcnow
from app.services.auth import InvalidCredentials, LoginThrottled, sign_in
from tests.conftest import TEST_PASSWORD, Web

STRANGER = "203.0.113.66"
HOME = "198.51.100.7"


def hammer(email: str, now, count: int = 60) -> None:
    """A stranger adding one failure after another, from many addresses so no per-address limit bites."""
    for i in range(count):
        with pytest.raises((InvalidCredentials, LoginThrottled)):
            sign_in(email, "a wrong guess", f"203.0.113.{i % 250}", now=now)


def test_a_stranger_hammering_failures_never_holds_back_an_address_that_signed_in_before(member):
    start = utcnow()
    sign_in(member.email, TEST_PASSWORD, HOME, now=start)
    for minute in range(10):  # the attack measured in the issue: one more failure each time the delay ends
        now = start + timedelta(minutes=minute)
        hammer(member.email, now, count=15)
        assert sign_in(member.email, TEST_PASSWORD, HOME, now=now).user_id == member.id


def test_a_stranger_hammering_failures_never_holds_back_a_known_device(member):
    now = utcnow()
    first = sign_in(member.email, TEST_PASSWORD, "192.0.2.1", device_of=member.email, device="phone-1", now=now)
    hammer(member.email, now)
    # The same phone on a new network (an address never seen before) signs straight in.
    session = sign_in(member.email, TEST_PASSWORD, "192.0.2.200", device_of=member.email, device="phone-1", now=now)
    assert session.user_id == first.user_id == member.id


def test_the_stranger_is_slowed_and_an_unknown_source_waits_for_the_account_delay(member):
    now = utcnow()
    sign_in(member.email, TEST_PASSWORD, HOME, now=now)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            sign_in(member.email, "a wrong guess", STRANGER, now=now)
    with pytest.raises(LoginThrottled):  # the stranger's own address is slowed, even with the password
        sign_in(member.email, TEST_PASSWORD, STRANGER, now=now)
    hammer(member.email, now)
    with pytest.raises(LoginThrottled) as err:  # a never-seen address waits, but briefly
        sign_in(member.email, TEST_PASSWORD, "192.0.2.77", now=now)
    assert 1 <= err.value.retry_after <= 30
    assert sign_in(member.email, TEST_PASSWORD, HOME, now=now).user_id == member.id


def test_a_device_cookie_for_another_account_earns_nothing(member, admin):
    now = utcnow()
    hammer(member.email, now)
    with pytest.raises(LoginThrottled):
        sign_in(member.email, TEST_PASSWORD, "192.0.2.5", device_of=admin.email, device="their-laptop", now=now)


def test_failures_from_a_known_device_slow_that_device_only(member):
    now = utcnow()
    sign_in(member.email, TEST_PASSWORD, "192.0.2.1", device_of=member.email, device="laptop", now=now)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            sign_in(member.email, "a wrong guess", "192.0.2.1", device_of=member.email, device="laptop", now=now)
    with pytest.raises(LoginThrottled):
        sign_in(member.email, TEST_PASSWORD, "192.0.2.1", device_of=member.email, device="laptop", now=now)
    assert sign_in(member.email, TEST_PASSWORD, "192.0.2.1", now=now).user_id == member.id


def _sign_in_page(client: Web, user, password: str, ip: str):
    return client._send("post", "/login", data={"email": user.email, "password": password,
                                              "csrf_token": client.token()},
                              environ_base={"REMOTE_ADDR": ip})


def test_signing_in_through_the_page_gives_the_browser_a_device_cookie_that_beats_a_stranger(app, member):
    owner, stranger = Web(app.test_client()), Web(app.test_client())
    assert _sign_in_page(owner, member, TEST_PASSWORD, "192.0.2.1").status_code == 302
    cookie = owner.client.get_cookie("leadboard_device", path="/login")
    assert cookie is not None and cookie.http_only
    owner.client.delete_cookie("session")  # signed out, as after the session ended
    owner._token = None
    for i in range(40):
        _sign_in_page(stranger, member, "a wrong guess", f"203.0.113.{i}")
    # The owner, on an address never seen before, is let in by the device cookie.
    assert _sign_in_page(owner, member, TEST_PASSWORD, "192.0.2.99").status_code == 302


def test_the_throttled_page_and_its_retry_after_header_name_the_same_wait(make_app, member):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    client = Web(limited.test_client())
    for _ in range(5):
        _sign_in_page(client, member, "a wrong guess", "192.0.2.3")
    response = _sign_in_page(client, member, TEST_PASSWORD, "192.0.2.3")
    assert response.status_code == 429
    said = re.search(r"Try again in (\d+) seconds?", response.get_data(as_text=True))
    assert said and said.group(1) == response.headers["Retry-After"]


def test_a_flood_from_the_same_address_never_holds_back_a_browser_with_a_device_cookie(make_app, member):
    """The per-address request limit (30 a minute) counts a known device on its own: behind one proxy
    or on one office network, a stranger's flood cannot keep the owner out."""
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    owner, stranger = Web(limited.test_client()), Web(limited.test_client())
    office = "192.0.2.40"
    assert _sign_in_page(owner, member, TEST_PASSWORD, office).status_code == 302
    owner.client.delete_cookie("session")
    owner._token = None
    refused = [_sign_in_page(stranger, member, "a wrong guess", office).status_code for _ in range(35)]
    assert refused[-1] == 429  # the stranger is stopped by the address limit ...
    assert _sign_in_page(owner, member, TEST_PASSWORD, office).status_code == 302  # ... the owner is not


def test_the_address_limit_page_and_its_retry_after_header_name_the_same_wait(make_app, member):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    client = Web(limited.test_client())
    for i in range(31):  # other accounts each time: only the address limit can refuse
        response = client._send("post", "/login", data={"email": f"nobody{i}@example.com", "password": "x" * 12,
                                                        "csrf_token": client.token()},
                                environ_base={"REMOTE_ADDR": "192.0.2.77"})
    assert response.status_code == 429
    said = re.search(r"Try again in (\d+) seconds?", response.get_data(as_text=True))
    assert said and said.group(1) == response.headers["Retry-After"]


def test_only_a_refusal_carries_retry_after(make_app, member):
    limited = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    client = Web(limited.test_client())
    failed = _sign_in_page(client, member, "a wrong guess", "192.0.2.8")
    assert failed.status_code == 401 and "Retry-After" not in failed.headers
    assert "X-RateLimit-Remaining" in failed.headers  # the limit is still announced
    signed_in = _sign_in_page(client, member, TEST_PASSWORD, "192.0.2.8")
    assert signed_in.status_code == 302 and "Retry-After" not in signed_in.headers
