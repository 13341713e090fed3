"""Time-trigger sweep benchmark: the worker's sweep of time-based automations
(services/automations.run_time_triggers) with 50 of them over 100,000 leads and 50,000 tasks, as a
ratio to the same sweep with nothing due, and the candidate queries' plans.

    python bench/bench_automation_sweep.py --db sqlite|postgresql [--leads 100000] [--tasks 50000]
                                           [--rounds 5] [--postgres-url URL] [--explain-only]

A fresh database built by the migrations (PostgreSQL: the bench_automation_sweep database, its
public schema dropped and recreated; SQLite: a temporary file). Leads were captured 90 days ago and
last touched at some minute of the last 60 days; open tasks fall due across 30 days either side of
now; expected close dates spread over 60 days either side. The 50 automations: 20 "no activity for
N days" (N = 1..20), 15 "a task is overdue by M" (0 to 14 hours) and 15 "N days before the expected
close date" (0..14), each with a condition that does not hold (the company), so a run costs its
condition check, not an action.

Each sweep starts with the occurrences forgotten and every cursor one minute back (as a worker
sweeping every minute sees it): "a minute of data" is what the table holds in that minute (about
half a lead or task per automation), "+ K due" adds K leads made quiet for exactly a day, all for
the first automation. The baseline, "empty range", has every cursor at now: the sweep's fixed cost
for 50 automations. Each figure is the median of --rounds sweeps, timed at a fifth of the leads and tasks,
then at all of them: the same due items should cost the same whatever the table's size. See
bench/README.md ("Automations: the time-trigger sweep")."""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_automation_sweep"
NOW = datetime(2026, 12, 3, 12, 0, 30)
EMPTY = -1  # every cursor at now: nothing at all in the sweep's range (the baseline)
DUE_COUNTS = (EMPTY, 0, 100, 1000)
MINUTES_60_DAYS = 60 * 1440
QUIET_A_DAY = NOW - timedelta(days=1, seconds=20)  # due for "no activity for 1 day" in a sweep at NOW


