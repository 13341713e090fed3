"""Email pipeline benchmark: book N appointments, deliver their invitations with real RQ workers to a local SMTP server.

    python bench/bench_email.py [--db sqlite|postgresql] [--emails 1000] [--workers 1,2]
                                [--modes live[,backlog][,nurture][,priority]] [--rate 0] [--bookings 200]
                                [--breakdown 100] [--postgres-url URL] [--redis-url URL]
                                [--timeout 300] [--json FILE] [--keep]

Each run gets a fresh database built by the migrations (SQLite: a file in a temporary directory;
PostgreSQL: the bench_email database, its public schema dropped and recreated), the default
pipeline, one user and N leads with email addresses. An aiosmtpd server listens on 127.0.0.1 in a
child process of this script and writes down, per message, the time it arrived and its Message-ID
(the outbox row's), so every arrival maps back to its booking. W `worker.py` processes (not burst:
RQ worker with scheduler, sweeper thread) get DATABASE_URL, REDIS_URL, SMTP_URL and SECRET_KEY.

  live     the workers start (and register in Redis) first; then this process books N appointments
           with app.services.appointments.book_appointment, one after another (as fast as it can, or
           --rate per second). Each booking writes the appointment and its invitation's outbox row in
           one transaction; the row is enqueued to RQ after the commit. Emails/s is
           N / (last arrival - first booking started); latency is arrival - the moment
           book_appointment returned (committed and enqueued).
  backlog  all N are booked (and enqueued) with no worker running; then the W workers start. Emails/s
           is N / (last arrival - workers started), including their start-up (~1 s), and
           (N - 1) / (last arrival - first arrival) without it: pure delivery throughput.
  nurture  N nurture emails (one per lead, a plain HTML newsletter) are written 1,000 to a transaction, as
           a sequence step due for every lead at once; each commit enqueues its rows as batch jobs;
           then the W workers start. Emails/s as in backlog mode.
  priority the nurture backlog, then, once the workers are up, --bookings appointments booked at --rate
           per second (10 unless given) while the backlog drains: the invitations' booking-to-inbox
           latency (they go on the urgent queue), and how much of the backlog had arrived by the last booking.

Every run waits (at most --timeout s) for all N messages, waits one more second for duplicates,
then checks each Message-ID arrived exactly once, with its .ics, and every outbox row is `sent`
after one attempt.
From the RQ job records (kept in Redis) it reports how long jobs waited in the queue, how long each
ran inside its work horse, and the gap between one job's end and the next one's start on a worker.

--breakdown K then times deliveries without RQ against the same SMTP server, K each way: the job
function app.jobs.email.deliver() in a fresh fork() of this process (as in an RQ work horse),
outbox.deliver() on a warm session, the job function in the warm process, and in a fork of the warm
process; each split into claim / build message / sending over SMTP / the rest. Then, K times each:
ssl.create_default_context(), an SMTP connection with no message, a fork() of this process, a new
database connection, and enqueueing one job with a new Redis client (as app.queue does) or a reused one.

Redis: a throwaway `redis-server --save ''` on a free loopback port, stopped at the end, unless
--redis-url names one (its database is flushed; 14 and 15 belong to the test suite and are refused).
All traffic stays on 127.0.0.1. See bench/README.md, "Email pipeline".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_email"
SECRET = "bench-email-secret"
MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*(<[^>\r\n]+>)")
GRACE_S = 1.0  # after the last expected message, how long to keep listening for duplicates


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (as bench_api.py)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# --- the SMTP server (a child process, so this process's booking loop cannot delay its replies) ------


def sink_main(port: int, out_path: str) -> None:
    """Accept every message on 127.0.0.1:port; append "arrival time, Message-ID, has .ics" per message."""
    from aiosmtpd.controller import Controller
    out = open(out_path, "a", buffering=1)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            arrived = time.time()
            content = envelope.original_content or envelope.content
            found = MESSAGE_ID.search(content)
            message_id = found.group(1).decode() if found else "-"
            out.write(f"{arrived:.6f}\t{message_id}\t{int(b'text/calendar' in content)}\n")
            return "250 OK"

    # server_hostname: otherwise every connection asks socket.getfqdn() for the greeting.
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, server_hostname="bench-sink.localhost")
    controller.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()
    out.close()


class Sink:
    """The SMTP server process and its arrivals file."""

    def __init__(self, work: Path):
        self.port = free_port()
        self.path = work / "arrivals.tsv"
        self.path.touch()
        self.process = subprocess.Popen([sys.executable, __file__, "--sink", "--port", str(self.port),
                                         "--out", str(self.path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("the SMTP server did not start")
        self.offset = 0

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def mark(self) -> None:
        """Later reads see only messages that arrive from now on."""
        self.offset = self.path.stat().st_size

    def count(self) -> int:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            return f.read().count(b"\n")

    def arrivals(self) -> list[tuple[float, str, bool]]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            lines = f.read().decode().splitlines()
        return [(float(t), mid, flag == "1") for t, mid, flag in (line.split("\t") for line in lines)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# --- Redis and the database ----------------------------------------------------------------------


class OwnRedis:
    """A throwaway redis-server on a free loopback port, nothing saved to disk."""

    def __init__(self, work: Path):
        binary = shutil.which("redis-server")
        if not binary:
            raise SystemExit("redis-server is not on PATH; pass --redis-url redis://127.0.0.1:6379/9 instead")
        self.port = free_port()
        self.process = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", str(work)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        from redis import Redis, RedisError
        deadline = time.monotonic() + 10
        while True:
            try:
                Redis.from_url(self.url, socket_connect_timeout=1).ping()
                return
            except RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("the throwaway redis-server did not start")
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def check_redis_url(url: str) -> None:
    number = urlsplit(url).path.lstrip("/") or "0"
    if number in {"14", "15"}:
        raise SystemExit(f"Redis database {number} belongs to the test suite; pick another (it gets flushed)")


def prepare_postgres(url: str) -> None:
    """Create the benchmark database if missing."""
    from sqlalchemy import create_engine, text
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if name == "test":
        raise SystemExit("refusing database 'test': the test suite rebuilds it; use e.g. bench_email")
    admin = create_engine(urlunsplit(parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def fresh_database(url: str, instance: Path) -> None:
    """Empty schema (PostgreSQL) or new file (SQLite), then the migrations, as tests/conftest.py migrate_fresh."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, text
    from app import create_app
    from app.extensions import db
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": SECRET,
                      "LEADBOARD_ENV": "testing"})
    with app.app_context():
        upgrade()
        db.engine.dispose()


