"""Page benchmark: each page's cost beside a signed-in floor, at 10,000, 100,000 and 1,000,000 leads.

    python bench/bench_pages.py --db sqlite|postgresql [--sizes 10000,100000,1000000] [--repeat 30]
                                [--browser] [--no-http] [--postgres-url URL] [--sqlite-file PATH] [--reuse]
                                [--explain] [--json FILE] [--no-analyze] [--keep]

Builds the schema through the migrations, makes the demo team and pipeline, then for each size grows
the same database to that many leads with a set-based bulk load (PostgreSQL: COPY; SQLite: executemany
in big transactions), with a proportionate timeline, notes, appointments and notifications. At each
size it times every page of PAGES in-process (Flask test client) and over real HTTP against gunicorn
(app/gunicorn_conf.py, one kept-alive connection), optionally a board in Chromium, and reports each
page's p95 as a ratio to the signed-in floor measured in the same run. See bench/README.md.
"""
from __future__ import annotations

import argparse
import gzip
import html
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from queue import Queue
from typing import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, text  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
DEFAULT_SIZES = "10000,100000,1000000"
PASSWORD = "bench password that is long enough"
SECRET_KEY = "bench-secret-key-that-is-long-enough-for-production"
WARMUP = 3
TIMELINE_ENTRIES = 200  # made through the services on the long-history lead
HISTORY_BULK = {"notes": 1000, "edits": 1000, "appointments": 12}  # and bulk-loaded on top of them
TIMELINE_EMAIL = "tina@history.example"
CUSTOM_KEY = "employees"  # the custom field every bench lead may hold (85% do), sorted and filtered on
CHUNK = 50_000  # leads per bulk-load transaction
# Aims (issue 10): every page within 3x the signed-in floor over HTTP; at the largest size within
# 1.3x of the same page's ratio at the smallest; a board in Chromium within 2x a floor page.
AIM_FLOOR = 3.0
AIM_GROWTH = 1.3
AIM_BROWSER = 2.0
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# What Chromium sends: the server compresses pages as it would for a browser.
BROWSER_ACCEPT_ENCODING = "gzip, deflate, br, zstd"


# --- the pages ----------------------------------------------------------------------------------


@dataclass
class Page:
    """One request to time. `url` is a path, or a function of the run's Context giving one; `prepare`
    (Context, iteration) -> (path, form) is for requests that change every time (the card move)."""

    key: str
    label: str
    url: str | Callable = ""
    expect: int = 200
    method: str = "GET"
    prepare: Callable | None = None
    htmx: bool = False
    reference: bool = False  # shown for comparison; no aim applies
    http: bool = True  # also timed over HTTP against gunicorn


def pool_filtered(ctx) -> str:
    return f"/leads?stage={ctx.stage_ids[0]}&owner=none&sort=value&dir=asc"


def lead_page(ctx) -> str:
    return f"/leads/{ctx.lead_id}"


def pool_deep(ctx) -> str:
    return ctx.deep_pool_url


def board_score_more(ctx) -> str:
    """A score-sorted column's "Show more": the cards of New below score 50 (a keyset in mid-column)."""
    return f"/board/columns/{ctx.stage_ids[0]}/cards?sort=score&after_score=50&after_id=2147483647&shown=20"


def card_move(ctx, iteration: int):
    return ctx.next_move()


# Adding a page is one line here (later capabilities add theirs: scores, tasks, SLA timers, reports).
# The floor must stay: every ratio divides by it.
PAGES = [
    Page("trivial", "reference: GET / signed out (302 to /login)", "/", 302, reference=True),
    Page("static", "reference: GET /static/app.css", "/static/app.css", reference=True),
    Page("healthz", "reference: GET /healthz (SELECT 1)", "/healthz", reference=True, http=False),
    Page("floor", "signed-in floor: GET /leads/0 (404 in the layout)", "/leads/0", 404, reference=True),
    Page("board", "board", "/board"),
    Page("pool", "pool, first page (default sort)", "/leads"),
    Page("pool_filtered", "pool: stage New, no owner, by value asc", pool_filtered),
    Page("pool_deep", "pool: deep page (Next followed from the first page)", pool_deep),
    Page("pool_last", "pool: last page (Last: the reversed order's first page)", "/leads?last=1"),
    Page("pool_score", "pool: by score, highest first", "/leads?sort=score"),
    Page("pool_band", "pool: score band Hot, by score", "/leads?band=Hot&sort=score"),
    Page("pool_custom_sort", "pool: by a custom number field", f"/leads?sort=cf:{CUSTOM_KEY}&dir=asc"),
    Page("pool_custom_filter", "pool: custom number field 100 to 200",
         f"/leads?field={CUSTOM_KEY}&field_min=100&field_max=200"),
    Page("board_score", "board: by score, highest first", "/board?sort=score"),
    Page("board_band", "board: score band Hot (manual order)", "/board?band=Hot"),
    Page("board_band_score", "board: score band Hot, by score", "/board?band=Hot&sort=score"),
    Page("board_score_more", "board: a column's Show more, by score", board_score_more),
    Page("board_custom_filter", "board: custom number field 100 to 200",
         f"/board?field={CUSTOM_KEY}&field_min=100&field_max=200"),
    Page("lead_page", "lead page, long history", lead_page),
    Page("move", "card move (htmx POST /board/move)", "/board/move", method="POST", prepare=card_move, htmx=True),
    Page("notifications", "notifications", "/notifications"),
    Page("outbox", "outbox (admin)", "/outbox"),
]

# Chromium: time from navigation to loaded and interactive. `ready` is a CSS selector whose every
# match SortableJS must have initialised (None: the load event is enough).
BROWSER_PAGES = [
    ("floor", "/leads/0", None),
    ("board", "/board", ".cards[data-stage-id]"),
]


# --- database setup -----------------------------------------------------------------------------


def _normalise_pg(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def prepare_postgres(url: str) -> None:
    """Create the benchmark database if missing, then empty its public schema."""
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise SystemExit("--postgres-url must name a database, e.g. .../bench")
    if dbname == "test" or dbname.startswith("test_"):
        raise SystemExit(f"refusing to wipe the database {dbname!r} (the test suite's); use .../bench")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": dbname})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{dbname}"'))
    engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def make_app(url: str, instance: Path):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": SECRET_KEY,
                       "LEADBOARD_ENV": "testing", "RATELIMIT_ENABLED": False})


def migrate(app) -> None:
    from flask_migrate import upgrade
    with app.app_context():
        upgrade()


def make_team(app) -> None:
    """The demo admin, four members and the default pipeline, through the demo seeder (no leads)."""
    from app.services import custom_fields, scoring
    from app.services.demo import seed
    with app.app_context():
        seed(leads=0, admin_password=PASSWORD)
        # Issue 11's lists: a number field every lead may hold, and score bands to filter by.
        custom_fields.create_field(custom_fields.FieldSettings(label="Employees", key=CUSTOM_KEY, kind="number"))
        scoring.save_bands([("Cold", None, "#6b7280"), ("Warm", 20, "#b45309"), ("Hot", 50, "#b91c1c")])


