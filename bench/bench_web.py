"""Throughput of the signed-in pool page against gunicorn with N web processes: what adding web
processes buys on this machine (the README's production section quotes it).

    python bench/bench_web.py --db sqlite|postgresql [--workers 1,2,4] [--clients 8] [--seconds 20]
                              [--leads 2000] [--postgres-url URL]

Builds a database through the migrations, fills it with `flask seed-demo --leads N`, then for each
worker count starts gunicorn with the production config (app/gunicorn_conf.py, gthread, 4 threads a
process; WEB_CONCURRENCY sets the process count), signs in once through the login form, and lets
`--clients` threads (each its own kept-alive connection carrying that session) GET /leads, the pool's
first page of 50 leads, as fast as answers come for `--seconds` after a 3-second warm-up. Reports
requests/s, p50 and p95 latency, errors, and the load average around the run.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pages import Gunicorn, HttpClient  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_web"


def flask(url: str, instance: Path, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "LEADBOARD_INSTANCE": str(instance), "REDIS_URL": "",
           "PYTHONPATH": str(ROOT), "SECRET_KEY": "bench-secret-key-that-is-long-enough-for-production"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def prepare(db: str, postgres_url: str, work: Path, leads: int) -> tuple[str, str, str]:
    if db == "postgresql":
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url
        parsed = make_url(postgres_url)
        if parsed.database.startswith("test") and not parsed.database.startswith("test_ops_"):
            raise SystemExit("Refusing to empty a test database; pass another --postgres-url.")
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}) is None:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
        engine = create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        url = postgres_url
    else:
        url = f"sqlite:///{work / 'bench.db'}"
    flask(url, work, "db", "upgrade")
    out = flask(url, work, "seed-demo", "--leads", str(leads))
    email, password = re.search(r"as (\S+) with password (\S+)", out).groups()
    return url, email, password


def run(port: int, email: str, password: str, clients: int, seconds: float) -> dict:
    first = HttpClient(port, "gzip")
    first.sign_in(email, password)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_at = time.monotonic() + 3.0  # warm-up until then: not counted
    stop_at = start_at + seconds

    def client():
        me = HttpClient(port, "gzip")
        me.cookies = dict(first.cookies)
        mine, bad = [], 0
        while (now := time.monotonic()) < stop_at:
            started = time.perf_counter()
            try:
                status, body, _ = me.request("GET", "/leads")
                ok = status == 200 and len(body) > 1000
            except OSError:
                ok = False
                me.conn.close()
            elapsed = time.perf_counter() - started
            if now >= start_at:
                if ok:
                    mine.append(elapsed)
                else:
                    bad += 1
        me.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    load_before = os.getloadavg()[0]
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first.close()
    latencies.sort()
    return {"requests": len(latencies), "rps": len(latencies) / seconds,
            "p50": statistics.median(latencies) * 1000 if latencies else None,
            "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000 if latencies else None,
            "errors": errors[0], "load": (load_before, os.getloadavg()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--leads", type=int, default=2000)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        work = Path(tmp)
        url, email, password = prepare(args.db, args.postgres_url, work, args.leads)
        print(f"{args.db}, {args.leads:,} demo leads, {args.clients} clients, {args.seconds:.0f} s each, "
              f"{os.cpu_count()} CPUs")
        print("| web processes | requests/s | p50 ms | p95 ms | errors | load avg before → after |")
        print("|---|---|---|---|---|---|")
        for workers in (int(w) for w in args.workers.split(",")):
            os.environ["WEB_CONCURRENCY"] = str(workers)
            server = Gunicorn(url, work, work / "gunicorn.log")
            try:
                r = run(server.port, email, password, args.clients, args.seconds)
            finally:
                server.stop()
            print(f"| {workers} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['errors']} | "
                  f"{r['load'][0]:.1f} → {r['load'][1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
