"""Reports benchmark: every report at 100,000 leads and 1,000,000 timeline entries.

    python bench/bench_reports.py --db sqlite|postgresql [--leads 100000] [--timeline 1000000] [--repeat 20]
                                  [--postgres-url URL] [--sqlite-file PATH] [--reuse]

Builds the schema through the migrations, the default pipeline (with stage probabilities), an admin
and four members, then `--leads` leads (demo.bulk_leads), and fills in with one set-based statement
each what the reports read: first responses (time, by whom, SLA due), UTM campaigns, expected close
days, lost reasons, logged calls for half the leads, done tasks for a third, sequence enrolments for a
quarter, and timeline entries up to `--timeline`. It then times, in-process (Flask test client,
signed in as the admin, 3 warm-ups), every report page with its default range (the last 90 days,
which holds every loaded lead; the forecast: the next six months), a few filtered ones and a CSV,
and reports each p95 as a ratio to the trivial endpoint (GET /healthz, SELECT 1) measured in the
same run. Smaller sizes (--leads 10000 --timeline 100000) run in a minute. See bench/README.md.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.timing import sign_in, time_requests  # noqa: E402

PASSWORD = "bench password that is long enough"
AIM = 10.0  # issue 16: a report's p95 within 10x the trivial endpoint's
PROBABILITIES = {"New": 10, "Contacted": 20, "Qualified": 40, "Appointment set": 60}


def build(url: str, leads: int, timeline: int) -> None:
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Sequence, Stage, User
    from app.services import atomic, closing, demo, utcnow
    from app.services.auth import hash_password
    from app.services.stages import ensure_default_pipeline
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "LEADBOARD_ENV": "testing",
                      "INSTANCE_PATH": tempfile.mkdtemp()})
    with app.app_context():
        upgrade()
        pg = db.engine.dialect.name == "postgresql"
        stages = ensure_default_pipeline()
        with atomic():
            db.session.add(User(email="bench@example.com", name="Bench Admin", role="admin",
                                password_hash=hash_password(PASSWORD)))
            for n in range(4):
                db.session.add(User(email=f"member{n}@example.com", name=f"Member {n}", role="member",
                                    password_hash=hash_password(PASSWORD)))
            for stage in stages:
                stage.probability = PROBABILITIES.get(stage.name)
        owner_ids = list(db.session.scalars(db.select(User.id)))
        started = time.perf_counter()
        demo.bulk_leads(leads, owner_ids, stages, notes=False)
        print(f"loaded {leads:,} leads in {time.perf_counter() - started:.1f} s", flush=True)

        started = time.perf_counter()
        lost = next(s.id for s in stages if s.kind == "lost")
        reasons = [closing.add_reason(name).id for name in ("Budget", "Timing", "Competitor", "No answer", "Fit")]
        with atomic():
            sequences = [Sequence(name=f"Nurture {n}", status="active", created_at=utcnow(), updated_at=utcnow())
                         for n in range(3)]
            db.session.add_all(sequences)
            db.session.flush()
            first_sequence = sequences[0].id
            run = lambda sql, **p: db.session.execute(text(sql), p)  # noqa: E731
            plus_days = "(created_at + (id % 150) * INTERVAL '1 day')::date" if pg else \
                "date(created_at, '+' || (id % 150) || ' days')"
            run("UPDATE leads SET first_response_seconds = (id * 7919) % 5400, first_response_by_id = owner_id, "
                "sla_due_at = CASE WHEN id % 2 = 0 THEN first_response_at ELSE created_at END "
                "WHERE first_response_at IS NOT NULL")
            run(f"UPDATE leads SET utm_campaign = 'campaign-' || (id % 40), expected_close_on = "
                f"CASE WHEN closed_on IS NULL AND id % 5 <> 0 THEN {plus_days} END")
            run("UPDATE leads SET lost_reason_id = CASE id % 5 WHEN 0 THEN :r0 WHEN 1 THEN :r1 WHEN 2 THEN :r2 "
                "WHEN 3 THEN :r3 ELSE NULL END WHERE stage_id = :lost",
                **{f"r{i}": r for i, r in enumerate(reasons[:4])}, lost=lost)
            run("INSERT INTO activities (lead_id, user_id, kind, note, created_at) "
                "SELECT id, owner_id, 'call', '', created_at FROM leads WHERE owner_id IS NOT NULL AND id % 2 = 0")
            run("INSERT INTO tasks (lead_id, kind, title, due_at, owner_id, note, done_at, done_by_id, snoozed, created_at) "
                "SELECT id, 'call', 'Call back', created_at, owner_id, '', updated_at, owner_id, 0, created_at "
                "FROM leads WHERE owner_id IS NOT NULL AND id % 3 = 0")
            run("INSERT INTO sequence_enrolments (sequence_id, lead_id, status, enrolled_at, how, ended_at, stop_reason, sent) "
                "SELECT :first + id % 3, id, CASE id % 3 WHEN 0 THEN 'active' WHEN 1 THEN 'finished' ELSE 'stopped' END, "
                "created_at, 'bulk', CASE WHEN id % 3 = 0 THEN NULL ELSE updated_at END, "
                "CASE WHEN id % 3 = 2 THEN 'replied' END, id % 4 FROM leads WHERE id % 4 = 0", first=first_sequence)
            have = db.session.scalar(text("SELECT count(*) FROM timeline_entries"))
            need = max(0, timeline - have)
            if need:
                per_lead = math.ceil(need / max(leads, 1))
                series = ("SELECT generate_series(0, :n - 1) AS n" if pg else
                          "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < :n) SELECT n FROM s")
                run("INSERT INTO timeline_entries (lead_id, actor_id, kind, data, created_at) "
                    f"SELECT l.id, l.owner_id, 'call_logged', '{{}}', l.updated_at FROM leads l CROSS JOIN ({series}) s "
                    "LIMIT :need", n=per_lead, need=need)
        print(f"filled in the reports' data and timeline in {time.perf_counter() - started:.1f} s", flush=True)
        if pg:  # VACUUM too: an index-only scan needs the visibility map a fresh bulk load lacks
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with atomic():
                db.session.execute(text("ANALYZE"))
        db.engine.dispose()


def run(url: str, repeat: int, redis_url: str) -> list[tuple]:
    """Each report twice: computed on every request (REPORT_CACHE_SECONDS=0, a first look), and kept
    (in Redis, as a second look within REPORT_CACHE_SECONDS reads it). Both columns' ratios are to
    /healthz of the app without Redis (a SELECT 1 alone; with Redis it pings Redis too)."""
    from redis import Redis, RedisError

    from app import create_app
    from app.extensions import db
    from app.reports.routes import REPORTS
    from app.services import report_cache
    try:
        Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except RedisError:
        print(f"Redis does not answer at {redis_url}: timing computed figures only")
        redis_url = ""
    apps = {mode: create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "LEADBOARD_ENV": "testing",
                              "INSTANCE_PATH": tempfile.mkdtemp(), "RATELIMIT_ENABLED": False,
                              "REDIS_URL": redis_url if mode == "kept" else "",
                              "REPORT_CACHE_SECONDS": 600 if mode == "kept" else 0})
            for mode in (("computed", "kept") if redis_url else ("computed",))}
    with apps["computed"].app_context():
        counts = {t: db.session.scalar(text(f"SELECT count(*) FROM {t}"))
                  for t in ("leads", "timeline_entries", "activities", "tasks", "sequence_enrolments")}
        member = db.session.scalar(text("SELECT id FROM users WHERE role = 'member' ORDER BY id LIMIT 1"))
        dialect = db.engine.dialect.name
    if redis_url:
        connection = Redis.from_url(redis_url)
        for key in connection.scan_iter(report_cache.PREFIX + "*"):
            connection.delete(key)
    timed = [("trivial", "reference: GET /healthz (SELECT 1)", "/healthz"),
             ("floor", "reference: signed-in floor, /leads/0 (404)", "/leads/0")]
    timed += [(slug, f"report: {r.title}", f"/reports/{slug}") for slug, r in REPORTS.items()]
    timed += [("f-owner", "report: Funnel, one owner", f"/reports/funnel?owner={member}"),
              ("f-source", "report: Speed to lead by member, one source", "/reports/speed-member?source=Referral"),
              ("a-owner", "report: Team activity, one member", f"/reports/activity?owner={member}"),
              ("csv", "CSV: Conversion by campaign", "/reports/conversion-campaign/csv")]
    results: dict[str, dict] = {}
    for mode, app in apps.items():
        with app.app_context():
            client = app.test_client()
            sign_in(client, "bench@example.com", PASSWORD)
            for key, label, path in timed:
                p50, p95, _ = time_requests(client, path, repeat, 404 if key == "floor" else 200)
                results.setdefault(key, {"label": label})[mode] = (p50, p95)
            db.engine.dispose()
    print(f"\n{dialect}: {counts['leads']:,} leads, {counts['timeline_entries']:,} timeline entries, "
          f"{counts['activities']:,} activities, {counts['tasks']:,} tasks, {counts['sequence_enrolments']:,} "
          f"enrolments; {repeat} requests each, in-process\n")
    print(f"{'request':<48} {'computed p50/p95 ms':>20} {'x':>6}   {'kept p50/p95 ms':>16} {'x':>6}")
    rows = []
    for key, result in results.items():
        line = f"{result['label'][:48]:<48}"
        for mode in apps:
            p50, p95 = result[mode]
            ratio = p95 / results["trivial"]["computed"][1]  # /healthz without Redis: SELECT 1 alone
            flag = "*" if key not in ("trivial", "floor") and ratio > AIM else " "
            line += f" {p50:9.1f} /{p95:8.1f} {ratio:6.1f}{flag}  "
        print(line)
        rows.append((key, result))
    print(f"\n* over the aim of {AIM:.0f}x the trivial endpoint's p95")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--timeline", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres-url", default=os.environ.get(
        "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports"))
    parser.add_argument("--sqlite-file", default="")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
                        help="where kept figures live for the second timing (its report keys are cleared)")
    parser.add_argument("--reuse", action="store_true", help="time the database an earlier run left")
    args = parser.parse_args()
    if args.db == "postgresql":
        url = args.postgres_url
        name = url.rsplit("/", 1)[-1]
        if name == "test" or name.startswith("test_"):
            raise SystemExit("refusing to drop the schema of a test database")
    else:
        path = args.sqlite_file or os.path.join(tempfile.mkdtemp(), "bench_reports.db")
        if not args.reuse and os.path.exists(path):
            os.remove(path)
        url = f"sqlite:///{path}"
    if not args.reuse:
        build(url, args.leads, args.timeline)
    run(url, args.repeat, args.redis_url)


if __name__ == "__main__":
    main()
