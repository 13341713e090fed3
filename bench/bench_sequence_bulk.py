"""Bulk enrolment benchmark: enrolling every lead the pool's filters match in a sequence, as the
worker's job does it (services.sequence_bulk.run: keyset by id, 500 leads per transaction through
the set-based sequences.enrol_many).

    python bench/bench_sequence_bulk.py --db sqlite|postgresql [--leads 100000] [--postgres-url URL] [--json FILE]

Builds a fresh database and loads --leads leads as bench/bench_scoring.py does (no scoring rules;
PostgreSQL: the leadboard_sequence_bulk_bench database, its public schema dropped and recreated),
then times two runs: every lead (no filter), and a second sequence over one stage's leads (a filter
walked in id order). Prints leads per second and the peak resident memory. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_scoring import fresh_app, load, peak_mib  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/leadboard_sequence_bulk_bench"


def timed_run(app, name: str, **filters) -> dict:
    from sqlalchemy import select
    from app.extensions import db
    from app.models import Stage
    from app.services import email_templates, sequence_bulk, sequences
    from app.services.lead_queries import PoolFilters
    with app.app_context():
        template = email_templates.create_template(email_templates.TemplateSettings(
            name=f"{name} email", subject="Hello", body_html="<p>Hello {{ lead.first_name }}</p>"))
        sequence = sequences.create_sequence(name)
        sequences.add_step(sequence.id, sequences.StepSettings(template_id=template.id, delay_days=2))
        sequences.start(sequence.id)
        if "stage" in filters:
            filters = {"stage_id": db.session.scalar(select(Stage.id).where(Stage.name == filters["stage"]))}
        run = sequence_bulk.start_run(PoolFilters(**filters), sequence.id, None)
        started = time.perf_counter()
        done = sequence_bulk.run(run.id)
        seconds = time.perf_counter() - started
        result = {"state": done.state, "leads": done.done, "enrolled": done.enrolled, "seconds": round(seconds, 2),
                  "leads_per_second": round(done.done / seconds) if seconds else None,
                  "peak_rss_mib": round(peak_mib(), 1)}
        db.session.remove()
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    app, tmp = fresh_app(args.db, args.postgres_url)
    started = time.perf_counter()
    load(app, args.leads, 0)
    print(f"loaded {args.leads:,} leads in {time.perf_counter() - started:.1f}s ({args.db}, {platform.python_version()})")
    results = {"db": args.db, "leads": args.leads}
    for name, filters in (("every lead", {}), ("one stage", {"stage": "Qualified"})):
        result = timed_run(app, name, **filters)
        results[name] = result
        print(f"{name}: {result['leads']:,} leads gone through, {result['enrolled']:,} enrolled in "
              f"{result['seconds']}s = {result['leads_per_second']:,} leads/s ({result['state']}); "
              f"peak RSS {result['peak_rss_mib']} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
