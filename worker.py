"""Start an RQ worker, with the scheduler, on the app's queues, and the outbox sweeper beside it.

    python worker.py            # work until stopped
    python worker.py --burst    # sweep once, work until the queues are empty, then exit (tests, cron)

It reads REDIS_URL (and DATABASE_URL, SECRET_KEY, SMTP_URL, ...) like the web app does.

The sweeper re-enqueues outbox rows that a Redis outage or a killed worker left behind and writes
due reminders. It runs once at start and then every SWEEP_INTERVAL seconds in a thread; a Redis lock
lets one worker of many sweep each interval (a sweep twice over is harmless, only wasted)."""
from __future__ import annotations

import argparse
import logging
import threading

from redis import RedisError
from rq import Worker
from rq.serializers import JSONSerializer

from app import create_app
from app.queue import QUEUES, connection

SWEEP_LOCK = "leadboard:sweeper"
log = logging.getLogger("worker")


def sweep_once(app) -> None:
    from app.services.outbox import sweep
    with app.app_context():
        try:
            sweep()
        except Exception:  # a sweep that fails (database restarting, say) is tried again next interval
            log.exception("The outbox sweep failed; trying again in %ss", app.config["SWEEP_INTERVAL"])
        finally:
            from app.extensions import db
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
        # RQ forks a process per job: build the TLS context once here, and every job inherits it.
        from app.services.outbox import _tls
        _tls()
    sweep_once(app)
    stop = threading.Event()
    if not args.burst:
        threading.Thread(target=sweep_forever, args=(app, stop), name="outbox-sweeper", daemon=True).start()
    try:
        with app.app_context():
            redis = connection()
            worker = Worker(list(QUEUES), connection=redis, serializer=JSONSerializer, name=args.name)
            worker.work(burst=args.burst, with_scheduler=True, logging_level="INFO")
    finally:
        stop.set()


if __name__ == "__main__":
    main()
