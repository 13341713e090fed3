"""axe-core over every page of the URL map, at 1280 px and 375 px, signed out, as a member and as an
admin, with every menu and panel open, plus the UI that only appears on a click (the "Move to…"
menu's form, the closing dialog, forms showing their errors). Any serious or critical violation
fails, named by rule, element and page.

The walk is generic: each GET route is built with the ids of tests/integration/test_url_map.py's
build_world(), so a page added later is checked the day it lands; a route whose arguments have no
value there fails the walk instead of being skipped. axe is the vendored static/vendor/axe.min.js,
injected by the tests only (no template links it)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TIMEOUT_MS, Person, empty_tables, sign_in
from tests.conftest import TEST_PASSWORD
from tests.integration.test_url_map import ADMIN_BLUEPRINTS, build, build_world, routes

AXE = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe.min.js"
WIDTHS = {"1280px": {"width": 1280, "height": 800}, "375px": {"width": 375, "height": 812}}
BLOCKING = ("serious", "critical")
# Blueprints that are not pages: the JSON API.
NOT_PAGES = {"api"}

# Only the rules that can report a serious or critical violation run (a third of the time saved).
# Frames are left out: the outbox's email preview frame is sandboxed (axe would wait on it for a
# minute), and the walk checks that email as its own page (/outbox/<id>/html).
RUN_AXE = """async () => {
  const rules = (axe._audit && axe._audit.rules) || [];
  const minor = rules.filter(r => r.impact === "minor" || r.impact === "moderate").map(r => r.id);
  const result = await axe.run(document, {resultTypes: ["violations"], iframes: false, rules: Object.fromEntries(minor.map(id => [id, {enabled: false}]))});
  return result.violations.filter(v => ["serious", "critical"].includes(v.impact)).map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 6).map(n => n.target.join(" ") + (n.failureSummary ? " — " + n.failureSummary.split("\\n").slice(1, 2).join("").trim() : "")),
  }));
}"""

# Opens every closed <details> (menus, the filter panel, "Move to…") and waits for those that load
# their content with htmx on opening; bounded, so a menu that never answers cannot hang the walk.
OPEN_EVERYTHING = """async () => {
  const closed = [...document.querySelectorAll("details:not([open])")];
  const loads = closed.filter(d => d.hasAttribute("hx-get")).map(d => new Promise(resolve => {
    d.addEventListener("htmx:afterSettle", resolve, {once: true});
    d.addEventListener("htmx:afterRequest", e => { if (!e.detail.successful) resolve(); }, {once: true});
    setTimeout(resolve, 3000);
  }));
  closed.forEach(d => { d.open = true; });
  await Promise.all(loads);
  return closed.length;
}"""


@dataclass
class Walk:
    """What the walk met: violations to fail on, and what it did not check as a page (and why)."""
    violations: list = field(default_factory=list)
    checked: set = field(default_factory=set)
    not_pages: dict = field(default_factory=dict)

    def check(self, page, who: str, width: str, where: str) -> None:
        page.add_script_tag(path=str(AXE))
        for v in page.evaluate(RUN_AXE):
            targets = "\n      ".join(v["targets"])
            self.violations.append(f"[{who} {width}] {where}: {v['id']} ({v['impact']}) {v['help']}\n      {targets}")
        self.checked.add((who, width, where))

    def report(self) -> str:
        return "\n".join(self.violations)


@pytest.fixture(scope="module")
def world(live_server):
    """One of everything, in the live server's database, and the public links its emails carry."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import OutboxEmail
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    with live_server.db():
        empty_tables()
        stages = {s.name: s for s in ensure_default_pipeline()}
        admin = create_user("ada@example.com", TEST_PASSWORD, "admin", "Ada Admin")
        member = create_user("max@example.com", TEST_PASSWORD, "member", "Max Member")
        built = build_world(admin, member, stages)
        bodies = db.session.scalars(select(OutboxEmail.text_body)).all()
        built["email_links"] = sorted({urlsplit(url).path for body in bodies
                                       for url in re.findall(r"https?://[^\s<>\"')]+", body)})
        built["people"] = {"admin": Person(admin.id, admin.email, admin.name),
                           "member": Person(member.id, member.email, member.name)}
        built["lead_id"] = built["ids"]["lead_id"]
    yield built
    with live_server.db():
        empty_tables()


@pytest.fixture(scope="module")
def walker(browser, live_server):
    """One browser context per person for the whole module (the walk is long: reuse, don't rebuild)."""
    contexts = {}

    def open_as(who: str, person: Person | None):
        if who not in contexts:
            # bypass_csp: the app's policy rightly refuses the script tag the test adds for axe.
            context = browser.new_context(base_url=live_server.url, viewport=WIDTHS["1280px"], bypass_csp=True)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            if person:
                sign_in(page, person)
            contexts[who] = page
        return contexts[who]

    yield open_as
    for page in contexts.values():
        page.context.close()


def page_urls(app, world, blueprints_refused=()):
    """Every GET route's URL, built with the world's ids; and the routes it could not build."""
    urls, missing = [], []
    for rule, methods in routes(app):
        if "GET" not in methods or rule.endpoint == "static" or rule.endpoint.split(".")[0] in NOT_PAGES:
            continue
        if rule.endpoint.split(".")[0] in blueprints_refused:
            continue
        unknown = [a for a in rule.arguments if a not in world["ids"] and a not in world["strings"]]
        if unknown:
            missing.append(f"{rule.endpoint} ({rule.rule}): no {', '.join(unknown)} in build_world()")
            continue
        urls.append((rule.endpoint, build(app, rule, world)))
    return urls, missing


