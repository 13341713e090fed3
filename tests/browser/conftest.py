"""Browser fixtures: one live Leadboard server on a SQLite file, one Chromium, a fresh page per test.

The server runs in a thread of this process on the same app object the tests use to seed and
check data, so a test can build its leads with the real services and read the rows afterwards.
Every test starts from empty tables (plus the default pipeline and two users), whatever the
test before it did."""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from werkzeug.serving import WSGIRequestHandler, make_server

from app import create_app
from app.extensions import db
from tests.conftest import CHROMIUM, TEST_PASSWORD, migrate_fresh, service_missing

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)


# --- the live server --------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    app: object

    def db(self):
        """An app context for seeding and checking rows: `with live.db(): ...`."""
        return self.app.app_context()


class QuietHandler(WSGIRequestHandler):
    """Log only failed requests, so a failing test's output shows what matters."""

    def log_request(self, code="-", size="-"):
        if str(code).isdigit() and int(code) >= 400 and self.path != "/favicon.ico":
            super().log_request(code, size)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{base / 'browser.db'}"
    migrate_fresh(url, base / "instance")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": base / "instance", "SECRET_KEY": "x",
                      "LEADBOARD_ENV": "testing", "RATELIMIT_ENABLED": False})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="leadboard-live-server", daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app)
    server.shutdown()
    thread.join(timeout=5)
    with app.app_context():
        db.engine.dispose()


def empty_tables() -> None:
    """Delete every row (children first); call inside an app context."""
    db.session.rollback()
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(text(f"DELETE FROM {table.name}"))
    db.session.commit()


@dataclass
class Seeded:
    """What every browser test starts with: the default pipeline, an admin and a member."""
    live: LiveServer
    stages: dict
    admin: object
    member: object

    @property
    def url(self) -> str:
        return self.live.url

    def lead(self, first_name: str, last_name: str = "Lead", stage: str = "New", owner=None, **fields) -> int:
        """Create one lead through the service (as the admin) and return its id."""
        from app.services.leads import create_lead
        with self.live.db():
            lead = create_lead({"first_name": first_name, "last_name": last_name, **fields}, self.admin.id,
                               stage_id=self.stages[stage], owner_id=owner.id if owner else None)
            return lead.id


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    name: str
    password: str = TEST_PASSWORD


@pytest.fixture
def fresh_db(live_server):
    """Empty tables for this test, and empty again afterwards (even if the test failed)."""
    with live_server.db():
        empty_tables()
    yield live_server
    with live_server.db():
        empty_tables()


@pytest.fixture
def seeded(fresh_db):
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    with fresh_db.db():
        stages = {s.name: s.id for s in ensure_default_pipeline()}
        admin = create_user("ada@example.com", TEST_PASSWORD, "admin", "Ada Admin")
        member = create_user("max@example.com", TEST_PASSWORD, "member", "Max Member")
        people = Person(admin.id, admin.email, admin.name), Person(member.id, member.email, member.name)
    return Seeded(live=fresh_db, stages=stages, admin=people[0], member=people[1])


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        service_missing("Chromium", f"no Chromium at {CHROMIUM} (set CHROMIUM_PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        service_missing("Chromium", f"the playwright package is not installed ({exc})")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:
        playwright.stop()
        service_missing("Chromium", f"Chromium at {CHROMIUM} did not start ({type(exc).__name__}: {exc})")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def new_page(browser, live_server):
    """Open a fresh context+page (own cookies) with a base URL; all are closed after the test."""
    from playwright.sync_api import expect
    expect.set_options(timeout=TIMEOUT_MS)
    contexts = []

    def open_page(viewport: dict | None = None, **options):
        context = browser.new_context(base_url=live_server.url, viewport=viewport or {"width": 1280, "height": 800},
                                      **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def sign_in(page, person, password: str | None = None) -> None:
    """Sign in through the login form and wait for the board."""
    from playwright.sync_api import expect
    page.goto("/login")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(password or person.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/board$"))


@pytest.fixture
def admin_page(page, seeded):
    sign_in(page, seeded.admin)
    return page


@pytest.fixture
def member_page(page, seeded):
    sign_in(page, seeded.member)
    return page


# --- helpers for tests --------------------------------------------------------------------------


def column(page, stage_name: str):
    """A board column: the region named by its heading."""
    return page.get_by_role("region", name=stage_name, exact=True)


def column_cards(page, stage_name: str):
    return page.get_by_role("list", name=f"{stage_name} cards", exact=True)


def card(page, lead_name: str):
    """The card (list item) holding the link with this lead's name."""
    return page.locator(".card").filter(has=page.get_by_role("link", name=lead_name, exact=True))


def move_to_won_by_keyboard(page, lead_name: str):
    """Open the card's "Move to…" menu from the keyboard, choose Won and press Move: the closing
    dialog it asks for."""
    from playwright.sync_api import expect
    the_card = card(page, lead_name)
    the_card.locator(".move-to > summary").focus()
    page.keyboard.press("Enter")
    stage = the_card.get_by_label("Stage", exact=True)
    expect(stage).to_be_visible()
    stage.select_option(label="Won")
    the_card.get_by_role("button", name="Move", exact=True).press("Enter")
    return page.get_by_role("dialog", name=f"Won: {lead_name}")


def mouse_drag(page, source, target, *, arrived, target_position: str = "center", steps: int = 20,
               timeout: float = 5.0) -> None:
    """Press on `source`, move in small steps onto `target`, keep nudging until `arrived()`, release.

    That is what SortableJS needs to see: a first small move starts the drag, the steps cross the
    board, and the nudges give Sortable fresh dragover events on the target until it has put the
    dragged element where `arrived` (a callable returning bool) says it should be; Sortable ignores
    dragover on elements that are still animating, so one pass is not enough when the drag crosses
    other items. target_position "top" aims just inside the target's upper edge."""
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    x, y = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 4, y + 4, steps=2)
    end = target.bounding_box()
    x, y = end["x"] + end["width"] / 2, end["y"] + (4 if target_position == "top" else end["height"] / 2)
    page.mouse.move(x, y, steps=steps)
    deadline = time.monotonic() + timeout
    nudge = 1
    while not arrived() and time.monotonic() < deadline:
        page.mouse.move(x, y + nudge)
        nudge = -nudge
    page.mouse.up()
