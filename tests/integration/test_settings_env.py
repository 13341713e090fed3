"""Every documented environment variable takes effect: in the config, and in what the app does."""
from __future__ import annotations

import io
import re
import time

import pytest
from sqlalchemy import select

from app.config import load, read_settings
from app.extensions import db
from app.models import Lead
from app.services import capture_forms as form_service
from app.services.api_keys import create_key
from app.services.imports import create_import
from tests.conftest import Web
from tests.unit.test_settings import readme_variables

# name: (value set in the environment, config key, the value the app then holds); config key None
# means the variable is for `make run` only and is checked on the settings object.
EVERY_VARIABLE = {
    "LEADBOARD_ENV": ("production", "LEADBOARD_ENV", "production"),
    "DATABASE_URL": ("postgres://sales:pw@db.example/leads", "SQLALCHEMY_DATABASE_URI",
                     "postgresql+psycopg://sales:pw@db.example/leads"),
    "SECRET_KEY": ("k" * 48, "SECRET_KEY", "k" * 48),
    "BASE_URL": ("https://leads.example.com", "BASE_URL", "https://leads.example.com"),
    "REDIS_URL": ("redis://cache.example:6380/3", "RATELIMIT_STORAGE_URI", "redis://cache.example:6380/3"),
    "SMTP_URL": ("smtps://mailer:pw@smtp.example.com:465", "SMTP_URL", "smtps://mailer:pw@smtp.example.com:465"),
    "MAIL_FROM": ("Acme Sales <sales@acme.example>", "MAIL_FROM", "Acme Sales <sales@acme.example>"),
    "SMTP_TIMEOUT": ("7.5", "SMTP_TIMEOUT", 7.5),
    "EMAIL_RETRY_DELAYS": ("5, 10,20", "EMAIL_RETRY_DELAYS", [5, 10, 20]),
    "EMAIL_LEASE_SECONDS": ("45", "EMAIL_LEASE_SECONDS", 45),
    "EMAIL_BATCH_SIZE": ("25", "EMAIL_BATCH_SIZE", 25),
    "WEBHOOK_TIMEOUT": ("2.5", "WEBHOOK_TIMEOUT", 2.5),
    "WEBHOOK_RETRY_DELAYS": ("1, 2,3", "WEBHOOK_RETRY_DELAYS", [1, 2, 3]),
    "REPORT_CACHE_SECONDS": ("30", "REPORT_CACHE_SECONDS", 30),
    "REPORT_STALE_SECONDS": ("600", "REPORT_STALE_SECONDS", 600),
    "SWEEP_INTERVAL": ("12.5", "SWEEP_INTERVAL", 12.5),
    "SWEEP_GRACE_SECONDS": ("0", "SWEEP_GRACE_SECONDS", 0),
    "IMPORT_STALE_SECONDS": ("45", "IMPORT_STALE_SECONDS", 45),
    "TEAM_TIMEZONE": ("Europe/London", "TEAM_TIMEZONE", "Europe/London"),
    "SESSION_LIFETIME_DAYS": ("3", "SESSION_LIFETIME_DAYS", 3),
    "LEADBOARD_INSTANCE": (None, "INSTANCE_DIR", None),  # a tmp folder, filled in by the fixture
    "PROXY_COUNT": ("2", "PROXY_COUNT", 2),
    "API_RATE_LIMIT": ("2/minute", "API_RATE_LIMIT", "2/minute"),
    "CAPTURE_RATE_LIMIT": ("3/hour", "CAPTURE_RATE_LIMIT", "3/hour"),
    "CAPTURE_MIN_FILL_SECONDS": ("10", "CAPTURE_MIN_FILL_SECONDS", 10),
    "DEFAULT_PHONE_REGION": ("gb", "DEFAULT_PHONE_REGION", "GB"),
    "HOST": ("0.0.0.0", None, "0.0.0.0"),
    "PORT": ("8123", None, 8123),
}

# London numbers typed without +44 (a different one per way in: the same phone is the same person);
# only the GB region makes "020 7946 0951" +442079460951.
def london(n: int) -> str:
    return f"020 7946 095{n}"


@pytest.fixture
def every_variable(monkeypatch, tmp_path):
    """Every documented variable set in the environment, none at its default."""
    instance = tmp_path / "env-instance"
    for name, (value, _, _) in EVERY_VARIABLE.items():
        monkeypatch.setenv(name, str(instance) if name == "LEADBOARD_INSTANCE" else value)
    return instance


def test_the_test_below_covers_every_variable_the_readme_documents():
    assert set(EVERY_VARIABLE) == set(readme_variables())


