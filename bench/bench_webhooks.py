"""Webhook delivery benchmark: N deliveries sent by real RQ workers to a local HTTP receiver.

    python bench/bench_webhooks.py [--db sqlite|postgresql] [--deliveries 2000] [--workers 1,2]
                                   [--modes spread,chains] [--chain-leads 10] [--postgres-url URL]
                                   [--redis-url URL] [--timeout 300]

Each run gets a fresh database built by the migrations (SQLite: a file in a temporary directory;
PostgreSQL: the bench_webhooks database, its public schema dropped and recreated), the default
pipeline, one admin and one endpoint (allowing private addresses) pointing at a receiver on
127.0.0.1: a ThreadingHTTPServer in this process that checks every signature and notes when each
delivery arrived. The deliveries are written with no worker running (a backlog), then W `worker.py`
processes start (RQ worker with scheduler and sweeper, LEADBOARD_ENV=development for plain http).

  spread  N new leads, 1,000 to a transaction through capture.NewLeads (an import's batch): one
          lead.created delivery each, written set-based, enqueued 50 to a job after each commit.
  chains  N lead.updated events over --chain-leads leads (update_lead, one transaction each): each
          lead's deliveries must go in order, one after another, whatever the workers.

Deliveries/s is N / (last arrival - workers started), and (N - 1) / (last arrival - first arrival)
without their start-up. Every run then checks each delivery arrived exactly once, signed, every row
is delivered, and (chains) each lead's deliveries arrived in the order they were written.

Redis: a throwaway `redis-server --save ''` on a free loopback port unless --redis-url names one
(flushed; 14 and 15 belong to the test suite and are refused). See bench/README.md, "Webhooks".
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_email import OwnRedis, SECRET, Workers, check_redis_url, fresh_database, prepare_postgres  # noqa: E402


class Receiver:
    """Checks each delivery's signature and notes (arrival, delivery id, lead id, event id)."""

    def __init__(self, secret_box: dict):
        self.arrivals: list[tuple[float, int, str, str]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fields = dict(part.split("=", 1) for part in self.headers.get("Leadboard-Signature", "").split(","))
                expected = hmac.new(secret_box["secret"].encode(), fields.get("t", "").encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
                if not hmac.compare_digest(expected, fields.get("v1", "")):
                    receiver.bad_signatures += 1
                lead = body.split(b'"lead":{"id":', 1)[1].split(b",", 1)[0].decode() if b'"lead":{"id":' in body else ""
                receiver.arrivals.append((time.time(), int(self.headers["Leadboard-Delivery"]), lead,
                                          self.headers["Leadboard-Event-Id"]))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def make_app(url: str, instance: Path, redis_url: str):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": SECRET,
                       "LEADBOARD_ENV": "testing", "REDIS_URL": redis_url, "WEBHOOK_ALLOW_HTTP": True})


def write_spread(count: int, admin_id: int) -> None:
    from app.services import atomic, utcnow
    from app.services.capture import NewLeads, prepare
    for start in range(0, count, 1000):
        batch = NewLeads(via="import", actor_id=admin_id, stage_id=None, owner_id=None, now=utcnow())
        with atomic():
            for n in range(start, min(count, start + 1000)):
                batch.add(prepare({"first_name": f"Bench{n}", "email": f"bench{n}@example.com"}))
            batch.write()


def write_chains(count: int, leads: int, admin_id: int) -> None:
    from app.services.leads import create_lead, update_lead
    ids = [create_lead({"first_name": f"Chain{n}"}, admin_id).id for n in range(leads)]
    for n in range(count):
        update_lead(ids[n % leads], {"company": f"Company {n}"}, admin_id)


