"""SQL statements per capture, full rule set beside none: bench_capture.py's two databases, captured
in-process through Flask's test client (API and hosted form), counted with before_cursor_execute.

    python bench/capture_statements.py --db sqlite|postgresql [--captures 5] [--postgres-url URL]

Each way in is warmed with three captures first (a worker's first capture reads and keeps the
settings), then the next --captures are counted and averaged.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from bench_capture import DEFAULT_POSTGRES_URL, PASSWORD, SETUP, database, flask  # noqa: E402

WARM = 3


def build(args, name: str, tmp: Path) -> tuple[str, dict]:
    url = database(args, name, tmp)
    env = {**os.environ, "DATABASE_URL": url, "LEADBOARD_INSTANCE": str(tmp / name),
           "SECRET_KEY": "capture-bench-secret-that-is-long-enough", "LEADBOARD_ENV": "development", "REDIS_URL": ""}
    flask(env, "db", "upgrade")
    out = subprocess.run([sys.executable, "-c", SETUP.replace("PASSWORD", repr(PASSWORD)), name], cwd=ROOT,
                         env=env, capture_output=True, text=True, check=True)
    return url, json.loads(out.stdout.strip().splitlines()[-1])


def count(url: str, info: dict, captures: int, tmp: Path, name: str) -> dict:
    from sqlalchemy import event

    from app import create_app
    from app.extensions import db
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": tmp / name, "SECRET_KEY": "x" * 40,
                      "LEADBOARD_ENV": "development", "REDIS_URL": "", "RATELIMIT_ENABLED": False})
    client = app.test_client()
    page = client.get(f"/f/{info['slug']}").get_data(as_text=True)
    token = re.search(r'name="rendered"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="rendered"', page)
    time.sleep(4)  # the form's "too fast for a person" window
    seen: list[str] = []
    result = {}
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    for way in ("api", "form"):
        counts = []
        for n in range(WARM + captures):
            seen.clear()
            if way == "api":
                payload = {"first_name": "Bench", "last_name": f"Lead{n}", "email": f"{way}{n}@c{n}.example",
                           "company": f"Company {n}", "value": 1250.5, "utm_campaign": "api", "country": "DE"}
                if name == "full":
                    payload["custom_fields"] = {"field_0": "text value", "field_1": n, "field_4": "Beta"}
                    payload["tags"] = ["newsletter"]
                response = client.post("/api/v1/leads", json=payload, headers={"Authorization": f"Bearer {info['secret']}"})
                assert response.status_code == 201, response.get_data(as_text=True)[:300]
            else:
                response = client.post(f"/f/{info['slug']}", data={
                    "first_name": "Bench", "last_name": f"Lead{n}", "email": f"{way}{n}@c{n}.example",
                    "company": f"Company {n}", "rendered": token.group(1)})
                assert response.status_code == 303, response.get_data(as_text=True)[:300]
            if n >= WARM:
                counts.append(len(seen))
        result[way] = sum(counts) / len(counts)
        if os.environ.get("SHOW_STATEMENTS"):
            print(name, way, *seen, sep="\n---\n", file=sys.stderr)
    with app.app_context():
        db.engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="sqlite")
    parser.add_argument("--captures", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="leadboard-capture-statements-"))
    try:
        result = {name: count(*build(args, name, tmp), args.captures, tmp, name) for name in ("bare", "full")}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"db": args.db, "statements_per_capture": result}, indent=2))


if __name__ == "__main__":
    main()