def make_app(url: str, instance: Path, redis_url: str, smtp_url: str):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": SECRET,
                       "LEADBOARD_ENV": "testing", "REDIS_URL": redis_url, "SMTP_URL": smtp_url})


def seed(count: int) -> tuple[int, list[int]]:
    """The default pipeline, one user, `count` leads in the first stage with email addresses (own transaction)."""
    from app.services import atomic
    from app.services.leads import clean_fields, insert_lead
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    from app.models import Role
    ensure_default_pipeline()
    user = create_user("booker@example.com", "bench email booker horse battery", role=Role.admin.value,
                       name="Bench Booker")
    user_id = user.id
    ids = []
    with atomic():
        for i in range(count):
            lead = insert_lead(clean_fields({"first_name": "Prospect", "last_name": f"No. {i}",
                                             "email": f"prospect{i}@example.com", "company": "Benchmark Ltd"}),
                               user_id, owner_id=user_id, via="bench")
            ids.append(lead.id)
    return user_id, ids


def book(lead_ids: list[int], user_id: int, rate: float) -> tuple[dict[int, tuple[float, float]], list[float]]:
    """Book one appointment per lead, like one web request each; {appointment id: (started, returned)}.

    Also returns how long each after-commit enqueue took (wrapping outbox.enqueue_batch, which the
    hook looks up at call time)."""
    from sqlalchemy import inspect
    from app.extensions import db
    from app.services import outbox
    from app.services.appointments import book_appointment
    enqueue_s: list[float] = []
    original = outbox.enqueue_batch

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            enqueue_s.append(time.perf_counter() - started)

    outbox.enqueue_batch = timed
    booked = {}
    first = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    began = time.time()
    try:
        for i, lead_id in enumerate(lead_ids):
            if rate:
                delay = began + i / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
            started = time.time()
            appointment = book_appointment(lead_id, user_id, starts_at=first + timedelta(minutes=30 * i),
                                           duration_minutes=30, location="Bench office")
            returned = time.time()
            booked[inspect(appointment).identity[0]] = (started, returned)  # no reload after the commit
            db.session.remove()  # a fresh session per booking, as per web request
    finally:
        outbox.enqueue_batch = original
    return booked, enqueue_s