def analyze(app) -> float:
    from app.extensions import db
    started = time.perf_counter()
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def reconcile_totals(app) -> float | None:
    """Recompute the maintained board totals after a bulk load, where the app has them (issue 10)."""
    try:
        from app.services import totals
    except ImportError:
        return None
    if not hasattr(totals, "reconcile"):
        return None
    from app.services import atomic
    started = time.perf_counter()
    with app.app_context(), atomic():
        totals.reconcile()
    return time.perf_counter() - started


def bulk_lead_count(url: str) -> int | None:
    """Bulk-loaded leads in this database (the long-history lead not counted), or None if it holds
    no loaded schema."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            users = conn.scalar(text("SELECT count(*) FROM users"))
            count = conn.scalar(text("SELECT count(*) FROM leads WHERE email IS NULL OR email <> :e"),
                                {"e": TIMELINE_EMAIL})
        return count if users else None
    except Exception:  # no such database or table: nothing to reuse
        return None
    finally:
        engine.dispose()


def history_lead(app) -> int | None:
    from app.extensions import db
    with app.app_context():
        return db.session.scalar(text("SELECT id FROM leads WHERE email = :e"), {"e": TIMELINE_EMAIL})


def lead_with_history(app, entries: int = TIMELINE_ENTRIES) -> int:
    """One lead with `entries` timeline entries, made through the services: notes, edits and stage moves."""
    from app.extensions import db
    from app.models import User
    from app.services import leads as lead_service
    from app.services.demo import DEMO_ADMIN
    from app.services.stages import pipeline
    from sqlalchemy import select
    with app.app_context():
        actor = db.session.scalar(select(User).where(User.email == DEMO_ADMIN))
        stage_ids = [s.id for s in pipeline()]
        lead = lead_service.create_lead({"first_name": "Tina", "last_name": "Timeline", "company": "History Inc",
                                         "email": TIMELINE_EMAIL, "value": "12000"}, actor.id)
        lead_id, actor_id = lead.id, actor.id
        for n in range(1, entries):  # 'created' is the first entry
            kind = n % 3
            if kind == 0:
                lead_service.add_note(lead_id, f"Call {n}: spoke to Tina about the renewal, follow up next week "
                                               f"with pricing for {n} seats.", actor_id)
            elif kind == 1:
                lead_service.update_lead(lead_id, {"job_title": f"Head of Operations {n}", "value": str(10000 + n)},
                                         actor_id)
            else:
                current = lead_service.get_lead(lead_id).stage_id
                target = stage_ids[(stage_ids.index(current) + 1) % len(stage_ids)]
                lead_service.move_lead(lead_id, target, None, None, actor_id)
            db.session.remove()
        count = db.session.scalar(text("SELECT count(*) FROM timeline_entries WHERE lead_id = :id"), {"id": lead_id})
    assert count == entries, count
    return lead_id


# --- the bulk load -------------------------------------------------------------------------------

COLUMNS = {
    "leads": ("id", "first_name", "last_name", "email", "phone", "company", "job_title", "source", "value",
              "owner_id", "stage_id", "position", "version", "created_at", "updated_at", "stage_entered_at",
              "first_response_at", "appointment_status", "appointment_starts_at", "score"),
    "lead_field_values": ("lead_id", "field_id", "value_number"),
    "timeline_entries": ("lead_id", "actor_id", "kind", "data", "created_at"),
    "notes": ("lead_id", "author_id", "body", "created_at"),
    "appointments": ("id", "lead_id", "booked_by_id", "uid", "sequence", "starts_at", "duration_minutes", "location",
                     "note", "timezone", "status", "prospect_message", "responded_at", "created_at", "updated_at"),
    "notifications": ("user_id", "lead_id", "message", "created_at", "read_at"),
}
ANSWERS = (  # appointment status, its timeline kind, the owner's notice; weights below
    ("awaiting", None, None),
    ("confirmed", "appointment_confirmed", "{name} confirmed the appointment on {when}."),
    ("new_time_requested", "appointment_new_time_requested", "{name} asked for another time instead of {when}."),
    ("cancelled", "appointment_cancelled", "{name} cancelled the appointment on {when}."),
)
ANSWER_WEIGHTS = (35, 45, 10, 10)
LOCATIONS = ("https://meet.example.com/demo", "Our office, 5th floor", "Phone call")


class Clock:
    """Timestamps as the database stores them, from whole seconds since an origin: strftime per row
    would cost more than the rest of a row together."""

    def __init__(self, now: datetime, dialect: str, days_back: int = 92, days_ahead: int = 60):
        self.origin = (now - timedelta(days=days_back)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.now = int((now - self.origin).total_seconds())
        self.suffix = ".000000" if dialect == "sqlite" else ""  # SQLAlchemy's SQLite format has microseconds
        self.days = [(self.origin + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(days_back + days_ahead)]

    def __call__(self, seconds: int) -> str:
        day, rest = divmod(seconds, 86400)
        hour, rest = divmod(rest, 3600)
        minute, second = divmod(rest, 60)
        return f"{self.days[day]} {hour:02d}:{minute:02d}:{second:02d}{self.suffix}"

    def datetime(self, seconds: int) -> datetime:
        return self.origin + timedelta(seconds=seconds)


class Shapes:
    """The demo data's shape (app.services.demo): names, companies, sources, stage weights, owners."""

    field_id: int | None = None  # the custom field's id (set by _context from the database)

    def __init__(self, stages: list, user_ids: list[int], admin_id: int, dialect: str, seed: int = 7):
        from faker import Faker
        from app.services.demo import SOURCES, STAGE_WEIGHTS
        fake = Faker()
        Faker.seed(seed)
        self.firsts = [fake.first_name() for _ in range(400)]
        self.lasts = [fake.last_name() for _ in range(600)]
        self.companies = [fake.company() for _ in range(800)]
        self.domains = ["".join(ch for ch in c.lower() if ch.isalnum())[:20] or "example" for c in self.companies]
        self.titles = [fake.job()[:200] for _ in range(200)]
        self.bodies = [fake.sentence(nb_words=14) for _ in range(2000)]
        self.note_data = [json.dumps({"body": b}) for b in self.bodies]
        self.sources = list(SOURCES)
        self.stages = [(s["id"], s["name"], s["kind"]) for s in stages]
        weights = [STAGE_WEIGHTS.get(s["name"], 10) for s in stages]
        self.cum_weights = [sum(weights[:i + 1]) for i in range(len(weights))]
        self.user_ids, self.admin_id = user_ids, admin_id
        first = self.stages[0][1]
        self.created_data = [json.dumps({"via": via, "stage": first})
                             for via in ("web form", "CSV import", "manual entry")]
        self.moved_data = {sid: json.dumps({"from": first, "to": name}) for sid, name, _ in self.stages}
        names = [s["name"] for s in stages]
        self.booked_stage = stages[names.index("Appointment set")]["id"] if "Appointment set" in names else None
        self.dialect = dialect


def _when(start: datetime, minutes: int) -> str:
    end = start + timedelta(minutes=minutes)
    return f"{start:%A} {start.day} {start:%B %Y}, {start:%H:%M}–{end:%H:%M} (UTC)"


