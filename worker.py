"""Start an RQ worker, with the scheduler, on the app's queues.

    python worker.py            # work until stopped
    python worker.py --burst    # work until the queues are empty, then exit (tests, cron)

It reads REDIS_URL (and DATABASE_URL, SECRET_KEY, ...) like the web app does."""
from __future__ import annotations

import argparse
import logging

from rq import Worker
from rq.serializers import JSONSerializer

from app import create_app
from app.queue import QUEUES, connection


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--name", help="worker name (default: generated)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    app = create_app()
    with app.app_context():
        redis = connection()
        worker = Worker(list(QUEUES), connection=redis, serializer=JSONSerializer, name=args.name)
        worker.work(burst=args.burst, with_scheduler=True, logging_level="INFO")


if __name__ == "__main__":
    main()
