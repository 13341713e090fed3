"""API benchmark: lead creation through POST /api/v1/leads under gunicorn, several concurrent clients.

    python bench/bench_api.py --db postgresql|sqlite [--requests 2000] [--clients 8] [--workers 4]
                              [--no-idempotency-keys] [--redis-url URL] [--postgres-url URL] [--json FILE]

Builds a fresh database with `flask db upgrade` (PostgreSQL: the leadboard_api_bench database, created
if missing; SQLite: a file in a temporary directory), adds the default pipeline, creates a key with
`flask create-api-key`, starts `gunicorn -w N` on a free loopback port and drives POST /api/v1/leads
from --clients threads, each with its own http.client connection (reopened when gunicorn's sync workers
close it). Every request creates a distinct lead and, unless --no-idempotency-keys, carries its own
Idempotency-Key, as the API documentation recommends. Prints requests/s, latency percentiles and the
error count (anything but 201, or a failed connection), then checks the database holds exactly one lead
per request. Then the same clients read GET /api/v1/stages as often, on the same server: a floor that
shows what the machine gives a request that writes nothing (useful on a shared, busy machine). The
per-key rate limit stays on, raised so it never trips (API_RATE_LIMIT); with --redis-url its counters
live in Redis, as in a multi-host deployment. See bench/API.md.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/leadboard_api_bench"
WARMUP_PER_CLIENT = 10


def prepare_postgres(url: str) -> None:
    """Create the benchmark database if missing, then empty its public schema."""
    from sqlalchemy import create_engine, text
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = create_engine(urlunsplit(parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def flask(env: dict, *args: str) -> str:
    result = subprocess.run([str(BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(port: int, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited before it answered; see its output above.")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 30 s")


class Client(threading.Thread):
    """One integrator: sends its share of creates one after another over one (re)opened connection."""

    def __init__(self, number: int, port: int, secret: str, count: int, idempotency: bool, start: threading.Barrier,
                 floor: bool = False):
        super().__init__(daemon=True)
        self.number, self.port, self.secret, self.count = number, port, secret, count
        self.idempotency, self.start_line, self.floor = idempotency, start, floor
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, n: int, label: str) -> tuple[int, float]:
        body = json.dumps({"first_name": f"Bench{self.number}", "last_name": f"{label}{n}",
                           "email": f"{label}-{self.number}-{n}@bench.example", "company": "Benchmark Ltd",
                           "value": 1250.5, "utm_source": "bench", "utm_campaign": "api"})
        headers = {"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"}
        if self.idempotency:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        started = time.perf_counter()
        try:
            if self.floor:  # the reference: an authenticated read of six rows, no writes
                self.conn.request("GET", "/api/v1/stages", headers={"Authorization": headers["Authorization"]})
            else:
                self.conn.request("POST", "/api/v1/leads", body=body, headers=headers)
            response = self.conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return 0, time.perf_counter() - started
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()  # gunicorn's sync workers close after each answer; the next request reconnects
        return status, time.perf_counter() - started

    def run(self) -> None:
        expected = 200 if self.floor else 201
        for n in range(WARMUP_PER_CLIENT):
            status, _ = self.send(n, "warmup")
            if status != expected:
                self.errors.append(f"warm-up answered {status}")
        self.start_line.wait()
        for n in range(self.count):
            status, elapsed = self.send(n, "lead")
            self.latencies.append(elapsed)
            if status != expected:
                self.errors.append(f"answered {status}")
        self.conn.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def drive(args, port: int, secret: str, floor: bool = False) -> tuple[float, list[float], list[str]]:
    """All clients at once, each sending its share; returns the wall time, every latency and every error."""
    per_client = [args.requests // args.clients + (1 if i < args.requests % args.clients else 0)
                  for i in range(args.clients)]
    start = threading.Barrier(args.clients + 1)
    clients = [Client(i, port, secret, count, args.idempotency_keys, start, floor)
               for i, count in enumerate(per_client)]
    for client in clients:
        client.start()
    start.wait()
    began = time.perf_counter()
    for client in clients:
        client.join()
    wall = time.perf_counter() - began
    return (wall, [lat for client in clients for lat in client.latencies],
            [error for client in clients for error in client.errors])


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="leadboard-api-bench-"))
    if args.db == "postgresql":
        url = args.postgres_url
        prepare_postgres(url)
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    env = {**os.environ, "DATABASE_URL": url, "LEADBOARD_INSTANCE": str(tmp / "instance"),
           "SECRET_KEY": "api-bench-secret", "LEADBOARD_ENV": "development", "REDIS_URL": args.redis_url or ""}
    flask(env, "db", "upgrade")
    subprocess.run([sys.executable, "-c", "from app import create_app\nfrom app.services.stages import "
                    "ensure_default_pipeline\nwith create_app().app_context(): ensure_default_pipeline()"],
                   cwd=ROOT, env=env, check=True)
    secret = flask(env, "create-api-key", "bench").strip().splitlines()[-1]

    port = free_port()
    factory = "app:create_app({'API_RATE_LIMIT': '1000000 per minute'})"
    server = subprocess.Popen([str(BIN / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                               "--log-level", "warning", factory], cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_until_up(port, server)
        load_before = os.getloadavg()[0]
        wall, latencies, errors = drive(args, port, secret)
        load_after = os.getloadavg()[0]
        floor_wall, floor_latencies, floor_errors = drive(args, port, secret, floor=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # gunicorn and its workers: the session we started
        server.wait(timeout=30)
    from sqlalchemy import create_engine, text
    engine = create_engine(url)
    with engine.connect() as conn:
        leads = conn.scalar(text("SELECT count(*) FROM leads"))
        created_entries = conn.scalar(text("SELECT count(*) FROM timeline_entries WHERE kind = 'created'"))
        records = conn.scalar(text("SELECT count(*) FROM idempotency_records WHERE status_code = 201"))
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    expected = args.requests + args.clients * WARMUP_PER_CLIENT
    result = {
        "db": args.db, "requests": args.requests, "clients": args.clients, "workers": args.workers,
        "idempotency_keys": args.idempotency_keys, "rate_limit_storage": "redis" if args.redis_url else "memory",
        "wall_s": round(wall, 2), "requests_per_s": round(args.requests / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1), "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1), "max_ms": round(max(latencies) * 1000, 1),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 1), "errors": len(errors),
        "leads_in_db": leads, "expected_leads": expected, "created_entries": created_entries,
        "idempotency_records": records,
        # The same clients reading GET /api/v1/stages on the same server right after: what the
        # machine gives a request that writes nothing, to read the figures above against.
        "floor_requests_per_s": round(args.requests / floor_wall, 1),
        "floor_p50_ms": round(percentile(floor_latencies, 50) * 1000, 1),
        "floor_p95_ms": round(percentile(floor_latencies, 95) * 1000, 1),
        "floor_errors": len(floor_errors),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        # The 1-minute load average around the run: anything else busy on the machine shows here.
        "load_average": [round(load_before, 2), round(load_after, 2)],
    }
    if errors:
        result["first_errors"] = sorted(set(errors))[:5]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idempotency-keys", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--redis-url", default="", help="keep rate-limit counters in this Redis (default: memory)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if not 1 <= args.clients <= args.requests:
        raise SystemExit("--clients must be between 1 and --requests")
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    ok = (result["errors"] == result["floor_errors"] == 0
          and result["leads_in_db"] == result["expected_leads"] == result["created_entries"])
    if not ok:
        raise SystemExit("FAILED: errors, or the database does not hold exactly one lead per request")


if __name__ == "__main__":
    main()