def generate(shapes: Shapes, clock: Clock, first_id: int, first_appointment_id: int, count: int,
             rng: random.Random):
    """Yield dicts of table -> rows (tuples in COLUMNS order) for `count` leads, CHUNK leads at a time.

    Per lead, as the demo seeder: a 'created' entry; 'claimed' when owned (every lead outside New, 70%
    in New); 'stage_changed' outside New; a note 25% of the time. Added here: 8% without a company,
    12% without a value; an appointment for 60% of 'Appointment set' leads and 2% of the other open ones
    (booked, most answered by the prospect: a timeline entry and a notice for the owner)."""
    stages, cum, users = shapes.stages, shapes.cum_weights, shapes.user_ids
    first_stage = stages[0][0]
    firsts, lasts, companies, domains = shapes.firsts, shapes.lasts, shapes.companies, shapes.domains
    titles, sources, bodies, note_data = shapes.titles, shapes.sources, shapes.bodies, shapes.note_data
    created_data, moved_data = shapes.created_data, shapes.moved_data
    now, span = clock.now, 90 * 86400
    appointment_id = first_appointment_id
    rand, randint, choice, choices = rng.random, rng.randint, rng.choice, rng.choices
    for start in range(0, count, CHUNK):
        leads, entries, notes, appointments, notices, values = [], [], [], [], [], []
        for lead_id in range(first_id + start, first_id + min(count, start + CHUNK)):
            stage_id, stage_name, stage_kind = choices(stages, cum_weights=cum)[0]
            in_first = stage_id == first_stage
            owner = choice(users) if (not in_first or rand() > 0.3) else None
            first, last = choice(firsts), choice(lasts)
            c = randint(0, len(companies) - 1)
            company = companies[c] if rand() > 0.08 else None
            domain = domains[c] if company else "example"
            created = now - randint(1800, span)
            entered = created if in_first else created + int((now - created) * rand())
            created_s, entered_s = clock(created), clock(entered)
            value = randint(2, 199) * 250 if rand() > 0.12 else None
            status = starts_s = None
            entries.append((lead_id, None, "created", choice(created_data), created_s))
            if owner is not None:
                entries.append((lead_id, owner, "claimed", "{}", clock(created + (entered - created) // 3)))
            if not in_first:
                entries.append((lead_id, owner, "stage_changed", moved_data[stage_id], entered_s))
            if rand() < 0.25:
                n = randint(0, len(bodies) - 1)
                at = clock(created + int((now - created) * rand()))
                notes.append((lead_id, owner, bodies[n], at))
                entries.append((lead_id, owner, "note", note_data[n], at))
            if stage_kind == "open" and not in_first and rand() < (0.6 if stage_id == shapes.booked_stage else 0.02):
                status, starts_s = _appointment(shapes, clock, rng, lead_id, appointment_id, owner, entered,
                                                f"{first} {last}", appointments, entries, notices)
                appointment_id += 1
            leads.append((lead_id, first, last, f"{first.lower()}.{last.lower()}{lead_id}@{domain}.example",
                          f"+1415{randint(2000000, 9999999)}", company, choice(titles), choice(sources), value,
                          owner, stage_id, -lead_id * 1024, 1, created_s, entered_s, created_s,
                          None if in_first else entered_s, status, starts_s, randint(-20, 100)))
            if rand() < 0.85:
                values.append((lead_id, shapes.field_id, randint(1, 5000)))
        yield {"leads": leads, "lead_field_values": values, "timeline_entries": entries, "notes": notes,
               "appointments": appointments, "notifications": notices}


def _appointment(shapes, clock, rng, lead_id, appointment_id, owner, booked_at, name, appointments, entries,
                 notices) -> tuple[str, str]:
    booker = owner or shapes.admin_id
    starts = clock.now + rng.randint(1, 20) * 86400 + rng.randint(0, 16) * 1800
    starts -= starts % 1800
    minutes = rng.choice((30, 45, 60))
    when = _when(clock.datetime(starts), minutes)
    status, kind, notice = rng.choices(ANSWERS, ANSWER_WEIGHTS)[0]
    location = rng.choice(LOCATIONS)
    booked_s, starts_s = clock(booked_at), clock(starts)
    answered = booked_at + int((clock.now - booked_at) * rng.random()) if kind else None
    answered_s = clock(answered) if answered else None
    appointments.append((appointment_id, lead_id, booker, f"bench-{appointment_id}@leadboard", 0, starts_s, minutes,
                         location, "Looking forward to walking you through Leadboard.", "UTC", status, None,
                         answered_s, booked_s, answered_s or booked_s))
    entries.append((lead_id, booker, "appointment_booked",
                    json.dumps({"appointment_id": appointment_id, "when": when, "invited": True,
                                "location": location}), booked_s))
    if kind:
        entries.append((lead_id, None, kind, json.dumps({"appointment_id": appointment_id, "when": when,
                                                         "by": "prospect", "message": None}), answered_s))
        read = clock(min(clock.now, answered + rng.randint(60, 86400))) if rng.random() < 0.7 else None
        notices.append((booker, lead_id, notice.format(name=name, when=when), answered_s, read))
    return status, starts_s


def history_rows(shapes: Shapes, clock: Clock, lead_id: int, first_appointment_id: int,
                 rng: random.Random) -> dict:
    """Bulk history for the long-history lead, on top of what the services made: notes, edits and
    answered appointments (HISTORY_BULK), so its page shows whether every list on it is bounded."""
    entries, notes, appointments, notices = [], [], [], []
    now = clock.now
    for n in range(HISTORY_BULK["notes"]):
        at = clock(now - rng.randint(3600, 80 * 86400))
        body = f"Bulk note {n}: {rng.choice(shapes.bodies)}"
        notes.append((lead_id, shapes.admin_id, body, at))
        entries.append((lead_id, shapes.admin_id, "note", json.dumps({"body": body}), at))
    for n in range(HISTORY_BULK["edits"]):
        at = clock(now - rng.randint(3600, 80 * 86400))
        entries.append((lead_id, shapes.admin_id, "updated",
                        json.dumps({"changes": {"job_title": [f"Lead {n}", f"Lead {n + 1}"]}}), at))
    for n in range(HISTORY_BULK["appointments"]):
        _appointment(shapes, clock, rng, lead_id, first_appointment_id + n, shapes.admin_id,
                     now - rng.randint(3600, 80 * 86400), "Tina Timeline", appointments, entries, notices)
    return {"timeline_entries": entries, "notes": notes, "appointments": appointments, "notifications": notices}


class SQLiteWriter:
    """executemany in one transaction per chunk, with the journal and fsyncs off for the load only."""

    def __init__(self, url: str):
        import sqlite3
        self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF", "cache_size=-400000",
                       "temp_store=MEMORY"):
            self.conn.execute(f"PRAGMA {pragma}")

    def drop_indexes(self, tables: tuple[str, ...]) -> list[str]:
        """Drop the tables' secondary indexes; returns their DDL as the schema holds it, to recreate."""
        rows = self.conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(tables))})", tables).fetchall()
        for name, _ in rows:
            self.conn.execute(f'DROP INDEX "{name}"')
        return [sql for _, sql in rows]

    def create_indexes(self, ddl: list[str]) -> None:
        for statement in ddl:
            self.conn.execute(statement)

    def write(self, tables: dict) -> None:
        self.conn.execute("BEGIN")
        for table, rows in tables.items():
            if rows:
                columns = COLUMNS[table]
                self.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                                      f"VALUES ({', '.join('?' * len(columns))})", rows)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.execute("PRAGMA journal_mode=WAL")  # as the app runs it
        self.conn.close()


