"""Start an RQ worker, with the scheduler, on the app's queues, and the outbox sweeper beside it.

    python worker.py            # work until stopped
    python worker.py --burst    # sweep once, work until the queues are empty, then exit (tests, cron)

It reads REDIS_URL (and DATABASE_URL, SECRET_KEY, SMTP_URL, ...) like the web app does.

Email jobs run in the worker's own process, with its warm database pool; every other job in a work
horse RQ forks for it (LeadboardWorker says why).

The sweeper re-enqueues outbox rows that a Redis outage or a killed worker left behind and writes
due reminders. It runs once at start and then every SWEEP_INTERVAL seconds in a thread; a Redis lock
lets one worker of many sweep each interval (a sweep twice over is harmless, only wasted).

A Redis outage stops nothing for good: started while Redis is away, or losing it mid-job, the process
waits for Redis with backoff (the sweeper keeps reclaiming rows meanwhile), lets a job in flight
finish, and starts a fresh RQ worker once Redis answers. Only a signal (or --burst with the queues
drained) ends it."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time

from redis import RedisError
from flask import g
from rq import Queue, Worker
from rq.scheduler import RQScheduler
from rq.worker import WorkerStatus
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT, DEFAULT_WORKER_TTL
from rq.serializers import JSONSerializer

from app import create_app
from app.extensions import db
from app.jobs.email import IN_WORKER
from app.services.api_keys import purge_expired_idempotency
from app.services.appointments import queue_due_reminders
from app.services.totals import fold as fold_totals
from app.services.outbox import sweep, tls_context
from app.services.webhooks import sweep as webhook_sweep
from app.services.scoring import sweep as sweep_scores
from app.services.sla import sweep as sla_sweep
from app.services.sequences import sweep as sequence_sweep
from app.services.automations import sweep as automation_sweep
from app.services.automation_backfill import sweep as requeue_automation_backfills
from app.services.report_figures import warm_watched as warm_reports
from app.services.sequence_bulk import sweep as requeue_sequence_runs
from app.services.imports import requeue_lost as requeue_lost_imports
from app.services.tasks import sweep as remind_tasks
from app.services.trash import purge_due as purge_trash
from app.services.digest import sweep as send_digests
from app.queue import QUEUES, connection

SWEEP_LOCK = "leadboard:sweeper"
IN_PROCESS = ("app.jobs.email.", "app.jobs.webhooks.")  # jobs the worker runs in its own process (see LeadboardWorker)
# Waiting for Redis: the first retry after half a second, doubling to at most ten seconds.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0
log = logging.getLogger("worker")
stopping = threading.Event()  # set by SIGINT/SIGTERM: finish the job in hand and exit


class LeadboardScheduler(RQScheduler):
    """RQ's scheduler process, which stops when the worker that forked it is gone. A worker killed
    outright (SIGKILL, the OOM killer) cannot stop its scheduler, which RQ leaves running for good,
    holding the scheduler lock and heartbeating for a worker that no longer exists."""

    _worker_pid: int | None = None

    def start(self):
        self._worker_pid = os.getpid()  # before the fork: the child compares its parent with it
        return super().start()

    def heartbeat(self):
        if self._worker_pid is not None and os.getppid() != self._worker_pid:
            self.log.warning("Scheduler: its worker is gone; stopping")
            self._stop_requested = True  # the loop stops and releases the locks before its next pass
            return
        super().heartbeat()


class LeadboardWorker(Worker):
    """RQ's worker, which also tells our loop that a stop was asked for, which looks for a lost
    Redis again within seconds (RQ's own wait grows to a minute), whose scheduler does not outlive
    it, and which runs email jobs itself rather than in a forked work horse.

    Email jobs are ours, each a few milliseconds an email and bounded by the row's lease and RQ's
    time-out (a SIGALRM here as in a horse). A fork and a cold start per job cost more than the job
    (~50 ms for an appointment email, which at 10 bookings a second let the urgent queue grow);
    in this process they keep the warm database pool, statement caches and TLS context. A worker
    killed mid-job leaves what a killed horse leaves: rows claimed and not yet sent, which the
    sweeper hands back after their lease; a row the relay took is recorded sent within a commit.
    Every other job still gets a work horse of its own."""

    max_connection_wait_time = BACKOFF_MAX
    app = None  # set by work(): the app whose context an in-process job runs in

    def in_process(self, job) -> bool:
        return self.app is not None and job.func_name.startswith(IN_PROCESS)

    def execute_job(self, job, queue):
        if not self.in_process(job):
            return super().execute_job(job, queue)
        # As RQ's SimpleWorker does, in our app context.
        execution = self.prepare_execution(job)
        with self.app.app_context():
            g.setdefault(IN_WORKER, True)
            self.perform_job(job, queue, execution)
        self.set_state(WorkerStatus.IDLE)

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        """No horse monitor heartbeats while a job runs in this process: the worker's key must outlive
        the job's whole time-out, as RQ's SimpleWorker's does."""
        if self.in_process(job):
            return int(job.timeout or DEFAULT_WORKER_TTL) + 60
        return super().get_heartbeat_ttl(job, working_time)

    def request_stop(self, signum, frame):
        stopping.set()
        super().request_stop(signum, frame)

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=DEFAULT_LOGGING_DATE_FORMAT,
                         log_format=DEFAULT_LOGGING_FORMAT):
        """RQ's own, with our scheduler class for the long-running process (RQ has no setting for it)."""
        if burst:  # no process: it enqueues what is due, in this one, and is done
            return super()._start_scheduler(burst, logging_level, date_format, log_format)
        self.scheduler = LeadboardScheduler(self.queues, connection=self.connection, logging_level=logging_level,
                                            date_format=date_format, log_format=log_format,
                                            serializer=self.serializer)
        self.scheduler.acquire_locks(auto_start=True)