def test_every_documented_variable_reaches_the_config(every_variable):
    config = load()
    for name, (_, key, expected) in EVERY_VARIABLE.items():
        if name == "LEADBOARD_INSTANCE":
            assert config[key] == str(every_variable)
        elif key is None:
            assert getattr(read_settings(), name) == expected, name
        else:
            assert config[key] == expected, name
    # and what follows from them
    assert config["REDIS_URL"] == "redis://cache.example:6380/3"
    assert config["SESSION_COOKIE_SECURE"] is True and config["WTF_CSRF_SSL_STRICT"] is True


# --- the four that used to be ignored, in behaviour --------------------------------------------------
# An app on this test's database whose other settings all come from the environment above (the
# limiter counts in memory here, so no Redis is needed, and RATELIMIT_ENABLED is switched on).


@pytest.fixture
def env_app(every_variable, make_app):
    app = make_app(RATELIMIT_ENABLED=True, REDIS_URL="")
    with app.app_context():
        from app.services.stages import ensure_default_pipeline
        ensure_default_pipeline()
        yield app


def api_get(app, secret: str, url: str):
    with app.app_context():
        return app.test_client().get(f"/api/v1{url}", headers={"Authorization": f"Bearer {secret}"})


def test_the_api_refuses_requests_past_api_rate_limit(env_app):
    secret = create_key("Website")[1]
    answers = [api_get(env_app, secret, "/stages").status_code for _ in range(3)]
    assert answers == [200, 200, 429]  # API_RATE_LIMIT=2/minute


def hosted_form():
    return form_service.create_form(form_service.FormSettings(
        name="Contact", fields={"first_name": "optional", "email": "required", "phone": "optional"}))


def test_a_capture_sooner_than_capture_min_fill_seconds_is_too_fast_and_a_slower_one_passes(env_app):
    form = hosted_form()
    shown = time.time()
    assert form_service.spam_reason(form.id, "", form_service.rendered_token(form.id, now=shown),
                                    now=shown + 9) == "too fast"  # CAPTURE_MIN_FILL_SECONDS=10
    assert form_service.spam_reason(form.id, "", form_service.rendered_token(form.id, now=shown),
                                    now=shown + 11) is None
    prospect = Web(env_app.test_client())
    prospect.post(f"/f/{form.slug}", {"email": "quick@example.com", "website": "",
                                       "rendered": form_service.rendered_token(form.id, now=time.time() - 5)},
                  csrf=False)
    prospect.post(f"/f/{form.slug}", {"email": "human@example.com", "website": "",
                                       "rendered": form_service.rendered_token(form.id, now=time.time() - 15)},
                  csrf=False)
    assert [lead.email for lead in db.session.scalars(select(Lead))] == ["human@example.com"]


def test_capture_forms_refuse_posts_past_capture_rate_limit(env_app):
    form = hosted_form()
    prospect = Web(env_app.test_client())
    answers = [prospect.post(f"/f/{form.slug}", {"email": f"p{n}@example.com", "website": ""},
                             csrf=False).status_code for n in range(4)]
    assert answers == [303, 303, 303, 429]  # CAPTURE_RATE_LIMIT=3/hour
    assert len(db.session.scalars(select(Lead)).all()) == 3


def test_a_phone_without_a_country_code_takes_default_phone_region_every_way_in(env_app, make_user):
    # the API
    secret = create_key("Website")[1]
    with env_app.app_context():
        created = env_app.test_client().post("/api/v1/leads", json={"email": "api@example.com", "phone": london(1)},
                                             headers={"Authorization": f"Bearer {secret}"})
    assert created.status_code == 201, created.get_data(as_text=True)
    # a hosted capture form
    form = hosted_form()
    Web(env_app.test_client()).post(f"/f/{form.slug}", {"email": "form@example.com", "phone": london(2),
                                                         "website": ""}, csrf=False)
    # manual entry
    web = Web(env_app.test_client())
    web.login(make_user("member"))
    added = web.post("/leads/new", {"first_name": "Manual", "email": "manual@example.com", "phone": london(3)})
    assert added.status_code in (302, 303), added.get_data(as_text=True)
    # a CSV import, run by its job
    from app.jobs.imports import run_import
    imp = create_import(io.BytesIO(f"Email,Phone\nimport@example.com,{london(4)}\n".encode()), "leads.csv", None)
    imp.status = "queued"
    db.session.commit()
    run_import(imp.id)
    db.session.expire_all()
    phones = {lead.email: lead.phone for lead in db.session.scalars(select(Lead))}
    assert phones == {"api@example.com": "+442079460951", "form@example.com": "+442079460952",
                      "manual@example.com": "+442079460953", "import@example.com": "+442079460954"}


def test_team_timezone_is_the_teams_timezone_until_an_admin_picks_one(env_app):
    from app.services.team_settings import team_timezone
    assert team_timezone() == "Europe/London"