class PostgresWriter:
    """COPY FROM STDIN per table, one transaction per chunk."""

    def __init__(self, url: str):
        import psycopg
        self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        self.conn.execute("SET synchronous_commit = off")
        # The rows are consistent by construction: skip the per-row foreign-key checks (and any row
        # triggers; the caller reconciles what they maintain). Needs a superuser; without, rows are checked.
        try:
            self.conn.execute("SET session_replication_role = replica")
            self.checks_skipped = True
        except psycopg.errors.InsufficientPrivilege:
            self.checks_skipped = False

    def drop_indexes(self, tables: tuple[str, ...]) -> list[str]:
        """Drop the tables' secondary indexes (not those behind a constraint); returns their DDL as
        the schema holds it, to recreate."""
        with self.conn.transaction():
            rows = self.conn.execute(
                "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
                (list(tables),)).fetchall()
            for name, _ in rows:
                self.conn.execute(f'DROP INDEX "{name}"')
        return [ddl for _, ddl in rows]

    def create_indexes(self, ddl: list[str]) -> None:
        self.conn.execute("SET maintenance_work_mem = '256MB'")
        with self.conn.transaction():
            for statement in ddl:
                self.conn.execute(statement)

    def write(self, tables: dict) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            for table, rows in tables.items():
                if rows:
                    with cur.copy(f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN") as copy:
                        write = copy.write_row
                        for row in rows:
                            write(row)

    def close(self) -> None:
        with self.conn.transaction():  # explicit ids leave the sequences behind
            for table in ("leads", "appointments"):
                self.conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT coalesce(max(id), 1) FROM {table}))")
        self.conn.close()


def _context(url: str) -> tuple[list[dict], list[int], int, int, int, str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        Shapes.field_id = conn.scalar(text("SELECT id FROM custom_fields WHERE key = :k"), {"k": CUSTOM_KEY})
        stages = [dict(r._mapping) for r in conn.execute(text("SELECT id, name, kind FROM stages ORDER BY position, id"))]
        users = [r.id for r in conn.execute(text("SELECT id FROM users ORDER BY id"))]
        admin = conn.scalar(text("SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1"))
        next_lead = (conn.scalar(text("SELECT max(id) FROM leads")) or 0) + 1
        next_appointment = (conn.scalar(text("SELECT max(id) FROM appointments")) or 0) + 1
    dialect = engine.dialect.name
    engine.dispose()
    return stages, users, admin, next_lead, next_appointment, dialect


def _ahead(chunks):
    """Make the next chunk in a thread while the database takes this one (the driver lets go of the
    GIL while the database works)."""
    queue: Queue = Queue(maxsize=2)

    def produce():
        try:
            for chunk in chunks:
                queue.put(chunk)
        except BaseException as exc:  # handed to the consumer, which raises it
            queue.put(exc)
        queue.put(None)

    threading.Thread(target=produce, daemon=True).start()
    while (chunk := queue.get()) is not None:
        if isinstance(chunk, BaseException):
            raise chunk
        yield chunk


def grow(app, url: str, count: int, history_for: int | None = None, seed: int = 7) -> dict:
    """Add `count` leads (and their timeline, notes, appointments, notifications) set-based; with
    `history_for`, also the bulk part of that lead's long history. Returns row counts and timings."""
    from app.extensions import db
    with app.app_context():
        db.engine.dispose()  # the loader's own connection changes SQLite's journal mode
    stages, users, admin, next_lead, next_appointment, dialect = _context(url)
    clock = Clock(datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0), dialect)
    rng = random.Random(seed + next_lead)
    shapes = Shapes(stages, users, admin, dialect, seed)
    writer = SQLiteWriter(url) if dialect == "sqlite" else PostgresWriter(url)
    rows = dict.fromkeys(COLUMNS, 0)
    started = time.perf_counter()
    # A load that at least doubles the leads runs faster without the secondary indexes: building one
    # by a sort afterwards beats a million random inserts into it. Their DDL comes from the schema.
    indexes = writer.drop_indexes(tuple(COLUMNS)) if count and count >= next_lead else []
    try:
        if history_for is not None:
            extra = history_rows(shapes, clock, history_for, next_appointment, rng)
            next_appointment += HISTORY_BULK["appointments"]
            writer.write(extra)
            for table, batch in extra.items():
                rows[table] += len(batch)
        for tables in _ahead(generate(shapes, clock, next_lead, next_appointment, count, rng)):
            writer.write(tables)
            for table, batch in tables.items():
                rows[table] += len(batch)
            next_appointment += len(tables["appointments"])
    finally:
        index_started = time.perf_counter()
        writer.create_indexes(indexes)
        index_seconds = time.perf_counter() - index_started
        writer.close()
    seconds = time.perf_counter() - started
    total = sum(rows.values())
    return {"added_leads": count, "seconds": seconds, "rows": rows, "rows_total": total,
            "indexes_rebuilt": len(indexes), "index_seconds": index_seconds,
            "rows_per_second": total / seconds if seconds else None,
            "leads_per_second": count / seconds if seconds else None}


# --- measuring: shared parts ---------------------------------------------------------------------


class QueryCounter:
    """Counts statements and their time on one engine, between reset() calls."""

    def __init__(self, engine):
        self.count = 0
        self.seconds = 0.0
        self._started = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *args):
        self.count += 1
        self._started.append(time.perf_counter())

    def _after(self, *args):
        if self._started:
            self.seconds += time.perf_counter() - self._started.pop()

    def reset(self):
        self.count, self.seconds, self._started = 0, 0.0, []


class RenderTimer:
    """Time spent inside render_template (Jinja rendering, plus any lazy loads it triggers)."""

    def __init__(self, app):
        from flask import before_render_template, template_rendered
        self.seconds = 0.0
        self._started = None
        before_render_template.connect(self._before, app)
        template_rendered.connect(self._after, app)

    def _before(self, sender, **extra):
        self._started = time.perf_counter()

    def _after(self, sender, **extra):
        if self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None

    def reset(self):
        self.seconds, self._started = 0.0, None


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
NEXT_LINK = re.compile(r"<a\s[^>]*\brel=\"next\"[^>]*>", re.S)
NEXT_TEXT = re.compile(r"(<a\s[^>]*>)\s*Next\b", re.S)
HREF = re.compile(r'\bhref="([^"]+)"')


def next_link(page: str) -> str | None:
    """The href of the page's rel="next" link, else of a link whose text starts with "Next"."""
    tag = NEXT_LINK.search(page)
    tag = tag.group(0) if tag else (m.group(1) if (m := NEXT_TEXT.search(page)) else None)
    found = HREF.search(tag) if tag else None
    return html.unescape(found.group(1)) if found else None


