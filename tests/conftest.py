"""Shared fixtures: an app per test on SQLite and on PostgreSQL, a signed-in client, builders.

The schema is made once per database by the migrations (never create_all), and each test
leaves the tables empty again, even when it fails."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from flask import has_app_context

from app import create_app
from app.extensions import db

def _worker() -> int:
    """This process's number among pytest-xdist's workers (gw0, gw1, ...); 0 without xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def per_worker(url: str) -> str:
    """The test service `url` for this worker: worker 0 uses it as configured, worker n the
    PostgreSQL database `<name>_w<n>` and the Redis database 2n below (of Redis's 16), so that
    workers running side by side (`make test` runs two) never share a database."""
    n = _worker()
    if not n:
        return url
    if url.startswith("redis"):
        base, _, number = url.rpartition("/")
        return f"{base}/{(int(number or 0) - 2 * n) % 16}"
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_w{n}").render_as_string(hide_password=False)


POSTGRES_URL = per_worker(os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
REDIS_URL = per_worker(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
CHROMIUM = os.environ.get("CHROMIUM_PATH", shutil.which("chromium") or "/usr/bin/chromium")
REQUIRED = os.environ.get("LEADBOARD_REQUIRE_SERVICES") == "1"
TEST_PASSWORD = "correct horse battery staple"

_skipped_groups: dict[str, str] = {}


def service_missing(group: str, reason: str):
    """Skip a group whose service is missing, or fail the run when CI requires every service."""
    if REQUIRED:
        pytest.fail(f"{group} is required (LEADBOARD_REQUIRE_SERVICES=1) but unavailable: {reason}", pytrace=False)
    _skipped_groups[group] = reason
    pytest.skip(f"{group} unavailable: {reason}")


def pytest_terminal_summary(terminalreporter):
    if _skipped_groups:
        terminalreporter.section("test groups skipped")
        for group, reason in sorted(_skipped_groups.items()):
            terminalreporter.write_line(f"SKIPPED {group}: {reason}. Run scripts/services up (as root) to enable it.")


def _postgres_problem() -> str | None:
    try:
        if _worker():  # a worker's own database: created on first use
            url = make_url(POSTGRES_URL)
            admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                                  connect_args={"connect_timeout": 3})
            with admin.connect() as conn:
                if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}) is None:
                    conn.execute(text(f'CREATE DATABASE "{url.database}"'))
            admin.dispose()
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "not available here"
        return f"cannot connect to {POSTGRES_URL.split('@')[-1]} ({type(exc).__name__})"
    return None


def migrate_fresh(url: str, instance: Path) -> None:
    """Drop everything and build the schema from the migrations, as production does."""
    from flask_migrate import upgrade
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": "test",
                      "LEADBOARD_ENV": "testing"})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    if request.param == "postgresql":
        problem = _postgres_problem()
        if problem:
            service_missing("PostgreSQL", problem)
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    migrate_fresh(url, tmp_path_factory.mktemp("instance"))
    return url


KEPT_TABLES = {"installation_secrets"}  # made by the migrations, as in production; never emptied there


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name not in KEPT_TABLES]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for name in tables:
            db.session.execute(text(f"DELETE FROM {name}"))
    db.session.commit()


@pytest.fixture
def scratch_url(database_url, tmp_path):
    """An empty database of the same kind as this run's, only for one test: for migrating step by
    step (a migration that changes data is tried on rows stored as the schema stood before it)."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_migration"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def migration_app(scratch_url, tmp_path):
    """An app on the scratch database, not yet migrated."""
    return create_app({"SQLALCHEMY_DATABASE_URI": scratch_url, "INSTANCE_PATH": tmp_path / "instance",
                       "SECRET_KEY": "test", "LEADBOARD_ENV": "testing"})


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build an app on this test's database with config overrides; tables are emptied afterwards."""
    apps = []

    def build(**overrides):
        config = {"SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": tmp_path / "instance",
                  "SECRET_KEY": "test-secret", "LEADBOARD_ENV": "testing", "RATELIMIT_ENABLED": False,
                  **overrides}
        app = create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps[:1]:
        with app.app_context():
            db.session.rollback()
            _empty_tables()
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        yield app


# --- builders ---------------------------------------------------------------------------------


@pytest.fixture
def stages(app):
    from app.services.stages import ensure_default_pipeline
    return {s.name: s for s in ensure_default_pipeline()}


