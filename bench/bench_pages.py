"""Page benchmark: 100,000 leads, server time of the heavy pages beside a trivial endpoint.

    python bench/bench_pages.py --db sqlite|postgresql [--leads 100000] [--repeat 30]
                                [--postgres-url URL] [--sqlite-file PATH] [--reuse]
                                [--explain] [--json FILE] [--no-analyze] [--keep]

Builds the schema through the migrations, bulk-loads the demo data (app.services.demo.seed),
runs ANALYZE, signs in through /login with a test client and times each page in-process with
time.perf_counter(), interleaved with a trivial endpoint of the same app. The figure that matters
is each page's median over the trivial endpoint's median (aim: within 10x). See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, text  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench"
PASSWORD = "bench password that is long enough"
AIM = 10.0
WARMUP = 3
TIMELINE_ENTRIES = 200
TIMELINE_EMAIL = "tina@history.example"
REFERENCES = ("trivial", "static", "healthz", "floor")


# --- database setup ---------------------------------------------------------------------------


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
    if dbname == "test":
        raise SystemExit("refusing to wipe the database 'test' (the test suite's); use .../bench")
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
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench-secret",
                       "LEADBOARD_ENV": "testing", "RATELIMIT_ENABLED": False})


def migrate(app) -> None:
    from flask_migrate import upgrade
    with app.app_context():
        upgrade()


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


def load(app, leads: int) -> dict:
    """Bulk-load the demo team, pipeline and `leads` leads; return row counts and timings."""
    from app.extensions import db
    from app.services.demo import seed
    with app.app_context():
        started = time.perf_counter()
        seed(leads=leads, admin_password=PASSWORD)
        seconds = time.perf_counter() - started
        counts = {table: db.session.scalar(text(f"SELECT count(*) FROM {table}"))
                  for table in ("leads", "timeline_entries", "notes")}
    rows = sum(counts.values())
    return {"seconds": seconds, "rows": counts, "rows_total": rows, "rows_per_second": rows / seconds,
            "leads_per_second": counts["leads"] / seconds}


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


def existing_leads(url: str) -> int | None:
    """How many leads an earlier run left in this database, or None if it holds no loaded schema."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            count = conn.scalar(text("SELECT count(*) FROM leads"))
            marked = conn.scalar(text("SELECT count(*) FROM leads WHERE email = :e"), {"e": TIMELINE_EMAIL})
        return count if count and marked else None
    except Exception:  # no such database or table: nothing to reuse
        return None
    finally:
        engine.dispose()


def timeline_lead(app) -> int:
    from app.extensions import db
    with app.app_context():
        return db.session.scalar(text("SELECT id FROM leads WHERE email = :e"), {"e": TIMELINE_EMAIL})


# --- measuring --------------------------------------------------------------------------------


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


@dataclass
class Probe:
    key: str
    label: str
    method: str
    url: str
    expect: int
    prepare: object = None  # callable(iteration) -> (url, data) for requests that change per iteration
    htmx: bool = False
    samples: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    render: list[float] = field(default_factory=list)
    size: int = 0


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


class Client:
    """A signed-in test client that sends the CSRF token the way htmx does (X-CSRFToken)."""

    TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

    def __init__(self, app, email: str | None = None, password: str | None = None):
        self.client = app.test_client()
        self.token = None
        if email is None:
            return  # signed out, no cookie
        page = self.client.get("/login").get_data(as_text=True)
        response = self.client.post("/login", data={"email": email, "password": password,
                                                    "csrf_token": self.TOKEN.search(page).group(1)})
        if response.status_code != 302:
            raise SystemExit(f"sign-in failed: {response.status_code}")
        page = self.client.get("/leads/new").get_data(as_text=True)
        self.token = self.TOKEN.search(page).group(1)

    def request(self, method: str, url: str, data: dict | None = None, htmx: bool = False):
        headers = {"HX-Request": "true"} if htmx else {}
        if method == "POST":
            headers["X-CSRFToken"] = self.token
            return self.client.post(url, data=data or {}, headers=headers)
        return self.client.get(url, headers=headers)