def _stop_on_signals() -> None:
    """Between RQ workers (waiting for Redis), a signal ends the process at once."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())


def _wait_for_horse(worker: Worker) -> None:
    """A worker that lost Redis mid-job quits without its work horse, which is still sending: let it
    finish (its row's claim and lease guard the email), so no send is cut off or left a zombie."""
    if worker.horse_pid:
        try:
            os.waitpid(worker.horse_pid, 0)
        except ChildProcessError:
            pass


def _drained(redis) -> bool:
    try:
        return all(Queue(name, connection=redis).count == 0 for name in QUEUES)
    except RedisError:
        return False


def work(app, burst: bool, name: str | None) -> None:
    """Run RQ workers until a signal (or, with burst, until the queues are empty), riding out Redis
    outages: wait for Redis with backoff, work, and start a fresh worker when one quits on Redis."""
    delay = BACKOFF_FIRST
    while not stopping.is_set():
        with app.app_context():
            redis = connection()
        try:
            redis.ping()
        except RedisError as exc:
            log.warning("Redis is not answering (%s); trying again in %.1fs", exc, delay)
            stopping.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX)
            continue
        # A scheduler that Redis took down is started again at the next maintenance, within a minute.
        worker = LeadboardWorker(list(QUEUES), connection=redis, serializer=JSONSerializer, name=name,
                                 maintenance_interval=60)
        worker.app = app
        started = time.monotonic()
        try:
            worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
        except RedisError as exc:  # RQ's start-up and tear-down talk to Redis outside its own guard
            log.warning("The worker lost Redis (%s)", exc)
        finally:
            _stop_on_signals()
            _wait_for_horse(worker)
        if stopping.is_set() or (burst and _drained(redis)):
            return
        if time.monotonic() - started > 60:  # it had been working: Redis just went away
            delay = BACKOFF_FIRST
        log.warning("The worker stopped without being asked (Redis away?); starting another in %.1fs", delay)
        stopping.wait(delay)
        delay = min(delay * 2, BACKOFF_MAX)


# What every sweep does, side by side: each is its own transaction, and one failing (the database
# restarting, say) neither stops the others nor the worker; it is tried again next interval.
HOUSEKEEPING = (
    ("due appointment reminders", queue_due_reminders),
    ("outbox sweep", sweep),
    ("webhook deliveries sweep", webhook_sweep),
    ("expired idempotency keys", purge_expired_idempotency),
    ("board totals fold", fold_totals),
    ("scores the clock changes", sweep_scores),
    ("due task reminders", remind_tasks),
    # Before the digests: a digest lists the late first responses the escalation left with the person.
    ("first-response SLA escalations", sla_sweep),
    ("due sequence steps", sequence_sweep),
    ("automation waits that are over", automation_sweep),
    ("lost bulk enrolment runs", requeue_sequence_runs),
    ("lost automation applications", requeue_automation_backfills),
    ("lost imports", requeue_lost_imports),
    ("daily digests", send_digests),
    ("leads in the trash past their time", purge_trash),
    ("reports someone watches, kept warm", warm_reports),
)


def sweep_once(app) -> None:
    with app.app_context():
        for name, task in HOUSEKEEPING:
            try:
                task()
            except Exception:
                log.exception("The %s failed; trying again in %ss", name, app.config["SWEEP_INTERVAL"])
                db.session.rollback()
        db.session.remove()


def sweep_forever(app, stop: threading.Event) -> None:
    interval = app.config["SWEEP_INTERVAL"]
    while not stop.wait(interval):
        try:
            with app.app_context():
                mine = connection().set(SWEEP_LOCK, "1", nx=True, ex=max(1, int(interval * 0.9)))
        except RedisError:
            mine = True  # with Redis away the sweep can still reclaim rows; enqueueing waits for Redis
        if mine:
            sweep_once(app)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--name", help="worker name (default: generated)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    app = create_app()
    if app.config["SMTP_URL"]:
        # Once, here: email jobs run in this process, and any work horse RQ forks inherits it.
        tls_context()
    sweep_once(app)
    _stop_on_signals()
    if not args.burst:
        threading.Thread(target=sweep_forever, args=(app, stopping), name="outbox-sweeper", daemon=True).start()
    try:
        work(app, args.burst, args.name)
    finally:
        stopping.set()


if __name__ == "__main__":
    main()
