"""Sequence tick benchmark: the worker's tick (services/sequences.run_due) over many enrolments, of
which a few have a step due.

    python bench/bench_sequences.py --db sqlite|postgresql [--enrolments 100000] [--rounds 5]
                                    [--postgres-url URL] [--json FILE]

Builds a fresh database with the migrations (PostgreSQL: the leadboard_sequences_bench database, its
public schema dropped and recreated; SQLite: a temporary file), one running sequence of two email
steps, and loads a fifth of the leads, each enrolled with its first step due 1-30 days ahead. Times
one tick with 0, 100 and 1,000 enrolments made due (each due one renders its template and writes
its outbox row, send row and timeline entry), then loads the rest and times the same again. Each
figure is the median of --rounds ticks (the due enrolments are made due again, and what the tick
wrote removed, before each) as a ratio to a trivial query (SELECT 1) timed in the same run. A tick
should cost the same at 20% and 100% of the enrolments for the same number due, and grow with the
number due. See bench/README.md ("Sequence tick").
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
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/leadboard_sequences_bench"
NOW = datetime(2026, 12, 7, 10, 0)
DUE_COUNTS = (0, 100, 1000)


def set_up(app) -> tuple[int, int]:
    """The sequence (two email steps, no window) and its first step's id."""
    from app.services import email_templates, sequences
    from app.services.sequences import StepSettings
    with app.app_context():
        template = email_templates.create_template(email_templates.TemplateSettings(
            name="Check in", subject="Still thinking, {{ lead.first_name }}?",
            body_html="<p>Hi {{ lead.first_name }},</p><p>{{ owner.name }}</p>"))
        sequence = sequences.create_sequence("Bench")
        first = sequences.add_step(sequence.id, StepSettings(template_id=template.id))
        sequences.add_step(sequence.id, StepSettings(template_id=template.id, delay_days=3))
        sequences.start(sequence.id)
        return sequence.id, first.id


def load(app, sequence_id: int, step_id: int, first: int, count: int) -> None:
    """`count` leads, each enrolled with its first step due 1-30 days after NOW."""
    from sqlalchemy import insert, select
    from app.extensions import db
    from app.models import Lead, SequenceEnrolment, Stage, User
    from app.services import atomic
    with app.app_context():
        stage_ids = list(db.session.scalars(select(Stage.id).where(Stage.kind == "open").order_by(Stage.position)))
        owners = list(db.session.scalars(select(User.id).order_by(User.id)))
        chunk = 5000
        for start in range(first, first + count, chunk):
            numbers = range(start, min(start + chunk, first + count))
            rows = [{"first_name": f"Lead{n}", "last_name": "Bench", "email": f"lead{n}@bench.example",
                     "stage_id": stage_ids[n % len(stage_ids)], "owner_id": owners[n % len(owners)],
                     "position": n * 1024, "version": 1, "created_at": NOW, "updated_at": NOW,
                     "stage_entered_at": NOW, "score": 0, "score_reasons": []} for n in numbers]
            with atomic():
                ids = list(db.session.scalars(insert(Lead).returning(Lead.id), rows))
                db.session.execute(insert(SequenceEnrolment), [
                    {"sequence_id": sequence_id, "lead_id": lead_id, "status": "active", "step_id": step_id,
                     "next_at": NOW + timedelta(days=1 + n % 30, minutes=n % 1440), "enrolled_at": NOW,
                     "how": "bulk", "sent": 0} for n, lead_id in zip(numbers, ids)])
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        db.session.remove()


def make_due(app, step_id: int, count: int) -> None:
    """Undo the last tick (its sends, outbox rows and entries), then make `count` enrolments due."""
    from sqlalchemy import delete, select, update
    from app.extensions import db
    from app.models import OutboxEmail, SequenceEnrolment, SequenceSend, TimelineEntry
    from app.services import atomic
    with app.app_context(), atomic():
        db.session.execute(delete(SequenceSend))
        db.session.execute(delete(OutboxEmail))
        db.session.execute(delete(TimelineEntry).where(TimelineEntry.kind == "sequence_sent"))
        recent = select(SequenceEnrolment.id).order_by(SequenceEnrolment.id.desc()).limit(max(count, 1000)).scalar_subquery()
        db.session.execute(update(SequenceEnrolment).where(SequenceEnrolment.id.in_(recent)).values(
            step_id=step_id, sent=0, next_at=NOW + timedelta(days=5)).execution_options(synchronize_session=False))
        if count:
            due = select(SequenceEnrolment.id).order_by(SequenceEnrolment.id.desc()).limit(count).scalar_subquery()
            db.session.execute(update(SequenceEnrolment).where(SequenceEnrolment.id.in_(due)).values(
                next_at=NOW - timedelta(minutes=1)).execution_options(synchronize_session=False))
    with app.app_context():
        db.session.remove()


def tick_seconds(app, step_id: int, due: int) -> float:
    from app.extensions import db
    from app.services import sequences
    make_due(app, step_id, due)
    with app.app_context():
        started = time.perf_counter()
        tick = sequences.run_due(NOW)
        seconds = time.perf_counter() - started
        assert tick.sent == due, (tick, due)
        db.session.remove()
    return seconds


def measure(app, step_id: int, rounds: int) -> dict:
    from bench_sla import trivial_seconds
    trivial = trivial_seconds(app)
    out = {"trivial_ms": round(trivial * 1000, 3)}
    for due in DUE_COUNTS:
        median = statistics.median(tick_seconds(app, step_id, due) for _ in range(rounds))
        out[f"due {due}"] = {"ms": round(median * 1000, 1), "ratio": round(median / trivial),
                             **({"ms_per_step": round(median * 1000 / due, 2)} if due else {})}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--enrolments", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    from bench_scoring import fresh_app
    app, tmp = fresh_app(args.db, args.postgres_url)
    with app.app_context():
        ensure_default_pipeline()
        for n in range(10):
            create_user(f"seller{n}@bench.example", "correct horse battery staple", "member", f"Seller {n}")
    sequence_id, step_id = set_up(app)
    results = {"db": args.db, "python": platform.python_version(), "rounds": args.rounds}
    fifth = args.enrolments // 5
    load(app, sequence_id, step_id, 0, fifth)
    results[f"{fifth} enrolments"] = measure(app, step_id, args.rounds)
    load(app, sequence_id, step_id, fifth, args.enrolments - fifth)
    results[f"{args.enrolments} enrolments"] = measure(app, step_id, args.rounds)
    for size, figures in results.items():
        if isinstance(figures, dict):
            cells = "; ".join(f"{k}: {v['ms']} ms = {v['ratio']}x" + (f" ({v['ms_per_step']} ms a step)"
                                                                      if "ms_per_step" in v else "")
                              for k, v in figures.items() if isinstance(v, dict))
            print(f"{size} (SELECT 1 = {figures['trivial_ms']} ms): {cells}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