def build_probes(app, url: str, lead_id: int) -> tuple[list[Probe], dict]:
    """The pages to time, the trivial endpoints beside them, and the move's card supply."""
    helper = create_engine(url)
    with helper.connect() as conn:
        stages = [dict(r._mapping) for r in conn.execute(text("SELECT id, name FROM stages ORDER BY position, id"))]
        first = stages[0]["id"]
        pool = conn.scalar(text("SELECT count(*) FROM leads WHERE stage_id = :s AND owner_id IS NULL"), {"s": first})
    stage_ids = [s["id"] for s in stages]

    # The card move: each iteration moves a different card (drawn from the top of the 'Contacted'
    # column, or any lead) to the top of the next stage, with the version read from the database
    # just before the request (outside the timed part), as the board would have drawn it.
    state = {"cards": []}

    def prepare_move(iteration: int):
        with helper.connect() as conn:
            if not state["cards"]:
                state["cards"] = [r.id for r in conn.execute(text(
                    "SELECT id FROM leads WHERE stage_id = :s ORDER BY position, id LIMIT 500"), {"s": stage_ids[1]})]
            card = state["cards"].pop()
            row = conn.execute(text("SELECT stage_id, version FROM leads WHERE id = :id"), {"id": card}).one()
        target = stage_ids[(stage_ids.index(row.stage_id) + 1) % len(stage_ids)]
        return "/board/move", {"lead_id": card, "stage_id": target, "after_id": "", "version": row.version,
                               "from_stage_id": row.stage_id, "owner": "", "shown": 20}

    probes = [
        Probe("trivial", "trivial: GET / signed out (302 to /login)", "GET", "/", 302),
        Probe("static", "reference: GET /static/app.css", "GET", "/static/app.css", 200),
        Probe("healthz", "reference: GET /healthz (SELECT 1)", "GET", "/healthz", 200),
        Probe("floor", "reference: GET /leads/0 signed in (404 page: session check, 1 query, layout)", "GET",
              "/leads/0", 404),
        Probe("board", "board", "GET", "/board", 200),
        Probe("pool_filtered", f"pool: stage {stages[0]['name']}, no owner, by value asc ({pool:,} matches)", "GET",
              f"/leads?stage={first}&owner=none&sort=value&dir=asc", 200),
        Probe("pool_last", "pool: last page (default sort, keyset from the end)", "GET", "/leads?last=1", 200),
        Probe("move", "card move (htmx POST /board/move)", "POST", "/board/move", 200, prepare=prepare_move,
              htmx=True),
        Probe("lead_page", f"lead page, {TIMELINE_ENTRIES} timeline entries", "GET", f"/leads/{lead_id}", 200),
    ]
    return probes, {"helper": helper, "stages": stages}


def _plan(conn, statement: str, params) -> list[str]:
    if conn.dialect.name == "postgresql":
        return [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)]
    return [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]


def explain(engine, client, probe: Probe, iteration: int, runs: int = 5) -> list[dict]:
    """Capture the statements of one request, then time each SELECT alone (execute + fetch all rows)."""
    captured = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if not executemany:
            captured.append((statement, parameters))

    request_url, data = probe.url, None
    if probe.prepare is not None:
        request_url, data = probe.prepare(iteration)
    event.listen(engine, "before_cursor_execute", grab)
    try:
        client.request(probe.method, request_url, data, htmx=probe.htmx)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    out = []
    with engine.connect() as conn:
        for statement, params in captured:
            if not statement.lstrip().upper().startswith("SELECT"):
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


