"""Job tests: a real Redis (its own database number, emptied around each test) and a real
worker process (`python worker.py --burst`) on the test's database, SQLite or PostgreSQL."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Web, service_missing

JOBS_REDIS_URL = os.environ.get("TEST_JOBS_REDIS_URL", "redis://127.0.0.1:6379/14")
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


@pytest.fixture
def worker_env(database_url, redis_url, tmp_path) -> dict:
    return {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret", "LEADBOARD_INSTANCE": str(tmp_path / "worker-instance")}


@pytest.fixture
def run_worker(worker_env):
    """Run `worker.py --burst` until the queue is empty; fail the test with its log if it fails."""
    def run(timeout: int = 300) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=worker_env,
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, result.stdout + result.stderr
        return result
    return run


@pytest.fixture
def start_worker(worker_env):
    """Start `worker.py --burst` in the background; it is stopped (by its own id) after the test."""
    processes = []

    def start() -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "worker.py", "--burst"], cwd=ROOT, env=worker_env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        return process
    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def queued_web(make_app, redis, redis_url, member, stages):
    """A signed-in member's browser on an app whose job queue is the test Redis."""
    web = Web(make_app(REDIS_URL=redis_url).test_client())
    web.login(member)
    return web
