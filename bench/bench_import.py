"""CSV import benchmark: rows per second and peak memory, on SQLite and PostgreSQL.

    python bench/bench_import.py [--sizes 10000 100000 1000000] [--db sqlite postgresql]
                                 [--postgres-url URL] [--worker] [--redis-url URL] [--json FILE] [--keep]

Writes a vendor-style CSV (HubSpot headers; accented names, duplicates inside the file, bad emails,
rows with broken UTF-8 bytes, formula-like cells), then for each database, in a fresh process:
builds the schema through the migrations, stores the upload (create_import) and runs the import
(run_import) in-process, timing each step; peak memory is that process's ru_maxrss; "gap s" is the
longest time between two committed batches (the progress bar moves at each). Running the
same thing on a file a tenth the size shows whether memory stays flat as the file grows.
With --worker the import is also started through Redis and run by a real `worker.py --burst`
(wall time including the worker's start-up; its peak memory from RUSAGE_CHILDREN).

Beside each import, in its own fresh process on the same database and file, runs the bare loop the
import is measured against: `csv` parse, email-validator and phonenumbers on each row, then
`executemany` into a plain table, a commit per 1,000 rows. The import's speed is reported as a
ratio to that loop's, measured in the same run (issue 15 aims at 60% or more).
See bench/IMPORT.md for figures.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_import"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
HEADERS = ["First Name", "Last Name", "Email", "Phone Number", "Company Name", "Job Title", "Lead Source",
           "UTM Source", "UTM Campaign", "Amount"]
FIRST = ["Ada", "Grace", "Linus", "Zoë", "José", "Ingrid", "Łukasz", "Amélie", "Søren", "Yuki", "Chloé", "Omar"]
LAST = ["Lovelace", "Hopper", "Müller", "García", "O'Brien", "Nguyễn", "Kowalski", "Dubois", "Østergaard", "Smith"]
TITLES = ["CEO", "Head of Sales", "Buyer", "Office Manager", "CTO", ""]
SOURCES = ["Trade show", "Website", "Referral", ""]


def mb(kilobytes: int) -> float:
    return round(kilobytes / 1024, 1)  # Linux reports ru_maxrss in KiB


# --- the file -----------------------------------------------------------------------------------------

def write_csv(path: Path, rows: int, seed: int = 42) -> dict:
    """A HubSpot-style export: ~2% repeat an earlier email, ~0.5% bad emails, ~0.2% broken bytes."""
    rng = random.Random(seed)
    stats = {"rows": rows, "repeats": 0, "bad_email": 0, "broken": 0}
    with path.open("wb") as raw:
        text = open(raw.fileno(), "w", encoding="utf-8", newline="", closefd=False)
        writer = csv.writer(text)
        writer.writerow(HEADERS)
        for i in range(rows):
            roll = rng.random()
            email = f"lead{i}@example.com"
            if roll < 0.02 and i > 10:
                email, stats["repeats"] = f"lead{rng.randrange(i)}@example.com", stats["repeats"] + 1
            elif roll < 0.025:
                email, stats["bad_email"] = f"lead{i}@@example", stats["bad_email"] + 1
            company = f"=HYPERLINK(\"x\",\"Co {i}\")" if rng.random() < 0.003 else f"Company {i % 5000}"
            phone = f"+1 {rng.randrange(201, 989)} {rng.randrange(200, 999)} {rng.randrange(10000):04d}" \
                if rng.random() < 0.5 else ""
            writer.writerow([rng.choice(FIRST), rng.choice(LAST), email, phone, company, rng.choice(TITLES),
                             rng.choice(SOURCES), "newsletter" if i % 7 == 0 else "", "spring" if i % 3 == 0 else "",
                             f"{rng.randrange(0, 50000)}.{rng.randrange(100):02d}" if i % 4 == 0 else ""])
            if rng.random() < 0.002:
                text.flush()
                raw.write(b"Broken,Row,broken" + str(i).encode() + b"@example.com,,Caf\xe9 \xff,,,,,\r\n")
                stats["broken"] += 1
        text.flush()
    stats["bytes"] = path.stat().st_size
    return stats


# --- databases ------------------------------------------------------------------------------------

def prepare_postgres(url: str) -> None:
    """Create the benchmark database if missing (it is emptied by the migration step)."""
    from sqlalchemy import create_engine, text
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    engine = create_engine(urlunsplit(parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def child(args) -> None:
    """One measured run in this (fresh) process; prints a JSON line."""
    from tests.conftest import migrate_fresh
    instance = Path(tempfile.mkdtemp(prefix="bench-import-"))
    migrate_fresh(args.url, instance)
    from app import create_app
    from app.extensions import db
    from app.models import Lead
    from app.services import imports
    from app.services.stages import ensure_default_pipeline
    from sqlalchemy import event, func, select, update
    from sqlalchemy.orm import Session

    config = {"SQLALCHEMY_DATABASE_URI": args.url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench",
              "LEADBOARD_ENV": "testing"}
    if args.redis_url:
        config["REDIS_URL"] = args.redis_url
    app = create_app(config)
    with app.app_context():
        ensure_default_pipeline()
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with open(args.csv, "rb") as stream:
            # The 1,000,000-row file (81 MB) is over the upload limit (50 MB): the engine is what is measured.
            imp = imports.create_import(stream, Path(args.csv).name, None, max_bytes=1 << 30)
        upload_s = time.perf_counter() - started
        result = {"db": db.engine.dialect.name, "rows": args.rows, "bytes": imp.size_bytes, "upload_s": round(upload_s, 2),
                  "encoding": imp.encoding}
        if args.worker:
            imports.start_import(imp.id, mapping=imp.mapping, source="Bench", stage_id=None, owner_id=None,
                                 duplicates="skip", actor_id=None)
            env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": args.url, "REDIS_URL": args.redis_url,
                   "SECRET_KEY": "bench", "LEADBOARD_INSTANCE": str(instance)}
            started = time.perf_counter()
            subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            import_s = time.perf_counter() - started
            result["worker_peak_rss_mb"] = mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        else:
            db.session.execute(update(imports.LeadImport).where(imports.LeadImport.id == imp.id)
                               .values(status="queued", default_source="Bench"))
            db.session.commit()
            commits = []  # when each transaction committed: a batch's commit is what moves the progress bar
            event.listen(Session, "after_commit", lambda _session: commits.append(time.perf_counter()))
            started = time.perf_counter()
            imports.run_import(imp.id)
            import_s = time.perf_counter() - started
            marks = [started, *commits]
            result["max_progress_gap_s"] = round(max(b - a for a, b in zip(marks, marks[1:])), 2)
        db.session.expire_all()
        imp = imports.get_import(imp.id)
        result.update(
            mode="worker" if args.worker else "service", status=imp.status, import_s=round(import_s, 1),
            rows_per_s=round(imp.rows_done / import_s), rows_done=imp.rows_done, created=imp.created_count,
            updated=imp.updated_count, skipped=imp.skipped_count, rejected=imp.rejected_count,
            leads=db.session.scalar(select(func.count()).select_from(Lead)),
            baseline_rss_mb=mb(baseline), peak_rss_mb=mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
        db.engine.dispose()
    shutil.rmtree(instance, ignore_errors=True)
    print(json.dumps(result), flush=True)


BARE_BATCH = 1000


def bare(args) -> None:
    """The bare loop, in this (fresh) process: parse, validate, executemany; prints a JSON line.

    --floor: the same loop into Leadboard's own `leads` table (built by the migrations: its indexes
    and its stage-totals trigger) instead of a plain one, with the few columns a lead cannot do
    without (stage, position, times): no search document, timeline entry, ledger row or identity
    lookup. What writing the rows costs on this schema before any of the import's own work."""
    import email_validator
    import phonenumbers
    from sqlalchemy import create_engine, text
    columns = ["first_name", "last_name", "email", "phone", "company", "title", "source", "utm_source",
               "utm_campaign", "value"]
    extra: dict = {}
    if args.floor:
        from datetime import datetime
        from tests.conftest import migrate_fresh
        instance = Path(tempfile.mkdtemp(prefix="bench-import-"))
        migrate_fresh(args.url, instance)
        from app import create_app
        from app.extensions import db
        from app.models import Lead
        from app.services.stages import ensure_default_pipeline
        app = create_app({"SQLALCHEMY_DATABASE_URI": args.url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench",
                          "LEADBOARD_ENV": "testing"})
        app.app_context().push()  # the app's engine, with its SQLite settings, as the import has
        first = ensure_default_pipeline()
        db.session.commit()
        engine, now = db.engine, datetime.now()
        extra = {"stage_id": db.session.scalar(text("SELECT min(id) FROM stages")), "created_at": now,
                 "updated_at": now, "stage_entered_at": now}
        db.session.close()
        del first
        insert = Lead.__table__.insert()
    else:
        engine = create_engine(args.url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bare_leads"))
            key = "id SERIAL PRIMARY KEY" if engine.dialect.name == "postgresql" else "id INTEGER PRIMARY KEY"
            conn.execute(text(f"CREATE TABLE bare_leads ({key}, " +
                              ", ".join(f"{c} VARCHAR(255)" for c in columns) + ")"))
        insert = text(f"INSERT INTO bare_leads ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})")
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    done = kept = 0
    batch: list[dict] = []
    with open(args.csv, encoding="utf-8", errors="replace", newline="") as stream, engine.connect() as conn:
        reader = csv.reader(stream)
        next(reader)
        for row in reader:
            done += 1
            row = (row + [""] * len(columns))[:len(columns)]
            try:
                row[2] = email_validator.validate_email(row[2], check_deliverability=False).normalized
            except email_validator.EmailNotValidError:
                continue
            if row[3]:
                try:
                    number = phonenumbers.parse(row[3], "US")
                    row[3] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) \
                        if phonenumbers.is_valid_number(number) else ""
                except phonenumbers.NumberParseException:
                    row[3] = ""
            record = dict(zip(columns, row))
            if args.floor:
                try:
                    record["value"] = float(record["value"]) if record["value"] else None
                except ValueError:
                    record["value"] = None
                record.update(extra, position=kept)
            batch.append(record)
            kept += 1
            if len(batch) >= BARE_BATCH:
                conn.execute(insert, batch)
                conn.commit()
                batch = []
        if batch:
            conn.execute(insert, batch)
            conn.commit()
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bare_leads") if not args.floor else text("DELETE FROM leads"))
    engine.dispose()
    print(json.dumps({"db": engine.dialect.name, "rows": args.rows, "mode": "floor" if args.floor else "bare",
                      "rows_done": done,
                      "inserted": kept, "import_s": round(seconds, 1), "rows_per_s": round(done / seconds),
                      "baseline_rss_mb": mb(baseline),
                      "peak_rss_mb": mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)}), flush=True)