# --- workers ------------------------------------------------------------------------------------


class Workers:
    def __init__(self, count: int, env: dict, logs: Path, redis_url: str):
        from redis import Redis
        self.redis = Redis.from_url(redis_url)
        self.logs = [logs / f"worker-{i + 1}.log" for i in range(count)]
        self.started = time.time()
        # Each in its own session (process group), so its scheduler child stops with it.
        self.processes = [subprocess.Popen([sys.executable, "worker.py", "--name", f"bench-{i + 1}"], cwd=ROOT,
                                           env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                           start_new_session=True)
                          for i, log in enumerate(self.logs)]

    def registered(self) -> bool:
        from rq import Worker
        return Worker.count(connection=self.redis) >= len(self.processes)

    def wait_registered(self, timeout: float = 60) -> float:
        """Block until every worker has registered in Redis (it sweeps first); seconds since start."""
        deadline = time.monotonic() + timeout
        while not self.registered():
            self.check_alive()
            if time.monotonic() > deadline:
                raise SystemExit(f"workers did not register within {timeout:.0f} s\n{self.tail()}")
            time.sleep(0.02)
        return time.time() - self.started

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise SystemExit(f"a worker exited with status {process.returncode}\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
                         for log in self.logs)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # warm shutdown of the worker and its scheduler
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.redis.close()


def job_stats(redis_url: str, outbox_ids: list[int]) -> dict:  # noqa: ARG001 (every delivery job counts)
    """From RQ's job records: queue wait, time inside the work horse, and the gap between jobs on a worker."""
    from redis import Redis
    from rq.job import Job
    from rq.serializers import JSONSerializer
    from app.services.outbox import job_id
    from rq import Queue
    from app.queue import QUEUES
    redis = Redis.from_url(redis_url)
    # Every delivery job that finished (single rows and batches alike), from RQ's finished registries.
    ids = [i for name in QUEUES for i in Queue(name, connection=redis).finished_job_registry.get_job_ids()]
    jobs = [job for job in Job.fetch_many(ids, connection=redis, serializer=JSONSerializer)
            if job is not None and job.id.startswith("outbox-")]
    redis.close()
    done = [job for job in jobs if job.started_at and job.ended_at and job.enqueued_at]
    if not done:
        return {"jobs": len(jobs)}
    wait = [(j.started_at - j.enqueued_at).total_seconds() for j in done]
    run = [(j.ended_at - j.started_at).total_seconds() for j in done]
    gaps = []
    per_worker: dict[str, list] = {}
    for job in done:
        per_worker.setdefault(job.worker_name or "?", []).append(job)
    for mine in per_worker.values():
        mine.sort(key=lambda j: j.started_at)
        gaps += [(b.started_at - a.ended_at).total_seconds() for a, b in zip(mine, mine[1:])]
    return {"jobs": len(jobs), "queue_wait_p50_ms": ms(percentile(wait, 50)), "queue_wait_p95_ms": ms(percentile(wait, 95)),
            "in_job_p50_ms": ms(percentile(run, 50)), "in_job_p95_ms": ms(percentile(run, 95)),
            "between_jobs_p50_ms": ms(percentile(gaps, 50)) if gaps else None,
            "jobs_per_worker": sorted(len(v) for v in per_worker.values())}


# --- one run ------------------------------------------------------------------------------------