def walk_pages(page, who: str, urls, walk: Walk) -> None:
    """Visit each URL at each width; check every distinct HTML page it lands on with its menus open."""
    for endpoint, url in urls:  # what each URL answers, once (a CSV download cannot be navigated to)
        answer = page.request.get(url)
        kind = answer.headers.get("content-type", "")
        if not kind.startswith("text/html"):
            walk.not_pages[endpoint] = f"not HTML ({kind.split(';')[0]})"
        elif "<html" not in answer.text()[:500].lower():
            walk.not_pages[endpoint] = "an htmx fragment on its own (checked inside its page)"
    urls = [(endpoint, url) for endpoint, url in urls if endpoint not in walk.not_pages]
    for width, viewport in WIDTHS.items():
        page.set_viewport_size(viewport)
        for endpoint, url in urls:
            page.goto(url)
            where = urlsplit(page.url).path  # the walk's URLs carry no query: /login?next=... is /login
            if (who, width, where) in walk.checked:
                continue
            page.evaluate(OPEN_EVERYTHING)
            walk.check(page, who, width, where)


def print_walk(walk: Walk, who: str, missing) -> None:
    print(f"\n{who}: {len({w for _, _, w in walk.checked})} pages checked at {len(WIDTHS)} widths")
    for endpoint, why in sorted(walk.not_pages.items()):
        print(f"  not a page: {endpoint}: {why}")
    for line in missing:
        print(f"  NOT CHECKED: {line}")


@pytest.mark.parametrize("who", ["signed out", "member", "admin"])
def test_every_page_has_no_serious_or_critical_axe_violation(live_server, world, walker, who):
    person = world["people"].get(who)
    page = walker(who, person)
    refused = ADMIN_BLUEPRINTS if who == "member" else ()  # a member gets the one 403 page for those
    urls, missing = page_urls(live_server.app, world, refused)
    if who == "signed out":  # the public side, with the real links its emails carry
        urls += [(f"email link {path.split('/')[1]}", path) for path in world["email_links"]]
    walk = Walk()
    walk_pages(page, who, urls, walk)
    if who == "member":
        page.goto("/settings/team")
        walk.check(page, who, "1280px", "/settings/team (refused)")
    print_walk(walk, who, missing)
    assert not missing, "routes the walk cannot build (add their ids to build_world()):\n" + "\n".join(missing)
    assert len(walk.checked) >= 2 * (3 if who == "signed out" else 25), walk.checked
    assert not walk.violations, f"{len(walk.violations)} serious or critical axe violations:\n" + walk.report()


def test_revealed_ui_has_no_serious_or_critical_axe_violation(live_server, world, walker):
    """What a click reveals: the move form and the closing dialog on the board, forms with errors."""
    walk = Walk()
    admin = walker("admin", world["people"]["admin"])
    visitor = walker("signed out", None)
    for width, viewport in WIDTHS.items():
        admin.set_viewport_size(viewport)
        visitor.set_viewport_size(viewport)

        # The board's "Move to…" menu, then the dialog that asks why a lead was won.
        admin.goto("/board")
        card = admin.locator(".card").first
        card.locator("summary").click()
        target = card.get_by_role("combobox").or_(card.get_by_role("radio").first).first
        expect(target).to_be_visible()
        walk.check(admin, "admin", width, "/board, Move to… open")
        select = card.get_by_role("combobox")
        if select.count():
            select.first.select_option(label="Won")
            card.get_by_role("button", name=re.compile("^Move")).click()
            dialog = admin.get_by_role("dialog")
            expect(dialog).to_be_visible()
            walk.check(admin, "admin", width, "/board, closing dialog")
            dialog.get_by_role("button", name="Cancel").click()

        # Forms sent with errors: each message beside its field.
        admin.goto("/leads/new")
        admin.get_by_role("textbox", name=re.compile("Email")).first.fill("not an email")
        admin.get_by_role("button", name="Add lead").click()
        expect(admin.locator("[aria-invalid=true]").first).to_be_visible()
        walk.check(admin, "admin", width, "/leads/new with errors")

        admin.goto("/account")
        admin.get_by_label("Current password").fill("wrong password")
        admin.get_by_role("button", name="Change password").click()
        expect(admin.locator("[aria-invalid=true]").first).to_be_visible()
        walk.check(admin, "admin", width, "/account with errors")

        visitor.goto("/login")
        visitor.get_by_label("Email").fill("nobody@example.com")
        visitor.get_by_label("Password").fill("wrong password")
        visitor.get_by_role("button", name="Sign in").click()
        expect(visitor.get_by_role("alert").or_(visitor.locator("[aria-invalid=true]")).first).to_be_visible()
        walk.check(visitor, "signed out", width, "/login with errors")

        # A report's filters with every error at once (the typed text kept), and the forecast's next steps.
        admin.goto("/reports/funnel?start=nope&end=2026-02-31&source=nowhere")
        expect(admin.locator("[aria-invalid=true]").first).to_be_visible()
        walk.check(admin, "admin", width, "/reports/funnel with errors")
        admin.goto("/reports/forecast?start=2040-01-01&end=2040-06-30")
        expect(admin.locator("#forecast-empty")).to_be_visible()
        walk.check(admin, "admin", width, "/reports/forecast with nothing to forecast")

        slug = world["strings"]["slug"]
        visitor.goto(f"/f/{slug}")
        visitor.locator("form button[type=submit], form input[type=submit]").first.click()
        walk.check(visitor, "signed out", width, f"/f/{slug} with errors")
    print(f"\nrevealed UI: {len(walk.checked)} states checked")
    assert not walk.violations, f"{len(walk.violations)} serious or critical axe violations:\n" + walk.report()
