"""What one board costs to render: url_for calls, escapes, SQL statements and time per GET /board.

    python bench/board_render.py [--cards 20] [--repeat 30] [--postgres-url URL] [--query "q=acme" ...]

Builds a throwaway SQLite database (or empties the PostgreSQL one named), makes the default
pipeline with `--cards` cards in every column (so a board of 6 columns shows 6 x cards), signs in
and requests /board in-process. It also measures the signed-in floor (/account and a 404 in the
layout at /leads/0): SQL statements per request. Counts are exact; times are medians.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import flask  # noqa: E402
import jinja2.runtime  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

COUNTS = {"url_for": 0, "escape": 0, "sql": 0}


def _counting(name, function):
    def counted(*args, **kwargs):
        COUNTS[name] += 1
        return function(*args, **kwargs)
    return counted


# Both must be in place before the app builds its Jinja environment and compiles a template:
# compiled templates import `escape` from jinja2.runtime, and the environment keeps app.url_for.
flask.Flask.url_for = _counting("url_for", flask.Flask.url_for)
jinja2.runtime.escape = _counting("escape", jinja2.runtime.escape)


def build(url: str, instance: Path, cards: int):
    from flask_migrate import upgrade
    from app import create_app
    from app.extensions import db
    from app.models import Lead
    from app.services.leads import create_lead
    from app.services.stages import ensure_default_pipeline
    from app.services.users import create_user
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench",
                      "LEADBOARD_ENV": "testing", "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        upgrade()
        user = create_user("bench@example.com", "bench password that is long enough", "admin", "Bea Bench")
        for s, stage in enumerate(ensure_default_pipeline()):
            for i in range(cards):
                lead = create_lead({"first_name": f"Card{s}-{i}", "last_name": "Lead", "company": "Acme & Co",
                                    "value": str(1000 + i * 37)}, user.id, stage_id=stage.id,
                                   owner_id=user.id if i % 2 else None)
                if i % 5 == 0:  # some appointment badges, as a real board has
                    db.session.get(Lead, lead.id).appointment_status = "confirmed"
        db.session.commit()
        event.listen(db.engine, "before_cursor_execute", lambda *a: COUNTS.__setitem__("sql", COUNTS["sql"] + 1))
    return app


def measure(client, url: str, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        before = dict(COUNTS)
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code in (200, 404), (url, response.status_code)
        per_request = {k: COUNTS[k] - before[k] for k in COUNTS}
    return {**per_request, "median_ms": round(statistics.median(times) * 1000, 2),
            "min_ms": round(min(times) * 1000, 2), "bytes": len(response.data)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=20, help="cards per column (default 20)")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--postgres-url", help="measure on this PostgreSQL database (emptied first)")
    parser.add_argument("--dump", type=Path, help="write the /board page here (to compare markup)")
    parser.add_argument("--query", action="append", default=[],
                        help="also measure /board?QUERY (a filter: q=acme, source=web, owner=none); repeatable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres_url or f"sqlite:///{tmp}/board.db"
        app = build(url, Path(tmp) / "instance", args.cards)
        client = app.test_client()
        client.post("/login", data={"email": "bench@example.com", "password": "bench password that is long enough"})
        for page in ("/board", *(f"/board?{q}" for q in args.query), "/account", "/leads/0"):
            with app.app_context():
                client.get(page)  # warm: templates compiled, caches filled
            print(f"{page:10} {measure(client, page, args.repeat)}")
        if args.dump:
            args.dump.write_bytes(client.get("/board").data)
        with app.app_context():
            from app.extensions import db
            db.engine.dispose()


if __name__ == "__main__":
    main()