def run_once(args, mode: str, workers: int, work: Path, sink: Sink, redis_url: str) -> dict:
    from redis import Redis
    from sqlalchemy import select
    from app.extensions import db
    from app.models import OutboxEmail
    label = f"{mode}-{workers}w"
    run_dir = work / label
    run_dir.mkdir()
    url = args.postgres_url if args.db == "postgresql" else f"sqlite:///{run_dir / 'bench.db'}"
    fresh_database(url, run_dir / "instance")
    with Redis.from_url(redis_url) as redis:
        redis.flushdb()
    sink.mark()
    app = make_app(url, run_dir / "instance", redis_url, sink.url)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "DATABASE_URL": url,
           "REDIS_URL": redis_url, "SMTP_URL": sink.url, "SECRET_KEY": SECRET,
           "LEADBOARD_INSTANCE": str(run_dir / "worker-instance")}
    result = {"db": args.db, "mode": mode, "workers": workers, "emails": args.emails, "rate": args.rate or None}
    pool = None
    with app.app_context():
        user_id, lead_ids = seed(args.emails)
        db.session.remove()
        try:
            if mode == "live":
                pool = Workers(workers, env, run_dir, redis_url)
                result["worker_startup_s"] = round(pool.wait_registered(), 2)
                load_before = os.getloadavg()[0]
                booked, enqueue_s = book(lead_ids, user_id, args.rate)
                start = min(s for s, _ in booked.values())
            else:
                load_before = os.getloadavg()[0]
                booked, enqueue_s = book(lead_ids, user_id, args.rate)
                with Redis.from_url(redis_url) as redis:
                    result["queued_before_workers"] = redis.llen("rq:queue:default")
                pool = Workers(workers, env, run_dir, redis_url)
                start = pool.started
            booking_s = [r - s for s, r in booked.values()]
            result.update(booked_in_s=round(max(r for _, r in booked.values()) - min(s for s, _ in booked.values()), 2),
                          booking_p50_ms=ms(percentile(booking_s, 50)), booking_p95_ms=ms(percentile(booking_s, 95)),
                          enqueue_p50_ms=ms(percentile(enqueue_s, 50)) if enqueue_s else None)
            deadline = time.monotonic() + args.timeout
            while sink.count() < args.emails and time.monotonic() < deadline:
                pool.check_alive()
                if "worker_startup_s" not in result and pool.registered():
                    result["worker_startup_s"] = round(time.time() - pool.started, 2)
                time.sleep(0.05)
            time.sleep(GRACE_S)
            arrivals = sink.arrivals()
            load_after = os.getloadavg()[0]
        finally:
            if pool is not None:
                pool.stop()
        worker_tail = pool.tail(5) if pool is not None else ""

        rows = db.session.execute(select(OutboxEmail.id, OutboxEmail.appointment_id, OutboxEmail.message_id,
                                         OutboxEmail.state, OutboxEmail.attempts, OutboxEmail.transport)).all()
        db.session.remove()
        db.engine.dispose()

    by_message = {r.message_id: r for r in rows}
    seen = Counter(mid for _, mid, _ in arrivals)
    first_arrival: dict[str, float] = {}
    for arrived, mid, _ in arrivals:
        first_arrival.setdefault(mid, arrived)
    latencies = [first_arrival[r.message_id] - booked[r.appointment_id][1] for r in rows
                 if r.message_id in first_arrival and r.appointment_id in booked]
    delivered = [first_arrival[r.message_id] for r in rows if r.message_id in first_arrival]
    last = max(delivered) if delivered else None
    result.update(
        outbox_rows=len(rows), arrived=len(arrivals), distinct_arrived=sum(1 for m in seen if m in by_message),
        duplicates=sum(n - 1 for n in seen.values() if n > 1), unknown=sum(1 for m in seen if m not in by_message),
        missing=sum(1 for r in rows if r.message_id not in seen), without_ics=sum(1 for *_, ics in arrivals if not ics),
        states=dict(Counter(r.state for r in rows)), retried=sum(1 for r in rows if r.attempts > 1),
        transport=dict(Counter(r.transport for r in rows)),
        load_average=[round(load_before, 2), round(load_after, 2)])
    result["exactly_once"] = (result["outbox_rows"] == result["distinct_arrived"] == result["arrived"] == args.emails
                              and not result["duplicates"] and not result["unknown"] and not result["without_ics"]
                              and result["states"] == {"sent": args.emails} and not result["retried"])
    if last is not None:
        span = last - start
        result.update(span_s=round(span, 2), emails_per_s=round(len(delivered) / span, 1))
        if len(delivered) > 1:
            result["steady_emails_per_s"] = round((len(delivered) - 1) / (last - min(delivered)), 1)
    if mode == "live" and latencies:
        result.update(latency_p50_ms=ms(percentile(latencies, 50)), latency_p95_ms=ms(percentile(latencies, 95)),
                      latency_max_ms=ms(max(latencies)))
    result.update(job_stats(redis_url, [r.id for r in rows]))
    if not result["exactly_once"]:
        result["worker_log_tail"] = worker_tail
    return result


# --- nurture: a sequence step due for N leads at once, and appointments booked under that backlog ---------

NURTURE_HTML = ("<p>Hello {name},</p>" + "<p>" + "Here is what teams like yours did with their leads this month. " * 12
                + "</p><p>Best regards,<br>The Bench team</p>")


