"""API keys: admins create them (shown once, stored hashed), name and revoke them; operators use the CLI."""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApiKey
from app.services import utcnow
from app.services.api_keys import authenticate, create_key, list_keys, revoke_key


def keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


def shown_secret(page: str) -> str:
    return re.search(r'id="new-key-secret" type="text" value="(lb_[^"]+)"', page).group(1)


def api_status(app, secret: str) -> int:
    with app.app_context():
        return app.test_client().get("/api/v1/stages", headers={"Authorization": f"Bearer {secret}"}).status_code


def test_an_admin_creates_a_key_that_is_shown_once_and_stored_only_as_a_hash(as_admin, app, admin, stages):
    response = as_admin.post("/settings/api-keys", {"name": "  Website form  "}, htmx=True)
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    assert "<html" not in page and response.headers["Cache-Control"] == "no-store"
    secret = shown_secret(page)
    assert "Copy the key for Website form now" in page and "only time it is shown" in page
    [key] = keys()
    assert (key.name, key.created_by_id, key.revoked_at) == ("Website form", admin.id, None)
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest() and secret.startswith(key.prefix)
    assert secret not in (key.key_hash, key.prefix)
    assert api_status(app, secret) == 200
    listing = as_admin.get("/settings/api-keys").get_data(as_text=True)
    assert "Website form" in listing and key.prefix in listing and secret not in listing


def test_a_plain_form_post_shows_the_new_key_on_the_full_page(as_admin):
    response = as_admin.post("/settings/api-keys", {"name": "Zapier"})
    page = response.get_data(as_text=True)
    assert response.status_code == 201 and "<html" in page and shown_secret(page)


@pytest.mark.parametrize("name, message", [("", "Give the key a name"), ("   ", "Give the key a name"),
                                           ("x" * 121, "under 120 characters")])
def test_a_key_needs_a_short_name_and_says_so_beside_the_field(as_admin, name, message):
    response = as_admin.post("/settings/api-keys", {"name": name}, htmx=True)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and 'aria-invalid="true"' in page and 'id="name-error"' in page
    assert "new-key-secret" not in page and keys() == []


def test_a_revoked_key_stays_listed_as_revoked_and_stops_working(as_admin, app, stages):
    key, secret = create_key("Old script")
    response = as_admin.post(f"/settings/api-keys/{key.id}/revoke", htmx=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Revoked the API key Old script" in page
    db.session.refresh(key)
    assert key.revoked_at is not None and f"Revoked {key.revoked_at:%d %b %Y}" in page
    assert f'/settings/api-keys/{key.id}/revoke' not in page  # nothing left to revoke
    assert api_status(app, secret) == 401
    plain = as_admin.post(f"/settings/api-keys/{key.id}/revoke")  # again, from a plain form: harmless
    assert plain.status_code == 302
    db.session.refresh(key)
    assert key.revoked_at is not None


def test_revoking_an_unknown_key_is_a_404(as_admin):
    assert as_admin.post("/settings/api-keys/4242/revoke").status_code == 404


def test_the_empty_list_says_what_to_do(as_admin):
    page = as_admin.get("/settings/api-keys").get_data(as_text=True)
    assert "No API keys yet. Create one below" in page and '<label for="name">Name</label>' in page


@pytest.mark.parametrize("method, url", [("get", "/settings/api-keys"), ("post", "/settings/api-keys"),
                                         ("post", "/settings/api-keys/1/revoke")])
def test_members_cannot_see_create_or_revoke_keys(as_member, method, url):
    create_key("Existing")
    response = getattr(as_member, method)(url, **({"data": {"name": "Sneaky"}} if method == "post" else {}))
    assert response.status_code == 403
    assert [key.name for key in keys()] == ["Existing"] and keys()[0].revoked_at is None


def test_the_cli_prints_a_working_key(app, stages):
    result = app.test_cli_runner().invoke(args=["create-api-key", "Nightly sync"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert "'Nightly sync' created" in result.output
    assert [key.name for key in keys()] == ["Nightly sync"]
    assert api_status(app, secret) == 200


def test_the_cli_refuses_a_blank_name(app):
    result = app.test_cli_runner().invoke(args=["create-api-key", "  "])
    assert result.exit_code != 0 and "Give the key a name" in result.output and keys() == []


def test_authenticating_writes_last_used_at_most_once_a_minute(app):
    key, secret = create_key("Busy")
    start = utcnow()
    assert authenticate(secret, now=start).id == key.id
    assert authenticate(secret, now=start + timedelta(seconds=30)) is not None
    db.session.refresh(key)
    assert key.last_used_at == start
    authenticate(secret, now=start + timedelta(minutes=2))
    db.session.refresh(key)
    assert key.last_used_at == start + timedelta(minutes=2)
    assert authenticate(secret + "x") is None and authenticate("") is None and authenticate(None) is None


def test_the_list_shows_working_keys_before_revoked_ones(app):
    old, _ = create_key("Old")
    new, _ = create_key("New")
    revoke_key(new.id)
    assert [key.name for key in list_keys()] == ["Old", "New"]