class Context:
    """What page specs need at one size: the stages, the long-history lead, the deep pool page and
    a supply of cards to move (each moved once, its version read outside the timed part)."""

    def __init__(self, url: str, lead_id: int, hops: int):
        self.helper = create_engine(url)
        self.lead_id, self.hops = lead_id, hops
        with self.helper.connect() as conn:
            rows = conn.execute(text("SELECT id, name FROM stages ORDER BY position, id")).all()
        self.stage_ids = [r.id for r in rows]
        self.deep_pool_url, self.deep_hops = "/leads", 0
        self._cards: list[int] = []

    def find_deep_pool(self, get: Callable[[str], str]) -> None:
        """Follow the pool's Next link `hops` times from the first page (not timed)."""
        url, hops = "/leads", 0
        for _ in range(self.hops):
            found = next_link(get(url))
            if not found:
                break
            url, hops = found, hops + 1
        self.deep_pool_url, self.deep_hops = url, hops

    def next_move(self) -> tuple[str, dict]:
        with self.helper.connect() as conn:
            if not self._cards:
                self._cards = [r.id for r in conn.execute(text(
                    "SELECT id FROM leads WHERE stage_id = :s ORDER BY position, id LIMIT 500"),
                    {"s": self.stage_ids[1]})]
            card = self._cards.pop()
            row = conn.execute(text("SELECT stage_id, version FROM leads WHERE id = :id"), {"id": card}).one()
        target = self.stage_ids[(self.stage_ids.index(row.stage_id) + 1) % len(self.stage_ids)]
        return "/board/move", {"lead_id": card, "stage_id": target, "after_id": "", "version": row.version,
                               "from_stage_id": row.stage_id, "owner": "", "shown": 20}

    def request_for(self, page: Page, iteration: int) -> tuple[str, dict | None]:
        if page.prepare is not None:
            return page.prepare(self, iteration)
        return (page.url(self) if callable(page.url) else page.url), None

    def close(self) -> None:
        self.helper.dispose()


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    render: list[float] = field(default_factory=list)
    size: int = 0
    url: str = ""


def interleaved(pages: list[Page], repeat: int, one: Callable) -> dict[str, Samples]:
    """Warm-up rounds, then `repeat` rounds each timing every page once, so a slow moment on the
    machine hits all pages alike."""
    samples = {p.key: Samples() for p in pages}
    for i in range(WARMUP):
        for page in pages:
            one(page, i, None)
    for i in range(repeat):
        for page in pages:
            one(page, WARMUP + i, samples[page.key])
    return samples


def _check(page: Page, url: str, status: int, body: bytes) -> None:
    if status != page.expect:
        raise SystemExit(f"{page.label}: {page.method} {url} answered {status}, expected {page.expect}:\n"
                         f"{body[:2000].decode(errors='replace')}")


# --- in-process (test client) ----------------------------------------------------------------------


class TestClient:
    """A signed-in test client that sends the CSRF token the way htmx does (X-CSRFToken)."""

    def __init__(self, app, email: str | None = None, password: str | None = None):
        self.client = app.test_client()
        self.token = None
        if email is None:
            return  # signed out, no cookie
        page = self.client.get("/login").get_data(as_text=True)
        response = self.client.post("/login", data={"email": email, "password": password,
                                                    "csrf_token": TOKEN.search(page).group(1)})
        if response.status_code != 302:
            raise SystemExit(f"sign-in failed: {response.status_code}")
        self.token = TOKEN.search(self.client.get("/leads/new").get_data(as_text=True)).group(1)

    def request(self, method: str, url: str, data: dict | None = None, htmx: bool = False):
        headers = {"HX-Request": "true"} if htmx else {}
        if method == "POST":
            headers["X-CSRFToken"] = self.token
            return self.client.post(url, data=data or {}, headers=headers)
        return self.client.get(url, headers=headers)

    def text(self, url: str) -> str:
        return self.client.get(url).get_data(as_text=True)


class InProcess:
    def __init__(self, app):
        from app.extensions import db
        from app.services.demo import DEMO_ADMIN
        with app.app_context():
            self.engine = db.engine
        self.counter = QueryCounter(self.engine)
        self.renders = RenderTimer(app)
        self.signed_in = TestClient(app, DEMO_ADMIN, PASSWORD)
        self.signed_out = TestClient(app)  # no cookie: the trivial redirect never touches the database

    def measure(self, pages: list[Page], ctx: Context, repeat: int) -> dict[str, Samples]:
        def one(page: Page, iteration: int, into: Samples | None):
            client = self.signed_out if page.key == "trivial" else self.signed_in
            url, data = ctx.request_for(page, iteration)
            self.counter.reset()
            self.renders.reset()
            started = time.perf_counter()
            response = client.request(page.method, url, data, htmx=page.htmx)
            body = response.get_data()
            elapsed = time.perf_counter() - started
            response.close()
            _check(page, url, response.status_code, body)
            if into is not None:
                into.seconds.append(elapsed)
                into.queries.append(self.counter.count)
                into.sql.append(self.counter.seconds)
                into.render.append(self.renders.seconds)
                into.size, into.url = len(body), url
        return interleaved(pages, repeat, one)


def _plan(conn, statement: str, params) -> list[str]:
    if conn.dialect.name == "postgresql":
        return [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)]
    return [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]


def explain(engine, client: TestClient, page: Page, ctx: Context, iteration: int, runs: int = 5) -> list[dict]:
    """Capture the statements of one request, then time each SELECT alone (execute + fetch all rows)."""
    captured = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if not executemany:
            captured.append((statement, parameters))

    url, data = ctx.request_for(page, iteration)
    event.listen(engine, "before_cursor_execute", grab)
    try:
        client.request(page.method, url, data, htmx=page.htmx)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    out = []
    with engine.connect() as conn:
        for statement, params in captured:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                out.append({"sql": statement, "params": repr(params), "ms": None, "rows": None, "plan": []})
                continue
            times, rows = [], 0
            for _ in range(runs):
                started = time.perf_counter()
                rows = len(conn.exec_driver_sql(statement, params).all())
                times.append(time.perf_counter() - started)
            out.append({"sql": statement, "params": repr(params), "ms": statistics.median(times) * 1000, "rows": rows,
                        "plan": _plan(conn, statement, params)})
        conn.rollback()
    return out