def queue_nurture(lead_ids: list[int], chunk: int = 1000) -> None:
    """One nurture email per lead, written `chunk` to a transaction (as a sequence step due for every
    lead would be); each commit enqueues its rows as batch jobs."""
    from app.services import atomic, outbox
    for start in range(0, len(lead_ids), chunk):
        with atomic():
            for n, lead_id in enumerate(lead_ids[start:start + chunk], start):
                name = f"Prospect No. {n}"
                outbox.queue_email(kind="nurture", to_address=f"prospect{n}@example.com", to_name=name,
                                   subject="Three ideas for your pipeline", lead_id=lead_id,
                                   text_body=NURTURE_HTML.format(name=name).replace("<p>", "\n").replace("</p>", ""),
                                   html_body=NURTURE_HTML.format(name=name))


def run_nurture(args, mode: str, workers: int, work: Path, sink: Sink, redis_url: str) -> dict:
    """`nurture`: N nurture emails queued (no worker running), then W workers start; emails/s.
    `priority`: the same backlog, and once the workers are up, --bookings appointments booked at
    --rate per second (10 unless given); booking-to-inbox latency of their invitations."""
    from redis import Redis
    from sqlalchemy import select
    from app.extensions import db
    from app.models import OutboxEmail
    from app.queue import QUEUES
    label = f"{mode}-{workers}w"
    run_dir = work / label
    run_dir.mkdir()
    url = args.postgres_url if args.db == "postgresql" else f"sqlite:///{run_dir / 'bench.db'}"
    fresh_database(url, run_dir / "instance")
    with Redis.from_url(redis_url) as redis:
        redis.flushdb()
    sink.mark()
    app = make_app(url, run_dir / "instance", redis_url, sink.url)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "DATABASE_URL": url,
           "REDIS_URL": redis_url, "SMTP_URL": sink.url, "SECRET_KEY": SECRET,
           "LEADBOARD_INSTANCE": str(run_dir / "worker-instance")}
    bookings = args.bookings if mode == "priority" else 0
    rate = (args.rate or 10) if mode == "priority" else None
    result = {"db": args.db, "mode": mode, "workers": workers, "emails": args.emails, "rate": rate,
              "bookings": bookings}
    pool = None
    with app.app_context():
        user_id, lead_ids = seed(args.emails + bookings)
        db.session.remove()
        started = time.time()
        queue_nurture(lead_ids[:args.emails])
        result["queued_in_s"] = round(time.time() - started, 2)
        with Redis.from_url(redis_url) as redis:
            result["jobs_queued"] = {name: redis.llen(f"rq:queue:{name}") for name in QUEUES}
        db.session.remove()
        load_before = os.getloadavg()[0]
        import resource
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            pool = Workers(workers, env, run_dir, redis_url)
            booked = {}
            if bookings:
                result["worker_startup_s"] = round(pool.wait_registered(), 2)
                booked, _ = book(lead_ids[args.emails:], user_id, rate)
                result["nurture_arrived_by_last_booking"] = sink.count() - len(booked)
            total = args.emails + bookings
            deadline = time.monotonic() + args.timeout
            while sink.count() < total and time.monotonic() < deadline:
                pool.check_alive()
                time.sleep(0.05)
            time.sleep(GRACE_S)
            arrivals = sink.arrivals()
            load_after = os.getloadavg()[0]
        finally:
            if pool is not None:
                pool.stop()
        # The workers' CPU time (their work horses' included: each worker waits for its own), so a
        # figure that does not depend on what else the machine was doing: emails per CPU-second.
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        result["worker_cpu_s"] = round(cpu, 2)
        worker_tail = pool.tail(5) if pool is not None else ""
        rows = db.session.execute(select(OutboxEmail.id, OutboxEmail.kind, OutboxEmail.appointment_id,
                                         OutboxEmail.message_id, OutboxEmail.state, OutboxEmail.attempts)).all()
        db.session.remove()
        db.engine.dispose()
    seen = Counter(mid for _, mid, _ in arrivals)
    by_message = {r.message_id: r for r in rows}
    first_arrival: dict[str, float] = {}
    for arrived, mid, _ in arrivals:
        first_arrival.setdefault(mid, arrived)
    delivered = sorted(first_arrival[r.message_id] for r in rows if r.message_id in first_arrival)
    result.update(
        outbox_rows=len(rows), arrived=len(arrivals), distinct_arrived=sum(1 for m in seen if m in by_message),
        duplicates=sum(n - 1 for n in seen.values() if n > 1), unknown=sum(1 for m in seen if m not in by_message),
        missing=sum(1 for r in rows if r.message_id not in seen), states=dict(Counter(r.state for r in rows)),
        retried=sum(1 for r in rows if r.attempts > 1), load_average=[round(load_before, 2), round(load_after, 2)])
    total = args.emails + bookings
    result["exactly_once"] = (result["outbox_rows"] == result["distinct_arrived"] == result["arrived"] == total
                              and not result["duplicates"] and not result["unknown"]
                              and result["states"] == {"sent": total} and not result["retried"])
    if delivered:
        span = delivered[-1] - pool.started
        result.update(span_s=round(span, 2), emails_per_s=round(len(delivered) / span, 1))
        if len(delivered) > 1:
            result["steady_emails_per_s"] = round((len(delivered) - 1) / (delivered[-1] - delivered[0]), 1)
    if result["worker_cpu_s"] > 0:
        result["emails_per_worker_cpu_s"] = round(len(delivered) / result["worker_cpu_s"], 1)
    if bookings:
        latencies = [first_arrival[r.message_id] - booked[r.appointment_id][1] for r in rows
                     if r.kind == "appointment_invite" and r.message_id in first_arrival]
        if latencies:
            result.update(latency_p50_ms=ms(percentile(latencies, 50)), latency_p95_ms=ms(percentile(latencies, 95)),
                          latency_max_ms=ms(max(latencies)))
        result["booked_in_s"] = round(max(r for _, r in booked.values()) - min(s for s, _ in booked.values()), 2)
    result.update(job_stats(redis_url, []))
    if not result["exactly_once"]:
        result["worker_log_tail"] = worker_tail
    return result


