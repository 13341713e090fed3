"""The worker rides out Redis outages and `make run` brings back a worker that dies: real worker.py
processes on a redis-server of the test's own, killed and started again, delivering to a real SMTP
server. Nobody restarts anything by hand."""
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from datetime import timedelta

import pytest
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select, update

from app.extensions import db
from app.models import OutboxEmail
from app.services import atomic, outbox, utcnow
from tests.jobs.conftest import MAIL_FROM, ROOT, alive, free_port, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


@pytest.fixture
def outage_app(make_app, throwaway_redis):
    """The web app, enqueueing to the throwaway Redis."""
    app = make_app(REDIS_URL=throwaway_redis.url, MAIL_FROM=MAIL_FROM)
    with app.app_context():
        yield app


def queue_emails(count: int) -> list[OutboxEmail]:
    with atomic():
        return [outbox.queue_email(kind="test", to_address=f"person{n}@example.com", subject=f"Hello {n}",
                                   text_body=f"Hello {n}", html_body=f"<p>Hello {n}</p>") for n in range(count)]


def states() -> Counter:
    db.session.expire_all()
    return Counter(db.session.scalars(select(OutboxEmail.state)))


def received(smtp_server) -> Counter:
    return Counter(message["Message-ID"] for message in smtp_server.messages)


def test_the_sweeper_enqueues_a_due_retry_whose_scheduler_went_down_with_redis(make_app, redis, redis_url):
    with make_app(REDIS_URL=redis_url, MAIL_FROM=MAIL_FROM).app_context():
        [row] = queue_emails(1)
        failed_at = utcnow() - timedelta(minutes=5)
        with atomic():  # its first attempt failed five minutes ago; the retry was due a minute later
            db.session.execute(update(OutboxEmail).where(OutboxEmail.id == row.id).values(
                attempts=1, next_attempt_at=failed_at + timedelta(minutes=1)))
        queue = Queue("default", connection=redis, serializer=JSONSerializer)
        queue.empty()
        assert outbox.enqueue_delivery(row.id, 1, at=failed_at + timedelta(minutes=1))
        assert queue.scheduled_job_registry.get_job_ids() == [outbox.job_id(row.id, 1)]  # no scheduler moved it

        assert outbox.sweep(grace_seconds=60).enqueued == 1

        assert queue.job_ids == [outbox.job_id(row.id, 1)]


def drained(worker) -> list[str]:
    """The worker's log, read as it comes in a thread (a full pipe would stop the worker mid-outage)."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(worker.stdout.readline, "")), daemon=True).start()
    return lines


def said(worker, text: str, timeout: float = 60) -> bool:
    """Read the worker's log until a line contains `text`: False if it exits or goes quiet first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = worker.stdout.readline()
        if not line:
            return False
        if text in line:
            return True
    return False


def test_killing_redis_during_a_backlog_delays_the_emails_and_each_still_arrives_once(
        outage_app, throwaway_redis, start_worker, smtp_server):
    outage_app.config["EMAIL_BATCH_SIZE"] = 4  # ten batch jobs: some still queued when Redis goes
    rows = queue_emails(40)
    # The sweeper looks every half second and takes a queued row whose job Redis lost at once.
    worker = start_worker(burst=False, REDIS_URL=throwaway_redis.url, SWEEP_INTERVAL="0.5",
                          SWEEP_GRACE_SECONDS="0", EMAIL_BATCH_SIZE="4")
    log = drained(worker)
    smtp_server.wait_for(3)

    throwaway_redis.stop()  # comes back empty: every job still queued in it is gone
    at_outage = len(smtp_server.messages)
    time.sleep(3)
    assert worker.poll() is None, "".join(log)
    throwaway_redis.start()

    wait_until(lambda: len(smtp_server.messages) >= 40, timeout=120,
               message=f"all 40 emails; the worker said:\n{''.join(log[-60:])}")
    assert at_outage < 40, "the backlog was gone before Redis went down; the test proved nothing"
    assert received(smtp_server) == Counter({row.message_id: 1 for row in rows})
    assert wait_until(lambda: states() == Counter(sent=40), timeout=30, message="every row marked sent")
    time.sleep(1)  # nothing more trickles in
    assert len(smtp_server.messages) == 40
    assert worker.poll() is None  # the same process, never restarted