# --- over HTTP against gunicorn ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn with the production config module (app/gunicorn_conf.py) on a free loopback port."""

    def __init__(self, url: str, instance: Path, log: Path):
        self.port = free_port()
        self.log = log
        env = {**os.environ, "LEADBOARD_ENV": "production", "SECRET_KEY": SECRET_KEY, "DATABASE_URL": url,
               "BASE_URL": f"http://127.0.0.1:{self.port}", "LEADBOARD_INSTANCE": str(instance), "REDIS_URL": "",
               "PYTHONPATH": str(ROOT)}
        env.pop("GUNICORN_CMD_ARGS", None)
        self.out = open(log, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf", "--bind", f"127.0.0.1:{self.port}",
             "app:create_app()"], cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited before it answered:\n{log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/login")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"gunicorn did not answer within 60 s:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.out.close()


class HttpClient:
    """One kept-alive connection with a cookie jar, signed in through the login form like a browser."""

    def __init__(self, port: int, accept_encoding: str):
        self.port, self.accept_encoding = port, accept_encoding
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.connections = 0  # connections opened: 1 when keep-alive holds for the whole run
        self.token = None

    def request(self, method: str, url: str, data: dict | None = None, htmx: bool = False,
                encoding: str | None = None) -> tuple[int, bytes, http.client.HTTPResponse]:
        headers = {"Accept-Encoding": self.accept_encoding if encoding is None else encoding,
                   "Accept": "text/html,application/xhtml+xml"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if htmx:
            headers["HX-Request"] = "true"
        body = None
        if method == "POST":
            body = urlencode(data or {})
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            if self.token:
                headers["X-CSRFToken"] = self.token
        if self.conn.sock is None:
            self.connections += 1
        self.conn.request(method, url, body=body, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            pair, _, attributes = cookie.partition(";")
            name, _, value = pair.strip().partition("=")
            if "max-age=0" in attributes.lower() or "expires=thu, 01 jan 1970" in attributes.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response.status, payload, response

    def text(self, url: str) -> str:
        status, body, response = self.request("GET", url, encoding="gzip")
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body.decode()

    def sign_in(self, email: str, password: str) -> None:
        token = TOKEN.search(self.text("/login")).group(1)
        status, body, _ = self.request("POST", "/login", {"email": email, "password": password, "csrf_token": token})
        if status != 302:
            raise SystemExit(f"sign-in over HTTP failed: {status}\n{body[:1000]!r}")
        self.token = TOKEN.search(self.text("/leads/new")).group(1)

    def close(self) -> None:
        self.conn.close()


def measure_http(port: int, pages: list[Page], ctx: Context, repeat: int, accept_encoding: str) -> tuple[dict, dict]:
    from app.services.demo import DEMO_ADMIN
    signed_in = HttpClient(port, accept_encoding)
    signed_in.sign_in(DEMO_ADMIN, PASSWORD)
    signed_out = HttpClient(port, accept_encoding)
    before = signed_in.connections

    def one(page: Page, iteration: int, into: Samples | None):
        client = signed_out if page.key == "trivial" else signed_in
        url, data = ctx.request_for(page, iteration)
        started = time.perf_counter()
        status, body, _ = client.request(page.method, url, data, htmx=page.htmx)
        elapsed = time.perf_counter() - started
        _check(page, url, status, body)
        if into is not None:
            into.seconds.append(elapsed)
            into.size, into.url = len(body), url

    samples = interleaved([p for p in pages if p.http], repeat, one)
    info = {"connections_opened": signed_in.connections - before + signed_out.connections,
            "accept_encoding": accept_encoding}
    signed_in.close()
    signed_out.close()
    return samples, info


# --- Chromium -----------------------------------------------------------------------------------------

# Milliseconds from navigation start until the load event has ended and every `selector` match has
# its SortableJS instance (checked at once, else when a mutation makes it true).
READY_JS = """async (selector) => {
  const nav = performance.getEntriesByType("navigation")[0];
  while (!nav.loadEventEnd) await new Promise((r) => setTimeout(r, 0));
  const ready = () => {
    if (!selector) return true;
    const lists = document.querySelectorAll(selector);
    return lists.length > 0 && Array.from(lists).every((l) => l.dataset.sortable && window.Sortable && Sortable.get(l));
  };
  const out = {load: nav.loadEventEnd, dcl: nav.domContentLoadedEventEnd, response: nav.responseEnd};
  if (ready()) return {...out, interactive: nav.loadEventEnd};
  await new Promise((resolve, reject) => {
    const obs = new MutationObserver(() => { if (ready()) { obs.disconnect(); resolve(); } });
    obs.observe(document.documentElement, {attributes: true, childList: true, subtree: true});
    setTimeout(() => reject(new Error("not interactive within 10 s")), 10000);
  });
  return {...out, interactive: performance.now()};
}"""


def measure_browser(port: int, repeat: int, chromium: str) -> dict:
    from playwright.sync_api import sync_playwright
    from app.services.demo import DEMO_ADMIN
    base = f"http://127.0.0.1:{port}"
    out = {key: {"interactive_ms": [], "load_ms": [], "response_ms": [], "wall_ms": []} for key, _, _ in BROWSER_PAGES}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(base + "/login")
            page.get_by_label("Email").fill(DEMO_ADMIN)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda u: "/login" not in u)
            for i in range(WARMUP + repeat):
                for key, path, selector in BROWSER_PAGES:
                    started = time.perf_counter()
                    page.goto(base + path, wait_until="load")
                    timing = page.evaluate(READY_JS, selector)
                    wall = time.perf_counter() - started
                    if i >= WARMUP:
                        samples = out[key]
                        samples["interactive_ms"].append(timing["interactive"])
                        samples["load_ms"].append(timing["load"])
                        samples["response_ms"].append(timing["response"])
                        samples["wall_ms"].append(wall * 1000)
        finally:
            browser.close()
    return out


# --- reporting ----------------------------------------------------------------------------------


def _stats(samples: Samples, floor: Samples) -> dict:
    p, median = p95(samples.seconds), statistics.median(samples.seconds)
    out = {"median_ms": median * 1000, "p95_ms": p * 1000, "x_floor_p95": p / p95(floor.seconds),
           "x_floor_median": median / statistics.median(floor.seconds), "bytes": samples.size,
           "samples": len(samples.seconds), "url": samples.url, "seconds": samples.seconds}
    if samples.queries:
        out.update(queries=int(statistics.median(samples.queries)), sql_median_ms=statistics.median(samples.sql) * 1000,
                   render_median_ms=statistics.median(samples.render) * 1000)
    return out


def summarise(pages: list[Page], inproc: dict, http_samples: dict | None) -> list[dict]:
    rows = []
    for page in pages:
        row = {"key": page.key, "label": page.label, "reference": page.reference,
               "in_process": _stats(inproc[page.key], inproc["floor"])}
        if http_samples and page.key in http_samples:
            row["http"] = _stats(http_samples[page.key], http_samples["floor"])
            if not page.reference:
                row["http"]["meets_floor_aim"] = row["http"]["x_floor_p95"] <= AIM_FLOOR
        rows.append(row)
    return rows


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "**MISS**")


def size_table(rows: list[dict]) -> str:
    out = ["| page | in-process median ms | p95 ms | x floor (p95) | SQL queries | SQL ms | render ms | "
           f"HTTP median ms | HTTP p95 ms | HTTP x floor (p95) | HTTP bytes | ≤ {AIM_FLOOR:g}x floor |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for r in rows:
        i, h = r["in_process"], r.get("http")
        http_cells = (f"{h['median_ms']:.2f} | {h['p95_ms']:.2f} | {h['x_floor_p95']:.2f} | {h['bytes']:,} | "
                      f"{_verdict(h.get('meets_floor_aim'))}") if h else "| | | |"
        out.append(f"| {r['label']} | {i['median_ms']:.2f} | {i['p95_ms']:.2f} | {i['x_floor_p95']:.2f} | "
                   f"{i['queries']} | {i['sql_median_ms']:.2f} | {i['render_median_ms']:.2f} | {http_cells} |")
    return "\n".join(out)


def browser_summary(browser: dict) -> dict:
    floor, board = p95(browser["floor"]["interactive_ms"]), p95(browser["board"]["interactive_ms"])
    return {"floor_p95_ms": floor, "board_p95_ms": board, "floor_median_ms": statistics.median(browser["floor"]["interactive_ms"]),
            "board_median_ms": statistics.median(browser["board"]["interactive_ms"]),
            "ratio_p95": board / floor, "meets_aim": board / floor <= AIM_BROWSER,
            "samples": {k: v for k, v in browser.items()}}


def growth(runs: list[dict]) -> list[dict]:
    """Each page's floor ratio at every size, and the largest size's ratio over the smallest's."""
    if not runs:
        return []
    out = []
    for row in runs[0]["pages"]:
        if row["reference"]:
            continue
        entry = {"key": row["key"], "label": row["label"]}
        for mode in ("http", "in_process"):
            ratios = []
            for run in runs:
                match = next((r for r in run["pages"] if r["key"] == row["key"]), None)
                ratios.append(match[mode]["x_floor_p95"] if match and mode in match else None)
            entry[mode] = ratios
            if mode == "in_process":  # the machine's noise barely touches this one
                entry["sql_median_ms"] = [m[mode]["sql_median_ms"] if m else None for m in
                                          (next((r for r in run["pages"] if r["key"] == row["key"]), None)
                                           for run in runs)]
            if len(runs) > 1 and ratios[0] and ratios[-1]:
                entry[f"{mode}_growth"] = ratios[-1] / ratios[0]
                entry[f"{mode}_meets_growth_aim"] = ratios[-1] / ratios[0] <= AIM_GROWTH
        out.append(entry)
    return out


def growth_table(runs: list[dict], rows: list[dict]) -> str:
    sizes = [f"{run['leads']:,}" for run in runs]
    head = (["page"] + [f"HTTP x floor @{s}" for s in sizes] + ["HTTP largest ÷ smallest", f"≤ {AIM_GROWTH:g}x"]
            + [f"in-process x floor @{s}" for s in sizes] + ["in-process largest ÷ smallest", f"≤ {AIM_GROWTH:g}x"]
            + ["SQL ms (in-process median) " + " → ".join(sizes)])
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]

    def cells(entry, mode):
        ratios = [f"{x:.2f}" if x is not None else "" for x in entry[mode]]
        g = entry.get(f"{mode}_growth")
        return ratios + [f"{g:.2f}" if g is not None else "", _verdict(entry.get(f"{mode}_meets_growth_aim"))]

    for entry in rows:
        sql = " → ".join(f"{x:.1f}" if x is not None else "?" for x in entry["sql_median_ms"])
        out.append("| " + " | ".join([entry["label"]] + cells(entry, "http") + cells(entry, "in_process") + [sql]) + " |")
    return "\n".join(out)


def explain_report(pages: list[Page], explained: dict, threshold_ms: float = 0.5) -> str:
    out = ["## Query breakdown (--explain)", "",
           "Each SELECT of one request, re-run alone 5 times (execute + fetch all rows), median; "
           f"plans shown for those over {threshold_ms} ms.", ""]
    labels = {p.key: p.label for p in pages}
    for key, statements in explained.items():
        selects = [s for s in statements if s["ms"] is not None]
        total = sum(s["ms"] for s in selects)
        writes = len(statements) - len(selects)
        out.append(f"### {labels[key]}: {len(selects)} SELECTs, {total:.2f} ms alone"
                   + (f", plus {writes} writes" if writes else ""))
        out.append("")
        for s in sorted(selects, key=lambda s: -s["ms"]):
            first = " ".join(s["sql"].split())
            short = first if len(first) <= 160 else first[:157] + "..."
            out.append(f"- {s['ms']:.2f} ms, {s['rows']} rows: `{short}` {s['params']}")
            if s["ms"] >= threshold_ms:
                out.append("")
                out.append("  ```")
                out.extend("  " + line for line in s["plan"])
                out.append("  ```")
        out.append("")
    return "\n".join(out)


def _loadavg() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("sizes are whole numbers separated by commas, e.g. 10000,100000") from None
    if not sizes or any(s < 1 for s in sizes) or sizes != sorted(sizes):
        raise argparse.ArgumentTypeError("sizes must be positive and ascending, e.g. 10000,100000,1000000")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", type=_sizes, default=None,
                        help=f"lead counts to measure in turn, growing one database (default {DEFAULT_SIZES})")
    parser.add_argument("--leads", type=int, help="measure this one size (the same as --sizes N)")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page (after %d warm-ups)" % WARMUP)
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                        help="database to use (created if missing; its public schema is DROPPED). "
                             f"Default {DEFAULT_POSTGRES_URL}")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE after loading (to compare plans)")
    parser.add_argument("--explain", action="store_true",
                        help="at the largest size, re-run each page's SELECTs alone and print their times and plans")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (SQLite file) and print where it is")
    parser.add_argument("--sqlite-file", metavar="PATH", help="SQLite file to (re)create instead of a temp one")
    parser.add_argument("--reuse", action="store_true",
                        help="start from the database an earlier run loaded (--sqlite-file or --postgres-url), "
                             "growing it where a size asks for more leads")
    parser.add_argument("--no-http", action="store_true", help="measure in-process only (no gunicorn)")
    parser.add_argument("--browser", action="store_true", help="also time a board in Chromium against a floor page")
    parser.add_argument("--browser-repeat", type=int, default=20, help="timed page loads per page in Chromium")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
    parser.add_argument("--deep-hops", type=int, default=10, help="how often to follow the pool's Next link")
    parser.add_argument("--accept-encoding", default=BROWSER_ACCEPT_ENCODING,
                        help="Accept-Encoding sent over HTTP (default: Chromium's)")
    args = parser.parse_args(argv)
    if args.leads and args.sizes:
        parser.error("give --sizes or --leads, not both")
    sizes = [args.leads] if args.leads else (args.sizes or _sizes(DEFAULT_SIZES))

    workdir = Path(tempfile.mkdtemp(prefix="leadboard-bench-"))
    instance = workdir / "instance"
    if args.db == "postgresql":
        url = _normalise_pg(args.postgres_url)
    elif args.sqlite_file:
        url = f"sqlite:///{Path(args.sqlite_file).resolve()}"
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"
    where = url.split("@")[-1] if args.db == "postgresql" else url
    existing = bulk_lead_count(url) if args.reuse else None
    if args.reuse and existing is None:
        print("(--reuse: no loaded database found, loading one)", file=sys.stderr)
    if existing is None:
        if args.db == "postgresql":
            prepare_postgres(url)
        elif args.sqlite_file:
            for suffix in ("", "-wal", "-shm"):
                Path(args.sqlite_file + suffix).unlink(missing_ok=True)
    print(f"# Leadboard page benchmark: {args.db}, sizes {', '.join(f'{s:,}' for s in sizes)}, "
          f"{args.repeat} timed requests per page\n", flush=True)
    report = {"db": args.db, "sizes": sizes, "repeat": args.repeat, "warmup": WARMUP, "reused": existing is not None,
              "analyze": not args.no_analyze, "python": platform.python_version(), "cpus": os.cpu_count(),
              "aims": {"floor": AIM_FLOOR, "growth": AIM_GROWTH, "browser": AIM_BROWSER}, "runs": []}
    server = None
    try:
        app = make_app(url, instance)
        if existing is None:
            started = time.perf_counter()
            migrate(app)
            make_team(app)
            report["migrate_seconds"] = time.perf_counter() - started
            print(f"- schema: migrations applied to {where}, demo team and pipeline made, in "
                  f"{report['migrate_seconds']:.1f} s", flush=True)
        inproc = None
        for size in sizes:
            run = {"leads": size, "loadavg_start": _loadavg()}
            print(f"\n## {size:,} leads ({args.db})\n", flush=True)
            current = bulk_lead_count(url) or 0
            lead_id = history_lead(app)
            if current < size or lead_id is None:
                loaded = grow(app, url, max(0, size - current))
                r = loaded["rows"]
                print(f"- load: +{loaded['added_leads']:,} leads, {r['timeline_entries']:,} timeline entries, "
                      f"{r['notes']:,} notes, {r['appointments']:,} appointments, {r['notifications']:,} notifications "
                      f"= {loaded['rows_total']:,} rows in {loaded['seconds']:.1f} s "
                      f"({loaded['rows_per_second'] or 0:,.0f} rows/s"
                      + (f"; {loaded['indexes_rebuilt']} indexes dropped and rebuilt in {loaded['index_seconds']:.1f} s"
                         if loaded["indexes_rebuilt"] else "") + ")", flush=True)
                if lead_id is None:
                    started = time.perf_counter()
                    lead_id = lead_with_history(app)
                    extra = grow(app, url, 0, history_for=lead_id)
                    loaded["history_lead"] = {"id": lead_id, "seconds": time.perf_counter() - started,
                                              "rows": extra["rows"]}
                    print(f"- lead {lead_id}: {TIMELINE_ENTRIES} timeline entries through the services, plus "
                          f"{extra['rows_total']:,} bulk rows of history ({HISTORY_BULK['notes']:,} notes, "
                          f"{HISTORY_BULK['edits']:,} edits, {HISTORY_BULK['appointments']} appointments), in "
                          f"{loaded['history_lead']['seconds']:.1f} s", flush=True)
                run["load"] = loaded
                seconds = reconcile_totals(app)
                run["reconcile_seconds"] = seconds
                print(f"- board totals reconciled in {seconds:.1f} s" if seconds is not None
                      else "- board totals: no app.services.totals.reconcile yet (nothing to reconcile)", flush=True)
                if not args.no_analyze:
                    run["analyze_seconds"] = analyze(app)
                    what = "VACUUM ANALYZE" if args.db == "postgresql" else "ANALYZE"
                    print(f"- {what} in {run['analyze_seconds']:.1f} s", flush=True)
            else:
                print(f"- reusing {current:,} leads as loaded earlier", flush=True)
            run["leads_in_database"] = bulk_lead_count(url)
            if inproc is None:
                inproc = InProcess(app)
            ctx = Context(url, lead_id, args.deep_hops)
            ctx.find_deep_pool(inproc.signed_in.text)
            run["deep_pool"] = {"url": ctx.deep_pool_url, "hops": ctx.deep_hops}
            print(f"- deep pool page: {ctx.deep_hops} x Next -> {ctx.deep_pool_url}"
                  + ("" if ctx.deep_hops == args.deep_hops else " (no further Next link)"), flush=True)
            started, before = time.perf_counter(), _loadavg()
            samples_in = inproc.measure(PAGES, ctx, args.repeat)
            print(f"- in-process: {time.perf_counter() - started:.1f} s (load average {before} -> {_loadavg()})",
                  flush=True)
            samples_http = None
            if not args.no_http:
                server = Gunicorn(url, instance, workdir / "gunicorn.log")
                started, before = time.perf_counter(), _loadavg()
                samples_http, run["http_info"] = measure_http(server.port, PAGES, ctx, args.repeat, args.accept_encoding)
                print(f"- over HTTP (gunicorn -c python:app.gunicorn_conf, {run['http_info']['connections_opened']} "
                      f"connection(s) for {len(PAGES) * (args.repeat + WARMUP)} requests): "
                      f"{time.perf_counter() - started:.1f} s (load average {before} -> {_loadavg()})", flush=True)
                if args.browser:
                    started = time.perf_counter()
                    try:
                        run["browser"] = browser_summary(measure_browser(server.port, args.browser_repeat,
                                                                         args.chromium))
                    except Exception as exc:  # no Playwright or Chromium, or a page changed: say so, go on
                        run["browser_error"] = f"{type(exc).__name__}: {exc}"
                        print(f"- Chromium: not measured ({run['browser_error'][:300]})", flush=True)
                if "browser" in run:
                    b = run["browser"]
                    print(f"- Chromium, navigation to loaded and interactive ({args.browser_repeat} loads each, "
                          f"{time.perf_counter() - started:.1f} s): board p95 {b['board_p95_ms']:.1f} ms, floor page "
                          f"p95 {b['floor_p95_ms']:.1f} ms, ratio {b['ratio_p95']:.2f} "
                          f"(aim ≤ {AIM_BROWSER:g}x: {_verdict(b['meets_aim'])})", flush=True)
                server.stop()
                server = None
            run["pages"] = summarise(PAGES, samples_in, samples_http)
            run["loadavg_end"] = _loadavg()
            if args.explain and size == sizes[-1]:
                run["explain"] = {p.key: explain(inproc.engine, inproc.signed_in, p, ctx, 10_000)
                                  for p in PAGES if not p.reference}
            ctx.close()
            report["runs"].append(run)
            print(f"\n{size_table(run['pages'])}\n", flush=True)
            missed = [r["label"] for r in run["pages"] if r.get("http", {}).get("meets_floor_aim") is False]
            if not args.no_http:
                print(f"Over {AIM_FLOOR:g}x the floor over HTTP: " + (", ".join(missed) if missed else "none"),
                      flush=True)
            if args.json:  # after every size, so a long run leaves its figures behind
                Path(args.json).write_text(json.dumps(report, indent=2))
        report["growth"] = growth(report["runs"])
        if len(report["runs"]) > 1:
            print(f"\n## Growth: each page's p95 ÷ the floor's p95, largest size over smallest "
                  f"(aim ≤ {AIM_GROWTH:g}x)\n")
            print(growth_table(report["runs"], report["growth"]))
        browsers = [(run["leads"], run["browser"]) for run in report["runs"] if "browser" in run]
        if browsers:
            print(f"\nChromium, board ÷ floor page, p95 of navigation to loaded and interactive (aim ≤ {AIM_BROWSER:g}x): "
                  + ", ".join(f"{n:,} leads {b['ratio_p95']:.2f} {_verdict(b['meets_aim'])}" for n, b in browsers))
        last = report["runs"][-1] if report["runs"] else {}
        if last.get("explain"):
            print("\n" + explain_report(PAGES, last["explain"]))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
        from app.extensions import db
        with app.app_context():
            db.engine.dispose()
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"\n(kept {workdir}; database {where})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