def fresh(db: str, url: str):
    from sqlalchemy import create_engine, text
    from bench_scoring import fresh_app, prepare_postgres
    if db == "postgresql":
        prepare_postgres(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    return fresh_app(db, url)


def load(app, first: int, leads: int, first_task: int, tasks: int) -> None:
    from sqlalchemy import insert, select
    from app.extensions import db
    from app.models import Lead, Stage, Task, User
    from app.services import atomic
    with app.app_context():
        stage_ids = list(db.session.scalars(select(Stage.id).where(Stage.kind == "open").order_by(Stage.position)))
        owners = list(db.session.scalars(select(User.id).order_by(User.id)))
        chunk = 5000
        created = NOW - timedelta(days=90)
        for start in range(first, first + leads, chunk):
            rows = []
            for n in range(start, min(start + chunk, first + leads)):
                touched = NOW - timedelta(days=1, minutes=(n * 7919) % MINUTES_60_DAYS, seconds=30)
                rows.append({"first_name": f"Lead{n}", "last_name": "Bench", "company": f"Company {n}",
                             "stage_id": stage_ids[n % len(stage_ids)], "owner_id": owners[n % len(owners)],
                             "position": n * 1024, "version": 1, "created_at": created, "updated_at": created,
                             "stage_entered_at": created, "last_touch_at": touched, "score": 0, "score_reasons": [],
                             "expected_close_on": (NOW + timedelta(days=n % 120 - 60)).date()})
            with atomic():
                db.session.execute(insert(Lead), rows)
        lead_ids = list(db.session.scalars(select(Lead.id).order_by(Lead.id).limit(max(tasks, 1))))
        for start in range(first_task, first_task + tasks, chunk):
            rows = [{"lead_id": lead_ids[n % len(lead_ids)], "kind": "call", "title": f"Call {n}",
                     "due_at": NOW + timedelta(minutes=(n * 7919) % MINUTES_60_DAYS - MINUTES_60_DAYS // 2, seconds=15),
                     "owner_id": owners[n % len(owners)], "note": "", "created_at": NOW - timedelta(days=40)}
                    for n in range(start, min(start + chunk, first_task + tasks))]
            with atomic():
                db.session.execute(insert(Task), rows)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        db.session.remove()


def build(app) -> None:
    from app.services import automations
    from app.services.automations import AutomationInput
    from app.services.users import create_user
    with app.app_context():
        admin = create_user("ada@bench.example", "correct horse battery staple", "admin", "Ada Admin")
        cond = [{"field": "company", "op": "equals", "value": "Nobody at all"}]
        action = [{"kind": "notify", "people": "owner", "message": "Look at this lead"}]
        made = []
        for n in range(20):
            made.append(AutomationInput(name=f"Quiet {n + 1}", trigger="no_activity",
                                        trigger_options={"days": str(n + 1)}, conditions=cond, actions=action))
        for n in range(15):
            made.append(AutomationInput(name=f"Overdue {n}", trigger="task_overdue",
                                        trigger_options={"amount": str(n), "unit": "hours"}, conditions=cond,
                                        actions=action))
        for n in range(15):
            made.append(AutomationInput(name=f"Closing {n}", trigger="date_reached",
                                        trigger_options={"date_field": "expected_close_on", "days": str(n),
                                                         "when": "before"}, conditions=cond, actions=action))
        for given in made:
            automations.save(None, given, admin.id, now=NOW)


def reset(app, due: int) -> None:
    """Every cursor a minute back (EMPTY: at now), the occurrences forgotten, and `due` leads quiet
    for a day."""
    from sqlalchemy import delete, select, update
    from app.extensions import db
    from app.models import AutomationCursor, AutomationOccurrence, AutomationRun, Lead
    from app.services import atomic
    with app.app_context(), atomic():
        db.session.execute(delete(AutomationOccurrence))
        db.session.execute(delete(AutomationRun))
        db.session.execute(update(AutomationCursor).values(
            after_at=NOW if due == EMPTY else NOW - timedelta(minutes=1), after_id=0))
        db.session.execute(update(Lead).where(Lead.last_touch_at == QUIET_A_DAY)  # the last round's, out of the way
                           .values(last_touch_at=NOW - timedelta(days=70)).execution_options(synchronize_session=False))
        if due > 0:
            ids = select(Lead.id).order_by(Lead.id.desc()).limit(due).scalar_subquery()
            db.session.execute(update(Lead).where(Lead.id.in_(ids))
                               .values(last_touch_at=QUIET_A_DAY)
                               .execution_options(synchronize_session=False))
    with app.app_context():
        db.session.remove()


def sweep_seconds(app, due: int) -> tuple[float, int]:
    from app.extensions import db
    from app.services import automations
    reset(app, due)
    with app.app_context():
        automations.active_rules()  # the settings cache warm, as in a worker that has swept before
        started = time.perf_counter()
        fired = automations.run_time_triggers(NOW)
        seconds = time.perf_counter() - started
        db.session.remove()
    return seconds, fired


def measure(app, rounds: int) -> dict:
    """Median seconds and occurrences per case; the cases take turns within each round, so a busy
    machine weighs on all of them alike."""
    timed: dict[int, list] = {due: [] for due in DUE_COUNTS}
    for _ in range(rounds):
        for due in DUE_COUNTS:
            timed[due].append(sweep_seconds(app, due))
    return {due: (statistics.median(t for t, _ in runs), statistics.median(f for _, f in runs))
            for due, runs in timed.items()}


def explain(app) -> None:
    """The plan of each kind of candidate query, as the sweep sends it."""
    from sqlalchemy import event
    from app.extensions import db
    from app.services import automations
    with app.app_context():
        seen: list[tuple[str, object]] = []

        def keep(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("SELECT") and ("tasks" in statement or "leads" in statement):
                seen.append((statement, parameters))

        for key, options in (("no_activity", {"days": 7}), ("task_overdue", {"minutes": 60}),
                             ("date_reached", {"date_field": "expected_close_on", "days": 3, "when": "before"})):
            seen.clear()
            event.listen(db.engine, "before_cursor_execute", keep)
            automations.TRIGGERS[key].due(options, (NOW - timedelta(minutes=1), 0), NOW, automations.TIME_BATCH)
            event.remove(db.engine, "before_cursor_execute", keep)
            statement, parameters = seen[-1]
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if db.engine.dialect.name == "postgresql" \
                    else "EXPLAIN QUERY PLAN "
                cursor.execute(prefix + statement, parameters)
                plan = [" | ".join(str(c) for c in row) for row in cursor.fetchall()]
            finally:
                raw.close()
            print(f"\n{key}:\n  " + "\n  ".join(plan))
        db.session.remove()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--explain-only", action="store_true", help="load all at once, print the plans, no timing")
    args = parser.parse_args(argv)
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    app, tmp = fresh(args.db, args.postgres_url)
    with app.app_context():
        ensure_default_pipeline()
        for n in range(10):
            create_user(f"seller{n}@bench.example", "correct horse battery staple", "member", f"Seller {n}")
    build(app)
    if args.explain_only:
        load(app, 0, args.leads, 0, args.tasks)
        explain(app)
        return
    fifth_leads, fifth_tasks = args.leads // 5, args.tasks // 5
    load(app, 0, fifth_leads, 0, fifth_tasks)
    results = {f"{fifth_leads:,} leads": measure(app, args.rounds)}
    load(app, fifth_leads, args.leads - fifth_leads, fifth_tasks, args.tasks - fifth_tasks)
    results[f"{args.leads:,} leads"] = measure(app, args.rounds)
    print(f"{args.db}: 50 time-based automations, {args.tasks:,} tasks at full size, median of {args.rounds} sweeps")
    print("| table | empty range | a minute of data | + 100 due | + 1,000 due |")
    print("|---|---|---|---|---|")
    for size, figures in results.items():
        empty = figures[EMPTY][0]
        cells = [f"{empty * 1000:.1f} ms"]
        for due in DUE_COUNTS[1:]:
            seconds, fired = figures[due]
            cells.append(f"{seconds * 1000:.1f} ms = {seconds / empty:.1f}x ({fired:.0f} fired)")
        print(f"| {size} | " + " | ".join(cells) + " |")
    explain(app)


if __name__ == "__main__":
    main()
