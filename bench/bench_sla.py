"""SLA and task sweep benchmark: the worker's escalation sweep (services/sla.escalate_due) and the
due-task reminder sweep (services/tasks.remind_due) over many open leads and tasks, of which a few
are due.

    python bench/bench_sla.py --db sqlite|postgresql [--leads 100000] [--tasks 50000]
                              [--postgres-url URL] [--json FILE]

Builds a fresh database with the migrations (PostgreSQL: the leadboard_sla_bench database, its
public schema dropped and recreated; SQLite: a temporary file). Loads a fifth of the leads and
tasks, every lead with a running first-response clock due in the future and every task due later,
then times one sweep (both sweeps, as worker.py's HOUSEKEEPING runs them) with 0, 100 and 1,000
leads and tasks made due; loads the rest and times the same again. Each figure is the median of
--rounds sweeps (the due items are made due again before each), and is given as a ratio to the
median of a trivial query (SELECT 1) timed in the same run, so figures from different machines
compare. The sweep should cost about the same at 20% and 100% of the table for the same number of
due items, and grow with the due items. See bench/README.md ("SLA and task sweeps").
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/leadboard_sla_bench"
NOW = datetime(2026, 12, 3, 12, 0)
DUE_COUNTS = (0, 100, 1000)


def load(app, first_lead: int, leads: int, first_task: int, tasks: int) -> None:
    """Open leads with a clock due 1-30 days ahead, and open tasks due 1-30 days ahead."""
    from sqlalchemy import insert, select
    from app.extensions import db
    from app.models import Lead, Stage, Task, User
    from app.services import atomic, sla
    with app.app_context():
        stage_ids = list(db.session.scalars(select(Stage.id).where(Stage.kind == "open").order_by(Stage.position)))
        owners = list(db.session.scalars(select(User.id).order_by(User.id)))
        rule_id = sla.rules()[0].id
        chunk = 5000
        for start in range(first_lead, first_lead + leads, chunk):
            rows = []
            for n in range(start, min(start + chunk, first_lead + leads)):
                created = NOW - timedelta(minutes=n % 600)
                due = NOW + timedelta(days=1 + n % 30, minutes=n % 1440)
                rows.append({"first_name": f"Lead{n}", "last_name": "Bench", "stage_id": stage_ids[n % len(stage_ids)],
                             "owner_id": owners[n % len(owners)], "position": n * 1024, "version": 1,
                             "created_at": created, "updated_at": created, "stage_entered_at": created,
                             "score": 0, "score_reasons": [], "sla_rule_id": rule_id, "sla_started_at": created,
                             "sla_due_at": due, "sla_next_at": due - timedelta(hours=2)})
            with atomic():
                db.session.execute(insert(Lead), rows)
        lead_ids = list(db.session.scalars(select(Lead.id).order_by(Lead.id).limit(tasks)))
        for start in range(first_task, first_task + tasks, chunk):
            rows = [{"lead_id": lead_ids[n % len(lead_ids)], "kind": "call", "title": f"Call {n}",
                     "due_at": NOW + timedelta(days=1 + n % 30), "owner_id": owners[n % len(owners)], "note": "",
                     "created_at": NOW - timedelta(days=1)}
                    for n in range(start, min(start + chunk, first_task + tasks))]
            with atomic():
                db.session.execute(insert(Task), rows)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        db.session.remove()


def make_due(app, count: int) -> None:
    """Make `count` leads' warnings and `count` tasks due at NOW, as if their time had come."""
    from sqlalchemy import select, update
    from app.extensions import db
    from app.models import Lead, Task
    from app.services import atomic
    with app.app_context(), atomic():
        leads = select(Lead.id).order_by(Lead.id.desc()).limit(count).scalar_subquery()
        db.session.execute(update(Lead).where(Lead.id.in_(leads)).values(
            sla_next_at=NOW - timedelta(minutes=1), sla_due_at=NOW + timedelta(minutes=10), sla_warned_at=None,
            sla_breached_at=None).execution_options(synchronize_session=False))
        tasks = select(Task.id).order_by(Task.id.desc()).limit(count).scalar_subquery()
        db.session.execute(update(Task).where(Task.id.in_(tasks)).values(
            due_at=NOW - timedelta(minutes=1), reminded_at=None).execution_options(synchronize_session=False))
    with app.app_context():
        db.session.remove()


def sweep_seconds(app, due: int) -> float:
    from app.extensions import db
    from app.services import sla, tasks
    make_due(app, due)
    with app.app_context():
        started = time.perf_counter()
        warned, _ = sla.escalate_due(NOW)
        reminded = tasks.remind_due(NOW)
        seconds = time.perf_counter() - started
        assert (warned, reminded) == (due, due), (warned, reminded, due)
        db.session.remove()
    return seconds


def trivial_seconds(app, rounds: int = 200) -> float:
    from sqlalchemy import text
    from app.extensions import db
    with app.app_context():
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            db.session.execute(text("SELECT 1")).scalar()
            db.session.commit()
            times.append(time.perf_counter() - started)
        db.session.remove()
    return statistics.median(times)


def measure(app, rounds: int) -> dict:
    trivial = trivial_seconds(app)
    out = {"trivial_ms": round(trivial * 1000, 3)}
    for due in DUE_COUNTS:
        median = statistics.median(sweep_seconds(app, due) for _ in range(rounds))
        out[f"due {due}"] = {"ms": round(median * 1000, 1), "ratio": round(median / trivial)}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    from app.services import sla
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    from bench_scoring import fresh_app
    app, tmp = fresh_app(args.db, args.postgres_url)
    with app.app_context():
        ensure_default_pipeline()
        for n in range(10):
            create_user(f"seller{n}@bench.example", "correct horse battery staple", "member", f"Seller {n}")
        sla.add_rule(match="any", value="", amount="1", unit="hours", business_time=True, on_breach="nothing")
    results = {"db": args.db, "python": platform.python_version(), "rounds": args.rounds}
    fifth_leads, fifth_tasks = args.leads // 5, args.tasks // 5
    load(app, 0, fifth_leads, 0, fifth_tasks)
    results[f"{fifth_leads} leads, {fifth_tasks} tasks"] = measure(app, args.rounds)
    load(app, fifth_leads, args.leads - fifth_leads, fifth_tasks, args.tasks - fifth_tasks)
    results[f"{args.leads} leads, {args.tasks} tasks"] = measure(app, args.rounds)
    for size, figures in results.items():
        if isinstance(figures, dict):
            cells = "; ".join(f"{k}: {v['ms']} ms = {v['ratio']}x" for k, v in figures.items() if isinstance(v, dict))
            print(f"{size} (SELECT 1 = {figures['trivial_ms']} ms): {cells}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