def measure(app, url: str, lead_id: int, repeat: int, with_explain: bool = False) -> tuple[list[Probe], dict]:
    from app.extensions import db
    from app.services.demo import DEMO_ADMIN
    with app.app_context():
        engine = db.engine
    counter = QueryCounter(engine)
    renders = RenderTimer(app)
    signed_in = Client(app, DEMO_ADMIN, PASSWORD)
    signed_out = Client(app)  # no cookie at all: the trivial redirect never touches the database
    probes, extra = build_probes(app, url, lead_id)

    def one(probe: Probe, iteration: int, record: bool):
        client = signed_out if probe.key == "trivial" else signed_in
        request_url, data = probe.url, None
        if probe.prepare is not None:
            request_url, data = probe.prepare(iteration)
        counter.reset()
        renders.reset()
        started = time.perf_counter()
        response = client.request(probe.method, request_url, data, htmx=probe.htmx)
        body = response.get_data()
        elapsed = time.perf_counter() - started
        response.close()
        if response.status_code != probe.expect:
            raise SystemExit(f"{probe.label}: {probe.method} {request_url} answered {response.status_code}, "
                             f"expected {probe.expect}:\n{body[:2000].decode(errors='replace')}")
        if record:
            probe.samples.append(elapsed)
            probe.queries.append(counter.count)
            probe.sql.append(counter.seconds)
            probe.render.append(renders.seconds)
            probe.size = len(body)

    for i in range(WARMUP):
        for probe in probes:
            one(probe, i, record=False)
    # Interleaved: every round times every endpoint once, so drift on the machine hits them all alike.
    for i in range(repeat):
        for probe in probes:
            one(probe, WARMUP + i, record=True)
    explained = {}
    if with_explain:
        for probe in probes:
            if probe.key not in REFERENCES:
                explained[probe.key] = explain(engine, signed_in, probe, WARMUP + repeat)
    extra["helper"].dispose()
    return probes, explained


# --- reporting --------------------------------------------------------------------------------


def summarise(probes: list[Probe]) -> list[dict]:
    trivial = next(p for p in probes if p.key == "trivial")
    base_median, base_p95 = statistics.median(trivial.samples), p95(trivial.samples)
    floor = statistics.median(next(p for p in probes if p.key == "floor").samples)
    rows = []
    for p in probes:
        median = statistics.median(p.samples)
        rows.append({
            "key": p.key, "label": p.label, "request": f"{p.method} {p.url}",
            "median_ms": median * 1000, "p95_ms": p95(p.samples) * 1000,
            "ratio_median": median / base_median, "ratio_p95": p95(p.samples) / base_p95,
            "ratio_floor": median / floor,
            "queries": int(statistics.median(p.queries)), "sql_median_ms": statistics.median(p.sql) * 1000,
            "render_median_ms": statistics.median(p.render) * 1000,
            "bytes": p.size, "samples": len(p.samples),
            "meets_aim": None if p.key in REFERENCES else median / base_median <= AIM,
        })
    return rows