def test_a_worker_started_while_redis_is_down_starts_working_once_redis_comes_up(
        outage_app, throwaway_redis, start_worker, smtp_server):
    throwaway_redis.stop()
    [row] = queue_emails(1)  # its job cannot be enqueued: the row waits in the outbox
    worker = start_worker(burst=False, REDIS_URL=throwaway_redis.url, SWEEP_INTERVAL="0.5",
                          SWEEP_GRACE_SECONDS="0")
    assert said(worker, "Redis is not answering") and said(worker, "Redis is not answering")  # twice: it waits
    drained(worker)
    assert worker.poll() is None
    assert smtp_server.messages == [] and states() == Counter(queued=1)

    throwaway_redis.start()

    [message] = smtp_server.wait_for(1, timeout=60)
    assert message["Message-ID"] == row.message_id
    assert wait_until(lambda: states() == Counter(sent=1), message="the row marked sent")
    assert worker.poll() is None


def children(pid: int) -> dict[int, str]:
    """pid -> command line of each child process of `pid`."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rpartition(")")[2].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if ppid == pid:
            found[int(entry)] = command
    return found


def worker_pids(devserver_pid: int) -> list[int]:
    return [pid for pid, command in children(devserver_pid).items() if "worker.py" in command]


def test_make_runs_supervisor_starts_a_new_worker_when_the_worker_dies(worker_env, redis_url, tmp_path):
    env = {**worker_env, "REDIS_URL": redis_url, "PORT": str(free_port())}
    log = tmp_path / "devserver.log"
    with open(log, "w") as output:
        devserver = subprocess.Popen([sys.executable, "-m", "app.devserver"], cwd=ROOT, env=env,
                                     start_new_session=True, stdout=output, stderr=subprocess.STDOUT)
    try:
        [first] = wait_until(lambda: worker_pids(devserver.pid), timeout=30, message="the first worker")
        os.kill(first, signal.SIGKILL)

        [second] = wait_until(lambda: [pid for pid in worker_pids(devserver.pid) if pid != first], timeout=30,
                              message="a new worker")
        assert devserver.poll() is None
        os.kill(second, signal.SIGKILL)
        wait_until(lambda: [pid for pid in worker_pids(devserver.pid) if pid not in (first, second)], timeout=30,
                   message="a third worker")
    finally:
        devserver.send_signal(signal.SIGINT)
        try:
            # It gives the web server and the worker 10 s each to stop, then kills them: allow for
            # both on a loaded machine (two test processes, each with workers of its own).
            devserver.wait(timeout=60)
        finally:
            try:  # the killed workers' schedulers, orphaned in the devserver's process group
                os.killpg(devserver.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert log.read_text().count("The worker stopped") == 2, log.read_text()


def _scheduler_of(worker_pid: int) -> list[int]:
    """The worker's children that stay in its process group: RQ's scheduler (work horses leave it)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid, pgrp = (int(field) for field in (entry / "stat").read_text().rpartition(")")[2].split()[1:3])
            except OSError:
                continue
            if ppid == worker_pid and pgrp == worker_pid:
                children.append(int(entry.name))
    return children


def test_a_scheduler_whose_worker_was_killed_stops_and_lets_the_next_worker_schedule(start_worker, redis):
    worker = start_worker(burst=False)
    [scheduler] = wait_until(lambda: _scheduler_of(worker.pid), timeout=30, message="the scheduler process")
    assert redis.keys("rq:scheduler-lock:*"), "the scheduler holds its queues' locks"

    os.kill(worker.pid, signal.SIGKILL)  # the worker alone, as the OOM killer would: not its group
    worker.wait(timeout=10)

    wait_until(lambda: not alive(scheduler), timeout=15, message="the orphaned scheduler to stop")
    assert redis.keys("rq:scheduler-lock:*") == [], "it released the locks, so the next worker's scheduler runs"
    second = start_worker(burst=False)
    wait_until(lambda: _scheduler_of(second.pid), timeout=30, message="the next worker's scheduler")
