"""gunicorn settings for production: `gunicorn -c python:app.gunicorn_conf --bind 0.0.0.0:8000 'app:create_app()'`.

Threaded workers keep a browser's (or a proxy's) connection open between requests, so a page view
and its htmx requests skip a new TCP (and TLS) handshake each; sync workers close after every answer.
Command-line flags (or GUNICORN_CMD_ARGS) override any value here, e.g. `--workers 4 --threads 8`."""
import os

worker_class = "gthread"
# One process per core (WEB_CONCURRENCY overrides, as on most hosts); threads cover the waits on the
# database, and idle kept-alive connections wait in the worker's selector without holding a thread.
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
threads = 4
# Seconds an idle connection stays open: longer than a proxy's idle upstream timeout (nginx: 60 s), so
# gunicorn never closes a connection the proxy is about to reuse.
keepalive = 75
timeout = 30
graceful_timeout = 30
