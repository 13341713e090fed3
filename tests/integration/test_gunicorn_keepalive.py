"""The production gunicorn setup (app/gunicorn_conf.py) keeps a browser's connection open between requests."""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _connect(port: int, server: subprocess.Popen) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stdout.read().decode(errors="replace")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.connect()
            return conn
        except OSError:
            conn.close()
            time.sleep(0.2)
    raise AssertionError("gunicorn did not listen within 30 s")


def test_gunicorn_with_the_production_config_answers_many_requests_on_one_connection(tmp_path):
    port = _free_port()
    env = {**os.environ, "LEADBOARD_ENV": "production", "SECRET_KEY": "k" * 48, "BASE_URL": f"http://127.0.0.1:{port}",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'leadboard.db'}", "LEADBOARD_INSTANCE": str(tmp_path),
           "REDIS_URL": ""}
    env.pop("GUNICORN_CMD_ARGS", None)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf", "--workers", "1",
                               "--bind", f"127.0.0.1:{port}", "app:create_app()"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        conn = _connect(port, server)
        first_socket = conn.sock
        for _ in range(5):
            conn.request("GET", "/static/app.css", headers={"Accept-Encoding": "gzip"})
            answer = conn.getresponse()
            body = answer.read()
            assert answer.status == 200 and b"{" in body
            assert not answer.will_close and answer.getheader("Connection", "").lower() != "close"
        assert conn.sock is first_socket  # all five on the connection the first one opened
        conn.close()
    finally:
        server.terminate()
        server.wait(30)
