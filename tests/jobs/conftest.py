"""Job tests: a real Redis (its own database number, emptied around each test), a real worker
process (`python worker.py --burst`) on the test's database, SQLite or PostgreSQL, and a real SMTP
server it delivers to."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import SmtpSink, Web, per_worker, service_missing

JOBS_REDIS_URL = per_worker(os.environ.get("TEST_JOBS_REDIS_URL", "redis://127.0.0.1:6379/14"))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def redis_url() -> str:
    from redis import Redis, RedisError
    try:
        Redis.from_url(JOBS_REDIS_URL, socket_connect_timeout=2).ping()
    except RedisError as exc:
        service_missing("Redis", f"cannot connect to {JOBS_REDIS_URL.split('@')[-1]} ({type(exc).__name__})")
    return JOBS_REDIS_URL


@pytest.fixture
def redis(redis_url):
    from redis import Redis
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, timeout: float = 15.0, interval: float = 0.02, message: str = ""):
    """Poll `condition` until it returns something truthy (returned) or fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout}s waiting for {message or condition}")
        time.sleep(interval)


class StallingSmtpSink(SmtpSink):
    """The SMTP sink, which can also hang on one message's DATA, as a relay that stops answering does,
    refuse chosen recipients, and close the connection at a chosen message.

    After `stall_next(after=n)` the DATA command after the next n gets no reply at all (and its
    message is not kept); `stalled` is set once the client is waiting on it. `refuse_recipients`
    maps an address to the reply its RCPT TO gets ("550 5.1.1 No such user"); the messages counted
    in `close_at_mail` (1 is the first MAIL FROM) get "421", after which the client must reconnect.
    `peers` holds the client end of each connection that sent a message."""

    def __init__(self):
        super().__init__()
        self._stall_in: int | None = None
        self.stalled = threading.Event()
        self.refuse_recipients: dict[str, str] = {}
        self.close_at_mail: set[int] = set()
        self.mails = 0
        self.peers: set = set()

    def stall_next(self, after: int = 0) -> None:
        self._stall_in = after

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mails += 1
        self.peers.add(session.peer)
        if self.mails in self.close_at_mail:
            return "421 4.3.2 Closing the connection"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_recipients:
            return self.refuse_recipients[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self._stall_in == 0:
            self._stall_in = None
            self.stalled.set()
            await asyncio.Event().wait()  # until the server stops and cancels this session
        elif self._stall_in is not None:
            self._stall_in -= 1
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback (see SmtpSink), for workers to deliver to."""
    from aiosmtpd.controller import Controller
    sink = StallingSmtpSink()
    sink.controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    sink.controller.start()
    yield sink
    sink.controller.stop()


MAIL_FROM = "Acme Sales <sales@acme.example>"


@pytest.fixture
def worker_env(database_url, redis_url, smtp_server, tmp_path) -> dict:
    """The worker's environment: this test's database, Redis and SMTP server, with short email
    timings (retries 1s apart, three attempts in all) so failures play out within a test. The
    sweeper's grace stays at its default, so a test that needs it to re-enqueue a lost job at once
    says so (SWEEP_GRACE_SECONDS="0")."""
    return {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret", "LEADBOARD_INSTANCE": str(tmp_path / "worker-instance"),
            "MAIL_FROM": MAIL_FROM, "SMTP_URL": smtp_server.url, "SMTP_TIMEOUT": "10",
            "EMAIL_RETRY_DELAYS": "1,1", "EMAIL_LEASE_SECONDS": "30", "SWEEP_INTERVAL": "60",
            "SWEEP_GRACE_SECONDS": "60"}


def _command(burst: bool) -> list[str]:
    return [sys.executable, "worker.py", *(["--burst"] if burst else [])]


@pytest.fixture
def run_worker(worker_env):
    """Run `worker.py --burst` until the queue is empty; fail the test with its log if it fails.

    Keyword arguments are environment variables for this run only (REDIS_URL="...")."""
    def run(timeout: int = 300, **env) -> subprocess.CompletedProcess:
        result = subprocess.run(_command(burst=True), cwd=ROOT, env={**worker_env, **env},
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, result.stdout + result.stderr
        return result
    return run


@pytest.fixture
def start_worker(worker_env):
    """Start a worker in the background (`--burst` unless burst=False), in its own process group
    so a test can kill it together with its work horse and scheduler; whatever is left of each
    group is stopped after the test. Keyword arguments are environment variables for this worker."""
    processes = []

    def start(burst: bool = True, **env) -> subprocess.Popen:
        process = subprocess.Popen(_command(burst), cwd=ROOT, env={**worker_env, **env}, start_new_session=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        return process
    yield start
    for process in processes:
        horses = work_horses(process.pid) if process.poll() is None else []
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        # a work horse or scheduler the worker left behind
        _signal_groups([process.pid, *horses], signal.SIGKILL)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    _signal_groups([process.pid], signum)


def _signal_groups(groups: list[int], signum: int) -> None:
    for group in groups:
        try:
            os.killpg(group, signum)
        except ProcessLookupError:
            pass


def work_horses(worker_pid: int) -> list[int]:
    """The worker's children that lead process groups of their own: RQ's work horses, which call
    setpgrp() so that a signal to the worker's group does not reach a job mid-send."""
    horses = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        ppid, pgrp = (int(field) for field in stat.rpartition(")")[2].split()[1:3])
        if ppid == worker_pid and pgrp == int(entry.name):
            horses.append(int(entry.name))
    return horses


def kill_worker(process: subprocess.Popen) -> None:
    """SIGKILL a worker as a crash would: its process group (scheduler included) and its work horse."""
    horses = work_horses(process.pid)  # before the worker dies and its horse is handed to init
    _signal_groups([process.pid, *horses], signal.SIGKILL)
    process.wait(timeout=10)
    wait_until(lambda: not any(alive(horse) for horse in horses), timeout=10, message="the work horse to die")


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


class ThrowawayRedis:
    """A redis-server of this test's own, which the test can stop and start again on the same port."""

    def __init__(self, port: int, workdir: Path):
        self.port, self.workdir = port, workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from redis import Redis, RedisError
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            try:
                return Redis.from_url(self.url, socket_connect_timeout=1).ping()
            except RedisError:
                assert self.process.poll() is None, f"redis-server on port {self.port} exited"
                return False
        wait_until(answers, timeout=10, message=f"redis-server on port {self.port}")

    def stop(self) -> None:
        """Kill it, as an outage would: nothing is saved, so it comes back empty."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def throwaway_redis(tmp_path):
    """A running redis-server on a free port (not the shared one), stopped after the test."""
    if not shutil.which("redis-server"):
        service_missing("redis-server", "the redis-server binary is not on PATH")
    server = ThrowawayRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def queued_web(make_app, redis, redis_url, member, stages):
    """A signed-in member's browser on an app whose job queue is the test Redis."""
    web = Web(make_app(REDIS_URL=redis_url).test_client())
    web.login(member)
    return web