# --- in-process breakdown of one delivery -----------------------------------------------------------


def breakdown(args, work: Path, sink: Sink, redis_url: str) -> dict:
    """Time K deliveries four ways in this process (no RQ): where does one email's time go?

    1. cold: for each row, fork this process (which has not delivered anything yet) and run the job
       function app.jobs.email.deliver() in the child, as an RQ work horse does;
    2. warm: outbox.deliver() on a warm session, its parts timed by wrapping outbox._claim_many,
       outbox.build_message and outbox.Relay.send (deliver looks them up at call time);
    3. the job function in this (now warm) process: a fresh database connection each time;
    4. as 1, but forking this process now that it has delivered (its caches are warm)."""
    import logging
    import smtplib
    import ssl
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.pool import NullPool
    from app.extensions import db
    from app.jobs import email as email_job
    from app.models import OutboxEmail
    from app.services import outbox
    k = args.breakdown
    run_dir = work / "breakdown"
    run_dir.mkdir()
    url = args.postgres_url if args.db == "postgresql" else f"sqlite:///{run_dir / 'bench.db'}"
    fresh_database(url, run_dir / "instance")
    sink.mark()
    # No REDIS_URL: bookings leave their rows queued (the after-commit enqueue finds no queue and says so).
    app = make_app(url, run_dir / "instance", "", sink.url)
    logging.getLogger("app.services.outbox").setLevel(logging.ERROR)
    parts: dict[str, list[float]] = {"claim": [], "build": [], "smtp": []}
    originals = {name: getattr(outbox, name) for name in ("_claim_many", "build_message")}
    keys = {"_claim_many": "claim", "build_message": "build"}
    relay_send = outbox.Relay.send  # handing one message over a (kept) connection, connecting first if need be

    def timer(fn, key):
        def wrapped(*a, **kw):
            started = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                parts[key].append(time.perf_counter() - started)
        return wrapped

    def timed_delivery(call) -> dict:
        for key in parts:
            parts[key].clear()
        started = time.perf_counter()
        outcome = call()
        total = time.perf_counter() - started
        return {"total": total, "outcome": outcome, **{key: sum(v) for key, v in parts.items()}}

    with app.app_context():
        user_id, lead_ids = seed(4 * k)
        book(lead_ids, user_id, 0)
        ids = list(db.session.scalars(select(OutboxEmail.id).order_by(OutboxEmail.id)))
        db.session.remove()
        for name, fn in originals.items():
            setattr(outbox, name, timer(fn, keys[name]))
        outbox.Relay.send = timer(relay_send, "smtp")
        def in_fork(outbox_id: int) -> dict:
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: a copy of this process, as an RQ work horse is of its worker
                os.close(read)
                try:
                    found = timed_delivery(lambda: email_job.deliver(outbox_id))
                    os.write(write, json.dumps(found).encode())
                finally:
                    os._exit(0)
            os.close(write)
            with os.fdopen(read) as pipe:
                found = json.loads(pipe.read() or "{}")
            os.waitpid(pid, 0)
            return found

        cold, warm, job, warm_fork = [], [], [], []
        try:
            for outbox_id in ids[:k]:
                cold.append(in_fork(outbox_id))
            for outbox_id in ids[k:2 * k]:
                warm.append(timed_delivery(lambda: outbox.deliver(outbox_id).outcome))
                db.session.remove()
            for outbox_id in ids[2 * k:3 * k]:
                job.append(timed_delivery(lambda: email_job.deliver(outbox_id)))
            for outbox_id in ids[3 * k:]:
                warm_fork.append(in_fork(outbox_id))
        finally:
            for name, fn in originals.items():
                setattr(outbox, name, fn)
            outbox.Relay.send = relay_send

        def repeat(fn) -> list[float]:
            times = []
            for _ in range(k):
                started = time.perf_counter()
                fn()
                times.append(time.perf_counter() - started)
            return times

        def smtp_connection():  # connect, greeting, EHLO, QUIT
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
                client.ehlo()

        def fork():  # what an RQ Worker does per job before the job starts (here: an app-loaded process)
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)

        engine = create_engine(url, poolclass=NullPool)

        def connect():  # a new database connection and one statement (pool_pre_ping's SELECT 1)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        # Enqueueing one job, as the after-commit hook does (app.queue.enqueue: a new Redis client each
        # time), and on one reused client; to a queue no worker reads, deleted afterwards.
        from redis import Redis
        from rq import Queue
        from rq.serializers import JSONSerializer
        from app.queue import queue as app_queue
        reused = Queue("bench-probe", connection=Redis.from_url(redis_url), serializer=JSONSerializer)
        with _config(app, {"REDIS_URL": redis_url}):  # app.queue.enqueue is queue().enqueue(...)
            fresh_client = repeat(lambda: app_queue("bench-probe").enqueue("app.jobs.email.deliver", 0))
        one_client = repeat(lambda: reused.enqueue("app.jobs.email.deliver", 0))
        reused.connection.flushdb()
        reused.connection.close()

        others = {"ssl_default_context": repeat(ssl.create_default_context), "smtp_connect_ehlo_quit":
                  repeat(smtp_connection), "fork_of_this_process": repeat(fork), "new_db_connection": repeat(connect),
                  "enqueue_new_client": fresh_client, "enqueue_reused_client": one_client}
        engine.dispose()
        import resource
        rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        db.engine.dispose()

    def p(values):
        return {"p50_ms": ms(statistics.median(values)), "p95_ms": ms(percentile(values, 95))}

    result = {"k": k, "arrived": len(sink.arrivals()), "fork_process_rss_mb": rss_mb,
              "outcomes": dict(Counter(d.get("outcome") for d in cold + warm + job + warm_fork))}
    for name, runs in (("cold", cold), ("warm", warm), ("job", job), ("warm_fork", warm_fork)):
        result[name] = {key: p([d[key] for d in runs]) for key in ("total", "claim", "build", "smtp")}
        result[name]["rest"] = p([d["total"] - d["claim"] - d["build"] - d["smtp"] for d in runs])
    result.update({name: p(times) for name, times in others.items()})
    return result


