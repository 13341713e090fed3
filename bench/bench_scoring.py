"""Scoring benchmark: re-scoring every lead after a rule change, as the worker's job does it.

    python bench/bench_scoring.py --db sqlite|postgresql [--leads 100000] [--rules 30] [--batch 1000]
                                  [--postgres-url URL] [--json FILE]

Builds a fresh database with the migrations (PostgreSQL: the leadboard_scoring_bench database,
created if missing, its public schema dropped and recreated; SQLite: a file in a temporary
directory), loads --leads leads with a spread of fields, a resubmission entry on a tenth of them
and an appointment on a twentieth, and --rules scoring rules over many kinds of condition (free-mail,
text, number, date, list, stage reached, events, idle; a few with fading). Then it times
services.scoring.run_rescore() over the whole table, in the batches the job uses, twice: a first run
that changes every score (the rules are new) and a second that changes nothing (the same rules again,
what a rule edit that moves few leads costs). Prints leads per second and the process's peak
resident memory (ru_maxrss) before and after each run. Then it times capture_lead (one transaction
each) with the 30 rules off and on, in alternating rounds, and prints the ratio of medians.
See bench/README.md ("Scoring").
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/leadboard_scoring_bench"


def prepare_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if name == "test" or name.startswith("test_"):
        raise SystemExit("Refusing to drop a test database; pass another --postgres-url.")
    admin = create_engine(urlunsplit(parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def fresh_app(db: str, postgres_url: str):
    """An app on an empty, migrated database of the kind asked for (PostgreSQL at `postgres_url`,
    emptied first; SQLite in a temporary folder), and that folder, to keep until the run ends."""
    from flask_migrate import upgrade
    from app import create_app
    tmp = tempfile.TemporaryDirectory()
    if db == "postgresql":
        prepare_postgres(postgres_url)
        url = postgres_url
    else:
        url = f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": Path(tmp.name) / "instance",
                      "SECRET_KEY": "bench", "LEADBOARD_ENV": "testing", "REDIS_URL": ""})
    with app.app_context():
        upgrade()
    return app, tmp


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


RULES = [
    ("business email", {"field": "email", "op": "is_not_free_mail"}, 20, None),
    ("free-mail address", {"field": "email", "op": "is_free_mail"}, -5, None),
    ("has a company", {"field": "company", "op": "is_not_empty"}, 5, None),
    ("no phone", {"field": "phone", "op": "is_empty"}, -3, None),
    ("decision maker", {"field": "job_title", "op": "in_list", "value": "CEO, CTO, Founder, VP Sales"}, 15, None),
    ("manager", {"field": "job_title", "op": "contains", "value": "manager"}, 5, None),
    ("big deal", {"field": "value", "op": "gte", "value": "10000"}, 25, None),
    ("small deal", {"field": "value", "op": "lt", "value": "500"}, -5, None),
    ("from the website", {"field": "source", "op": "equals", "value": "Website"}, 5, None),
    ("from a partner", {"field": "source", "op": "in_list", "value": "Partner, Referral"}, 10, None),
    ("paid campaign", {"field": "utm_medium", "op": "equals", "value": "cpc"}, 3, None),
    ("spring campaign", {"field": "utm_campaign", "op": "contains", "value": "spring"}, 2, None),
    ("came from search", {"field": "referrer", "op": "contains", "value": "google"}, 2, None),
    ("new this month", {"field": "created_at", "op": "within_days", "value": "30"}, 5, None),
    ("old lead", {"field": "created_at", "op": "older_than_days", "value": "180"}, -5, None),
    ("captured before 2026", {"field": "created_at", "op": "before", "value": "2026-01-01"}, -2, None),
    ("qualified", {"field": "event.stage_reached", "op": "reached", "value": "Qualified"}, 20, None),
    ("appointment stage", {"field": "event.stage_reached", "op": "reached", "value": "Appointment set"}, 10, None),
    ("came back", {"field": "event.submitted_again", "op": "happened"}, 15, 30),
    ("came back lately", {"field": "event.submitted_again", "op": "happened_within_days", "value": "7"}, 5, None),
    ("appointment booked", {"field": "event.appointment_booked", "op": "happened"}, 15, 60),
    ("appointment confirmed", {"field": "event.appointment_confirmed", "op": "happened"}, 15, None),
    ("appointment cancelled", {"field": "event.appointment_cancelled", "op": "happened"}, -10, None),
    ("idle 14 days", {"field": "event.idle", "op": "at_least_days", "value": "14"}, -10, None),
    ("idle 60 days", {"field": "event.idle", "op": "at_least_days", "value": "60"}, -10, None),
    ("in the pool", {"field": "owner", "op": "is_empty"}, 0, None),
    ("named", {"field": "last_name", "op": "is_not_empty"}, 1, None),
    ("acme", {"field": "company", "op": "equals", "value": "Acme"}, 5, None),
    ("tagged vip", {"field": "tags", "op": "contains", "value": "vip"}, 10, None),
    ("won", {"field": "event.stage_reached", "op": "reached", "value": "Won"}, 5, None),
]


def load(app, leads: int, rules: int) -> None:
    from sqlalchemy import insert, select
    from app.extensions import db
    from app.models import Appointment, Lead, ScoringRule, Stage, TimelineEntry
    from app.services import atomic
    from app.services.stages import ensure_default_pipeline
    with app.app_context():
        ensure_default_pipeline()
        stage_ids = list(db.session.scalars(select(Stage.id).order_by(Stage.position)))
        now = datetime.utcnow()
        titles = ["CEO", "Sales Manager", "Engineer", "CTO", "", "Founder", "Office manager"]
        sources = ["Website", "Partner", "API", "Referral", "Trade show"]
        domains = ["gmail.com", "acme.example", "yahoo.com", "globex.example", "initech.example"]
        chunk = 5000
        for start in range(0, leads, chunk):
            rows = []
            for n in range(start, min(start + chunk, leads)):
                created = now - timedelta(days=n % 400, minutes=n % 1440)
                rows.append({
                    "first_name": f"Lead{n}", "last_name": "Bench" if n % 3 else "",
                    "email": f"lead{n}@{domains[n % 5]}", "phone": f"+1415555{n % 10000:04d}" if n % 2 else None,
                    "company": ["Acme", "Globex", None, "Initech"][n % 4], "job_title": titles[n % 7] or None,
                    "source": sources[n % 5], "value": (n % 50) * 500 if n % 3 else None,
                    "stage_id": stage_ids[n % len(stage_ids)], "position": n * 1024, "version": 1,
                    "created_at": created, "updated_at": created + timedelta(days=(n % 7)),
                    "stage_entered_at": created, "utm_medium": "cpc" if n % 4 == 0 else None,
                    "utm_campaign": "spring-launch" if n % 6 == 0 else None,
                    "referrer": "https://www.google.com/" if n % 5 == 0 else None, "score": 0, "score_reasons": [],
                })
            with atomic():
                db.session.execute(insert(Lead), rows)
        ids = list(db.session.scalars(select(Lead.id).order_by(Lead.id)))
        with atomic():
            entries = [{"lead_id": i, "kind": "resubmitted", "actor_id": None, "data": {"via": "form"},
                        "created_at": now - timedelta(days=k % 40)} for k, i in enumerate(ids[::10])]
            for s in range(0, len(entries), chunk):
                db.session.execute(insert(TimelineEntry), entries[s:s + chunk])
            statuses = ["awaiting", "confirmed", "cancelled"]
            appts = [{"lead_id": i, "uid": f"bench-{i}@leadboard", "sequence": 0, "starts_at": now + timedelta(days=3),
                      "duration_minutes": 30, "location": "", "note": "", "timezone": "UTC",
                      "status": statuses[k % 3], "created_at": now - timedelta(days=k % 90),
                      "updated_at": now - timedelta(days=k % 30)} for k, i in enumerate(ids[::20])]
            for s in range(0, len(appts), chunk):
                db.session.execute(insert(Appointment), appts[s:s + chunk])
        with atomic():
            known_stages = {s.name: s.id for s in db.session.scalars(select(Stage))}
            for position, (label, cond, points, fade) in enumerate((RULES * 10)[:rules], start=1):
                cond = dict(cond)
                if cond["field"] == "event.stage_reached":
                    cond["value"] = known_stages[cond["value"]]
                db.session.add(ScoringRule(position=position, label=label, condition=cond, points=points or 1,
                                           fade_days=fade, enabled=True, created_at=now, updated_at=now))
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        db.session.remove()


def timed_run(app, batch: int) -> dict:
    from app.extensions import db
    from app.services import atomic, scoring
    with app.app_context():
        with atomic():
            run = scoring._new_run(datetime.utcnow())  # what a rule change does
        before = peak_mib()
        started = time.perf_counter()
        done = scoring.run_rescore(run.id, batch=batch)
        seconds = time.perf_counter() - started
        result = {"leads": done.done, "seconds": round(seconds, 2), "leads_per_second": round(done.done / seconds),
                  "peak_rss_mib_before": round(before, 1), "peak_rss_mib_after": round(peak_mib(), 1)}
        db.session.remove()
    return result


def capture_ratio(app, count: int) -> dict:
    """Capture latency (capture_lead, one transaction each, as the API and form do) with the rules
    turned off and on, alternating in rounds so that a busy machine slows both alike."""
    import statistics
    from sqlalchemy import update
    from app.extensions import db
    from app.models import ScoringRule
    from app.services import atomic
    from app.services.capture import capture_lead
    samples = {"no rules": [], "30 rules": []}
    with app.app_context():
        for round_ in range(count // 25):
            for label, enabled in (("no rules", False), ("30 rules", True)):
                with atomic():
                    db.session.execute(update(ScoringRule).values(enabled=enabled))
                for n in range(25):
                    started = time.perf_counter()
                    capture_lead({"first_name": "Cap", "email": f"cap-{label[:2]}-{round_}-{n}@acme.example",
                                  "company": "Acme", "job_title": "CEO"}, via="api")
                    samples[label].append((time.perf_counter() - started) * 1000)
        db.session.remove()
    result = {label: {"median_ms": round(statistics.median(v), 2),
                      "p95_ms": round(statistics.quantiles(v, n=20)[18], 2)} for label, v in samples.items()}
    result["ratio_median"] = round(result["30 rules"]["median_ms"] / result["no rules"]["median_ms"], 2)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--captures", type=int, default=500, help="captures timed with and without rules (0: skip)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    app, tmp = fresh_app(args.db, args.postgres_url)
    started = time.perf_counter()
    load(app, args.leads, args.rules)
    print(f"loaded {args.leads:,} leads and {args.rules} rules in {time.perf_counter() - started:.1f}s "
          f"({args.db}, {platform.python_version()})")
    results = {"db": args.db, "leads": args.leads, "rules": args.rules, "batch": args.batch}
    for name in ("first run (every score changes)", "second run (no score changes)"):
        result = timed_run(app, args.batch)
        results[name] = result
        print(f"{name}: {result['leads']:,} leads in {result['seconds']}s = {result['leads_per_second']:,} leads/s; "
              f"peak RSS {result['peak_rss_mib_before']} MiB before, {result['peak_rss_mib_after']} MiB after")
    if args.captures:
        result = capture_ratio(app, args.captures)
        results["capture"] = result
        print(f"capture_lead with 30 rules vs none: median {result['30 rules']['median_ms']} ms vs "
              f"{result['no rules']['median_ms']} ms = {result['ratio_median']}x "
              f"(p95 {result['30 rules']['p95_ms']} vs {result['no rules']['p95_ms']} ms)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