def run_once(args, mode: str, workers: int, work: Path, redis_url: str, receiver: Receiver, secret_box: dict) -> dict:
    from redis import Redis
    from sqlalchemy import func, select
    from app.extensions import db
    from app.models import WebhookDelivery
    from app.services import webhooks
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    Redis.from_url(redis_url).flushdb()
    url = args.postgres_url if args.db == "postgresql" else f"sqlite:///{work / f'{mode}-{workers}.db'}"
    instance = work / "instance"
    fresh_database(url, instance)
    receiver.arrivals.clear()
    receiver.bad_signatures = 0
    app = make_app(url, instance, redis_url)
    with app.app_context():
        ensure_default_pipeline()
        admin = create_user("bench@example.com", "correct horse battery staple", "admin", "Bench Admin")
        events = ["lead.created"] if mode == "spread" else ["lead.updated"]
        endpoint = webhooks.create_endpoint(webhooks.EndpointInput(receiver.url, events, allow_private=True), admin.id)
        secret_box["secret"] = endpoint.secret
        written = time.time()
        if mode == "spread":
            write_spread(args.deliveries, admin.id)
        else:
            write_chains(args.deliveries, args.chain_leads, admin.id)
        written = time.time() - written
        expected = db.session.scalar(select(func.count(WebhookDelivery.id)))
        db.session.remove()
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": url, "REDIS_URL": redis_url, "SECRET_KEY": SECRET,
           "LEADBOARD_INSTANCE": str(instance), "LEADBOARD_ENV": "development", "SWEEP_INTERVAL": "60"}
    pool = Workers(workers, env, work, redis_url)
    try:
        deadline = time.monotonic() + args.timeout
        while len(receiver.arrivals) < expected:
            pool.check_alive()
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(receiver.arrivals)} of {expected} arrived\n{pool.tail()}")
            time.sleep(0.05)
        time.sleep(1)  # any duplicate would arrive now
    finally:
        pool.stop()
    arrivals = sorted(receiver.arrivals)
    with app.app_context():
        states = dict(db.session.execute(select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)).all())
        db.session.remove()
        db.engine.dispose()
    in_order = True
    if mode == "chains":
        by_lead: dict[str, list[int]] = {}
        for _, delivery_id, lead, _ in arrivals:
            by_lead.setdefault(lead, []).append(delivery_id)
        in_order = all(ids == sorted(ids) for ids in by_lead.values())
    first, last = arrivals[0][0], arrivals[-1][0]
    return {"db": args.db, "mode": mode, "workers": workers, "deliveries": expected, "written_s": written,
            "per_s_with_start": expected / (last - pool.started), "per_s": (expected - 1) / max(last - first, 1e-9),
            "duplicates": len(arrivals) - len({a[1] for a in arrivals}), "bad_signatures": receiver.bad_signatures,
            "states": states, "in_order": in_order}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--modes", default="spread,chains")
    parser.add_argument("--chain-leads", type=int, default=10)
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_webhooks")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    if args.db == "postgresql":
        prepare_postgres(args.postgres_url)
    secret_box: dict = {"secret": ""}
    receiver = Receiver(secret_box)
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        work = Path(tmp)
        own = None
        if args.redis_url:
            check_redis_url(args.redis_url)
            redis_url = args.redis_url
        else:
            own = OwnRedis(work)
            redis_url = own.url
        try:
            print("| db | mode | workers | deliveries | written in | deliveries/s (with start-up) | deliveries/s | "
                  "duplicates | bad signatures | in order | states |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for mode in args.modes.split(","):
                for workers in [int(w) for w in args.workers.split(",")]:
                    r = run_once(args, mode, workers, work, redis_url, receiver, secret_box)
                    print(f"| {r['db']} | {r['mode']} | {r['workers']} | {r['deliveries']} | {r['written_s']:.1f} s | "
                          f"{r['per_s_with_start']:.0f} | {r['per_s']:.0f} | {r['duplicates']} | "
                          f"{r['bad_signatures']} | {'yes' if r['in_order'] else 'NO'} | {r['states']} |", flush=True)
        finally:
            receiver.stop()
            if own:
                own.stop()


if __name__ == "__main__":
    main()