@contextmanager
def _config(app, values: dict):
    saved = {key: app.config.get(key) for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(saved)


# --- output -------------------------------------------------------------------------------------


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_table(results: list[dict]) -> None:
    head = ["db", "mode", "W", "emails", "booked in s", "delivered by s", "emails/s", "steady emails/s",
            "p50 ms", "p95 ms", "max ms", "queue wait p50", "in job p50", "between jobs p50", "exactly once",
            "load"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 5) + [":---:", "---"]) + "|")
    for r in results:
        cells = [r["db"], r["mode"] + (f" @{r['rate']:g}/s" if r.get("rate") else ""), r["workers"], r["emails"],
                 r.get("booked_in_s"), r.get("span_s"), r.get("emails_per_s"), r.get("steady_emails_per_s"),
                 r.get("latency_p50_ms"), r.get("latency_p95_ms"), r.get("latency_max_ms"),
                 r.get("queue_wait_p50_ms"), r.get("in_job_p50_ms"), r.get("between_jobs_p50_ms"),
                 "yes" if r["exactly_once"] else "**NO**", "–".join(f"{x:.1f}" for x in r["load_average"])]
        print("| " + " | ".join(fmt(c) for c in cells) + " |")


def print_breakdown(b: dict) -> None:
    print(f"\nIn-process, {b['k']} deliveries each way (no RQ), p50 / p95 ms; outcomes {b['outcomes']}, "
          f"{b['arrived']} messages arrived:")
    print(f"  {'':<62}{'total':>16}{'claim':>16}{'build message':>16}{'SMTP send':>16}{'the rest':>16}")
    labels = {"cold": "job function in a fresh fork of a process that never delivered",
              "warm": "outbox.deliver(), warm session and connection pool",
              "job": "job function, warm process (fresh DB connection each time)",
              "warm_fork": "job function in a fresh fork of this process after delivering"}
    for name, label in labels.items():
        cells = "".join(f"{b[name][key]['p50_ms']:>8} / {b[name][key]['p95_ms']:<5}"
                        for key in ("total", "claim", "build", "smtp", "rest"))
        print(f"  {label:<62}{cells}")
    for key, label in (("ssl_default_context", "ssl.create_default_context()"),
                       ("smtp_connect_ehlo_quit", "SMTP connection only (connect, EHLO, QUIT)"),
                       ("fork_of_this_process", f"fork() + exit + wait of this process ({b['fork_process_rss_mb']} MB RSS)"),
                       ("new_db_connection", "new database connection + SELECT 1"),
                       ("enqueue_new_client", "enqueue one job, app.queue.enqueue (new Redis client each time)"),
                       ("enqueue_reused_client", "enqueue one job on one reused Redis client")):
        print(f"  {label:<62}{b[key]['p50_ms']:>8} / {b[key]['p95_ms']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts, one run each (default 1,2)")
    parser.add_argument("--modes", default="live", help="live, backlog or both: live,backlog (default live)")
    parser.add_argument("--rate", type=float, default=0, help="live mode: bookings per second (default: as fast as "
                        "possible); priority mode: default 10")
    parser.add_argument("--bookings", type=int, default=200, help="priority mode: appointments booked under the backlog")
    parser.add_argument("--breakdown", type=int, default=100, help="deliveries to time in-process (0: skip)")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--redis-url", default="", help="use this Redis (flushed!) instead of a throwaway redis-server")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for all messages per run")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, worker logs)")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        return sink_main(args.port, args.out)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    if not set(modes) <= {"live", "backlog", "nurture", "priority"} or not counts or min(counts) < 1 or args.emails < 1:
        raise SystemExit("--modes takes live, backlog, nurture, priority; --workers and --emails must be positive")

    work = Path(tempfile.mkdtemp(prefix="bench-email-"))
    own_redis = None
    if args.redis_url:
        check_redis_url(args.redis_url)
        redis_url = args.redis_url
    else:
        own_redis = OwnRedis(work)
        redis_url = own_redis.url
    if args.db == "postgresql":
        prepare_postgres(args.postgres_url)
    sink = Sink(work)
    results, detail = [], None
    machine = (f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
               f"{os.cpu_count()} CPUs")
    try:
        for workers in counts:
            for mode in modes:
                run = run_nurture if mode in ("nurture", "priority") else run_once
                result = run(args, mode, workers, work, sink, redis_url)
                results.append(result)
                print(json.dumps({k: v for k, v in result.items() if k != "worker_log_tail"}), flush=True)
                if result.get("worker_log_tail"):
                    print(result["worker_log_tail"], flush=True)
        if args.breakdown:
            detail = breakdown(args, work, sink, redis_url)
            print(json.dumps(detail), flush=True)
    finally:
        sink.stop()
        if own_redis:
            own_redis.stop()
    print(f"\n{machine}; database {args.db}; 1-minute load average before–after each run in the last column")
    print_table(results)
    if detail:
        print_breakdown(detail)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "runs": results, "breakdown": detail}, indent=2) + "\n")
    if args.keep:
        print(f"\nkept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if not all(r["exactly_once"] for r in results):
        raise SystemExit("FAILED: some message did not arrive exactly once, or a row is not sent after one attempt")


if __name__ == "__main__":
    main()