@pytest.fixture
def make_user(app):
    from app.services.users import create_user
    counter = iter(range(1, 10_000))

    def build(role: str = "member", name: str = "", email: str = "", password: str = TEST_PASSWORD):
        n = next(counter)
        return create_user(email or f"user{n}@example.com", password, role, name or f"Test User{n}")
    return build


@pytest.fixture
def admin(make_user):
    return make_user("admin", name="Ada Admin", email="ada@example.com")


@pytest.fixture
def member(make_user):
    return make_user("member", name="Max Member", email="max@example.com")


@pytest.fixture
def make_lead(app, stages):
    from app.services.leads import create_lead

    def build(stage: str = "New", owner=None, actor=None, **fields):
        fields.setdefault("first_name", "Lena")
        fields.setdefault("last_name", "Lead")
        return create_lead(fields, actor.id if actor else None, stage_id=stages[stage].id,
                           owner_id=owner.id if owner else None)
    return build


# --- a browser-like client --------------------------------------------------------------------


class Web:
    """A test client that signs in through /login and sends CSRF tokens like the real pages do."""

    def __init__(self, client):
        self.client = client
        self.app = client.application
        self._token = None

    def _send(self, method: str, url: str, **kwargs):
        # Each request gets its own app context (so its own `g` and database session), as it
        # would in a server; afterwards the test's own session re-reads what the request wrote.
        with self.app.app_context():
            response = getattr(self.client, method)(url, **kwargs)
        if has_app_context():
            db.session.expire_all()
        return response

    def token(self) -> str:
        if self._token is None:
            page = self._send("get", "/login").get_data(as_text=True)
            self._token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        return self._token

    def login(self, user, password: str = TEST_PASSWORD):
        response = self._send("post", "/login", data={"email": user.email, "password": password,
                                                      "csrf_token": self.token()})
        assert response.status_code == 302, response.get_data(as_text=True)
        self._token = None  # sign-in starts a fresh session, so a fresh token
        page = self._send("get", "/leads/new").get_data(as_text=True)
        self._token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        return response

    def get(self, url: str, htmx: bool = False, **kwargs):
        headers = {"HX-Request": "true"} if htmx else {}
        return self._send("get", url, headers=headers, **kwargs)

    def post(self, url: str, data: dict | None = None, htmx: bool = False, csrf: bool = True, **kwargs):
        headers = {"HX-Request": "true"} if htmx else {}
        if csrf:
            headers["X-CSRFToken"] = self.token()
        return self._send("post", url, data=data or {}, headers=headers, **kwargs)


@pytest.fixture
def web(app):
    return Web(app.test_client())


@pytest.fixture
def as_admin(web, admin):
    web.login(admin)
    return web


@pytest.fixture
def as_member(web, member, admin):
    web.login(member)
    return web


@pytest.fixture
def count_queries(app):
    """Count SQL statements run inside the `with` block."""
    class Counter:
        def __init__(self):
            self.count = 0

        def __enter__(self):
            event.listen(db.engine, "before_cursor_execute", self._tick)
            return self

        def __exit__(self, *exc):
            event.remove(db.engine, "before_cursor_execute", self._tick)

        def _tick(self, *args):
            self.count += 1
    return Counter


# --- a real SMTP server -------------------------------------------------------------------------


class SmtpSink:
    """An aiosmtpd server on loopback that keeps every message it accepts, parsed.

    `refuse_with` makes it answer DATA with that reply (e.g. "451 4.3.0 try later") instead."""

    def __init__(self):
        import threading
        self.messages: list = []
        self.refuse_with: str | None = None
        self.attempts = 0
        self._arrived = threading.Condition()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email.policy import default
        self.attempts += 1
        if self.refuse_with:
            return self.refuse_with
        with self._arrived:
            self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=default))
            self._arrived.notify_all()
        return "250 OK"

    @property
    def url(self) -> str:
        return f"smtp://{self.controller.hostname}:{self.controller.port}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list:
        """Block until `count` messages have arrived (or fail the test); returns all messages."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                pytest.fail(f"expected {count} email(s) within {timeout}s, got {len(self.messages)}")
            return list(self.messages)


def serving(sink):
    """Run an aiosmtpd handler on a free loopback port until the generator is closed (a fixture body)."""
    import socket
    from aiosmtpd.controller import Controller
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink.controller = Controller(sink, hostname="127.0.0.1", port=port)
    sink.controller.start()
    try:
        yield sink
    finally:
        sink.controller.stop()


@pytest.fixture
def smtp_server():
    """A real SMTP server for this test; SMTP_URL=smtp_server.url sends to it."""
    yield from serving(SmtpSink())
