"""Automations benchmark: what 50 active automations cost a capture and a stage move, as a ratio to
none, measured in the same run (issue 17 asks for at most 1.5x).

    python bench/bench_automations.py [--db sqlite|postgresql] [--postgres-url URL] [--rounds 6]
                                      [--per-round 40] [--automations 50]

A fresh database built by the migrations (SQLite: a file in a temporary directory; PostgreSQL: the
bench_automations database, its schema dropped and recreated), the default pipeline, two users,
a few tags. Rounds alternate between no automation being active and the 50 being active (pausing
and resuming them: the settings cache renews), so the machine's load falls on both alike. Each round
captures --per-round leads (capture_lead, one transaction each, as a web form or the API does) and
moves as many leads from "New" to "Contacted" (move_lead, as a drag on the board does).

The 50 automations are what a team might keep: 40 on "a lead is captured", of which --acting (10)
hold for every capture (a tag added, a notice to the owner) and the rest have conditions that do not
hold for these leads (a company, a country); 10 on entering "Contacted" (5 that act, 5 whose
condition does not hold). --acting 0 measures what checking costs alone; the acting runs cost what
the same tag or notice costs a person doing it.
See bench/README.md, "Automations"."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_email import SECRET, fresh_database, percentile, prepare_postgres  # noqa: E402


def build(count: int, admin_id: int, stages: dict, acting: int = 10) -> list[int]:
    from app.services import automations
    from app.services.automations import AutomationInput
    made = []
    for n in range(count):
        kind = n % 5
        if n < count * 8 // 10 - acting:
            cond = [{"field": "company", "op": "equals", "value": f"Nobody {n}"}] if kind < 3 else \
                [{"field": "country", "op": "equals", "value": "JP"}]
            rule = AutomationInput(name=f"Capture {n}", trigger="lead_captured", trigger_options={}, conditions=cond,
                                   actions=[{"kind": "add_tag", "tag": "bench"}])
        elif n < count * 8 // 10:
            action = {"kind": "add_tag", "tag": f"t{n % 4}"} if kind % 2 else \
                {"kind": "notify", "people": "owner", "message": "New lead"}
            rule = AutomationInput(name=f"Acting {n}", trigger="lead_captured", trigger_options={},
                                   conditions=[{"field": "email", "op": "is_not_empty"}], actions=[action])
        else:
            cond = [] if n % 2 else [{"field": "company", "op": "equals", "value": "Nobody"}]
            rule = AutomationInput(name=f"Stage {n}", trigger="stage_entered",
                                   trigger_options={"stage_id": stages["Contacted"]}, conditions=cond,
                                   actions=[{"kind": "add_tag", "tag": "moved"}])
        made.append(automations.save(None, rule, admin_id).id)
    return made


def switch(ids: list[int], on: bool, admin_id: int) -> None:
    from app.services import automations
    for automation_id in ids:
        automations.set_active(automation_id, on, admin_id)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_automations")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=40)
    parser.add_argument("--automations", type=int, default=50)
    parser.add_argument("--acting", type=int, default=10, help="how many capture automations act on every capture")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-automations-"))
    url = f"sqlite:///{work / 'bench.db'}" if args.db == "sqlite" else args.postgres_url
    if args.db == "postgresql":
        prepare_postgres(url)
    fresh_database(url, work / "instance")

    from app import create_app
    from app.extensions import db
    from app.services import atomic, tags
    from app.services.capture import capture_lead
    from app.services.leads import create_lead, move_lead
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": work / "instance", "SECRET_KEY": SECRET,
                      "LEADBOARD_ENV": "testing"})
    with app.app_context():
        stages = {s.name: s.id for s in ensure_default_pipeline()}
        admin = create_user("ada@example.com", "a-long-bench-password", "admin", "Ada Admin")
        member = create_user("max@example.com", "a-long-bench-password", "member", "Max Member")
        admin_id, member_id = admin.id, member.id
        with atomic():
            tags.ensure_tags(["bench", "moved", "t0", "t1", "t2", "t3"])
        ids = build(args.automations, admin_id, stages, args.acting)
        times: dict[tuple[str, bool], list[float]] = {}
        serial = 0
        for round_no in range(args.rounds):
            active = round_no % 2 == 1
            switch(ids, active, admin_id)
            movable = [create_lead({"first_name": "Move", "last_name": str(n), "email": f"m{round_no}-{n}@example.com"},
                                   None, stage_id=stages["New"], owner_id=member_id).id for n in range(args.per_round)]
            for n in range(args.per_round):
                serial += 1
                started = time.perf_counter()
                capture_lead({"first_name": "Bench", "last_name": f"Lead {serial}", "email": f"b{serial}@example.com",
                              "company": f"Company {serial}"}, via="API", owner_id=member_id)
                times.setdefault(("capture", active), []).append(time.perf_counter() - started)
                db.session.remove()
            for lead_id in movable:
                started = time.perf_counter()
                move_lead(lead_id, stages["Contacted"], None, None, member_id)
                times.setdefault(("move", active), []).append(time.perf_counter() - started)
                db.session.remove()
        from sqlalchemy import func, select
        from app.models import AutomationRun
        runs = db.session.scalar(select(func.count()).select_from(AutomationRun))

    print(f"{args.db}: {args.automations} automations ({args.acting} acting on each capture), {args.rounds} rounds of {args.per_round}; {runs} runs recorded")
    print("| operation | none: median / p95 ms | 50 active: median / p95 ms | ratio (median, p95) |")
    print("|---|---|---|---|")
    for what in ("capture", "move"):
        off, on = times[(what, False)], times[(what, True)]
        m0, m1 = statistics.median(off) * 1000, statistics.median(on) * 1000
        p0, p1 = percentile(off, 95) * 1000, percentile(on, 95) * 1000
        print(f"| {what} | {m0:.1f} / {p0:.1f} | {m1:.1f} / {p1:.1f} | {m1 / m0:.2f}x, {p1 / p0:.2f}x |")


if __name__ == "__main__":
    main()