def table(rows: list[dict]) -> str:
    out = ["| endpoint | median ms | p95 ms | x trivial (median) | x trivial (p95) | x signed-in floor | SQL queries | "
           "SQL execute ms | render ms | response bytes | within 10x |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for r in rows:
        aim = "" if r["meets_aim"] is None else ("yes" if r["meets_aim"] else "**no**")
        out.append(f"| {r['label']} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['ratio_median']:.1f} | "
                   f"{r['ratio_p95']:.1f} | {r['ratio_floor']:.1f} | {r['queries']} | {r['sql_median_ms']:.2f} | {r['render_median_ms']:.2f} | "
                   f"{r['bytes']:,} | {aim} |")
    return "\n".join(out)


def explain_report(probes: list[Probe], explained: dict, threshold_ms: float = 0.5) -> str:
    out = ["## Query breakdown (--explain)", "",
           "Each SELECT of one request, re-run alone 5 times (execute + fetch all rows), median; "
           f"plans shown for those over {threshold_ms} ms.", ""]
    labels = {p.key: p.label for p in probes}
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per endpoint (after %d warm-ups)" % WARMUP)
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
                        help="database to use (created if missing; its public schema is DROPPED). "
                             f"Default {DEFAULT_POSTGRES_URL}")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE after loading (to compare plans)")
    parser.add_argument("--explain", action="store_true",
                        help="after timing, re-run each page's SELECTs alone and print their times and plans")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (SQLite file) and print where it is")
    parser.add_argument("--sqlite-file", metavar="PATH", help="SQLite file to (re)create instead of a temp one")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the database an earlier run loaded (--sqlite-file or --postgres-url) "
                             "instead of rebuilding it; loads one if there is none")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="leadboard-bench-"))
    instance = workdir / "instance"
    if args.db == "postgresql":
        url = _normalise_pg(args.postgres_url)
    elif args.sqlite_file:
        url = f"sqlite:///{Path(args.sqlite_file).resolve()}"
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"
    where = url.split("@")[-1] if args.db == "postgresql" else url
    reuse = args.reuse and existing_leads(url) is not None
    if args.reuse and not reuse:
        print("(--reuse: no loaded database found, loading one)", file=sys.stderr)
    if args.db == "postgresql" and not reuse:
        prepare_postgres(url)
    elif args.db == "sqlite" and args.sqlite_file and not reuse:
        Path(args.sqlite_file).unlink(missing_ok=True)
    print(f"# Leadboard page benchmark: {args.db}, {args.leads:,} leads, {args.repeat} timed requests each\n",
          flush=True)
    migrate_seconds = analyze_seconds = loaded = None
    try:
        app = make_app(url, instance)
        if reuse:
            print(f"- reusing {where} as loaded by an earlier run ({existing_leads(url):,} leads, not reloaded)",
                  flush=True)
            lead_id = timeline_lead(app)
        else:
            started = time.perf_counter()
            migrate(app)
            migrate_seconds = time.perf_counter() - started
            print(f"- schema: migrations applied to {where} in {migrate_seconds:.1f} s", flush=True)
            loaded = load(app, args.leads)
            r = loaded["rows"]
            print(f"- load: {r['leads']:,} leads + {r['timeline_entries']:,} timeline entries + {r['notes']:,} notes "
                  f"= {loaded['rows_total']:,} rows in {loaded['seconds']:.1f} s "
                  f"({loaded['rows_per_second']:,.0f} rows/s, {loaded['leads_per_second']:,.0f} leads/s)", flush=True)
        if not args.no_analyze:
            analyze_seconds = analyze(app)
            what = "VACUUM ANALYZE" if args.db == "postgresql" else "ANALYZE"
            print(f"- {what} in {analyze_seconds:.1f} s", flush=True)
        else:
            print("- no ANALYZE (--no-analyze)", flush=True)
        if not reuse:
            started = time.perf_counter()
            lead_id = lead_with_history(app)
            print(f"- lead {lead_id}: {TIMELINE_ENTRIES} timeline entries (notes, edits, moves via the services) in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
        started, load_before = time.perf_counter(), _loadavg()
        probes, explained = measure(app, url, lead_id, args.repeat, args.explain)
        load_after = _loadavg()
        print(f"- measured in {time.perf_counter() - started:.1f} s ({WARMUP} warm-up rounds, then {args.repeat} "
              f"interleaved rounds; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
              f"1-min load average {load_before} before, {load_after} after)\n", flush=True)
        rows = summarise(probes)
        print(table(rows))
        missed = [r["label"] for r in rows if r["meets_aim"] is False]
        print("\nMisses the 10x aim: " + (", ".join(missed) if missed else "none"))
        if explained:
            print("\n" + explain_report(probes, explained))
        if args.json:
            Path(args.json).write_text(json.dumps({
                "db": args.db, "leads": args.leads, "repeat": args.repeat, "warmup": WARMUP,
                "reused": reuse, "analyze": not args.no_analyze, "analyze_seconds": analyze_seconds,
                "migrate_seconds": migrate_seconds, "load": loaded, "lead_with_timeline": lead_id,
                "python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_before": load_before,
                "loadavg_after": load_after, "results": rows, "explain": explained,
            }, indent=2))
        from app.extensions import db
        with app.app_context():
            db.engine.dispose()
    finally:
        if args.keep:
            print(f"\n(kept {workdir}; database {where})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