def run_child(url: str, path: Path, rows: int, worker: bool = False, redis_url: str = "",
              bare_loop: bool = False, floor: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", "--url", url, "--csv", str(path), "--rows", str(rows)]
    if worker:
        command += ["--worker", "--redis-url", redis_url]
    if bare_loop or floor:
        command += ["--bare"] + (["--floor"] if floor else [])
    output = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                        help="rows per file, one file each (1000000 takes about half an hour per database)")
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--worker", action="store_true", help="also run each import through a real RQ worker")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and SQLite databases")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return bare(args) if args.bare else child(args)

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    files = {}
    for rows in sorted(set(args.sizes)):
        path = work / f"hubspot-{rows}.csv"
        stats = write_csv(path, rows)
        files[rows] = path
        print(f"wrote {path.name}: {stats['bytes'] / 1e6:.1f} MB, {stats}", flush=True)
    if "postgresql" in args.db:
        prepare_postgres(args.postgres_url)
    results = []
    for name in args.db:
        largest = max(files)
        runs = [(rows, False) for rows in files] + ([(largest, True)] if args.worker else [])
        for rows, worker in runs:
            url = args.postgres_url if name == "postgresql" else f"sqlite:///{work / f'bench-{rows}-{worker}.db'}"
            if not worker:
                loop = run_child(url, files[rows], rows, bare_loop=True)
                results.append(loop)
                print(json.dumps(loop), flush=True)
                floor_url = url.replace(".db", "-floor.db") if name == "sqlite" else url
                floor = run_child(floor_url, files[rows], rows, floor=True)
                floor["ratio_to_bare"] = round(floor["rows_per_s"] / loop["rows_per_s"], 3)
                results.append(floor)
                print(json.dumps(floor), flush=True)
            if worker:
                from redis import Redis
                Redis.from_url(args.redis_url).flushdb()
            result = run_child(url, files[rows], rows, worker, args.redis_url)
            loop = next(r for r in results if r["mode"] == "bare" and r["db"] == result["db"] and r["rows"] == rows)
            result["ratio_to_bare"] = round(result["rows_per_s"] / loop["rows_per_s"], 3)
            results.append(result)
            print(json.dumps(result), flush=True)
    print(f"\n{platform.python_implementation()} {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'db':<11}{'mode':<9}{'rows':>8}{'upload s':>10}{'import s':>10}{'rows/s':>8}{'ratio':>7}"
          f"{'peak MB':>9}{'base MB':>9}{'gap s':>7}  created/updated/skipped/rejected")
    for r in results:
        peak = r.get("worker_peak_rss_mb", r["peak_rss_mb"])
        ratio = f"{r['ratio_to_bare']:.0%}" if "ratio_to_bare" in r else "100%"
        outcome = f"{r['created']}/{r['updated']}/{r['skipped']}/{r['rejected']}" if r["mode"] not in ("bare", "floor") \
            else f"{r['inserted']} inserted"
        print(f"{r['db']:<11}{r['mode']:<9}{r['rows']:>8}{r.get('upload_s', ''):>10}{r['import_s']:>10}"
              f"{r['rows_per_s']:>8}{ratio:>7}{peak:>9}{r['baseline_rss_mb']:>9}{r.get('max_progress_gap_s', ''):>7}"
              f"  {outcome}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.keep:
        print(f"files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
