"""Search benchmark: the navigation's search at 100,000 leads and 1,000,000 notes.

    python bench/bench_search.py --db sqlite|postgresql [--leads 100000] [--notes 1000000] [--repeat 30]
                                 [--postgres-url URL] [--sqlite-file PATH] [--reuse] [--explain]

Builds the schema through the migrations (which create the search documents' table and index),
loads the demo team and `--leads` leads (demo.bulk_leads), then `--notes` notes (and as many
"note" timeline entries) in one INSERT ... SELECT each, words drawn from a fixed vocabulary, and
rebuilds every search document with one statement (search.refresh_all). It then times, in-process
(Flask test client, signed in), each search of SEARCHES and two references, and reports each p95
as a ratio to the trivial endpoint (GET /healthz, SELECT 1) measured in the same run, and to the
signed-in floor (/leads/0, a 404 in the layout). See bench/README.md for figures.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.timing import sign_in, time_requests  # noqa: E402

PASSWORD = "bench password that is long enough"
# 400 words: a note is six of them, so a word is in ~1.5% of notes and, at ten notes a lead, in
# ~14% of leads; "rare" words are in one note of the whole run.
VOCABULARY = [f"{a}{b}" for a in ("bal", "cor", "den", "fal", "gor", "hel", "jun", "kas", "lum", "mor",
                                   "nel", "pov", "ras", "sul", "tor", "vex", "wil", "yar", "zen", "qua")
              for b in ("ant", "bel", "cio", "dor", "eno", "fix", "gan", "hio", "ira", "jol",
                        "kin", "lor", "mar", "nix", "opa", "pet", "rus", "sim", "tal", "uno")]


def build(url: str, leads: int, notes: int, reuse: bool) -> None:
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import Lead, User
    from app.services import atomic, demo, search
    from app.services.auth import hash_password
    from app.services.stages import ensure_default_pipeline
    if reuse:
        return
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "LEADBOARD_ENV": "testing",
                      "INSTANCE_PATH": tempfile.mkdtemp()})
    with app.app_context():
        upgrade()
        stages = ensure_default_pipeline()
        with atomic():
            db.session.add(User(email="bench@example.com", name="Bench Admin", role="admin",
                                password_hash=hash_password(PASSWORD)))
        owner_ids = list(db.session.scalars(db.select(User.id)))
        started = time.perf_counter()
        demo.bulk_leads(leads, owner_ids, stages, notes=False)
        print(f"loaded {leads:,} leads (documents kept per chunk) in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        pg = db.engine.dialect.name == "postgresql"
        with atomic():
            db.session.execute(text("CREATE TEMPORARY TABLE bench_words (i integer PRIMARY KEY, w text)"))
            db.session.execute(text("INSERT INTO bench_words (i, w) VALUES (:i, :w)"),
                               [{"i": i, "w": w} for i, w in enumerate(VOCABULARY)])
            per_lead = max(1, notes // leads)
            series = ("SELECT generate_series(0, :n - 1) AS n" if pg else
                      "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < :n) SELECT n FROM s")
            words = len(VOCABULARY)
            pick = " || ' ' || ".join(
                f"(SELECT w FROM bench_words WHERE i = (l.id * {7 + 2 * k} + s.n * {13 + 4 * k} + {k * 31}) % {words})"
                for k in range(6))
            db.session.execute(text(
                f"INSERT INTO notes (lead_id, author_id, body, created_at) "
                f"SELECT l.id, NULL, 'Called: ' || {pick}, l.created_at FROM leads l CROSS JOIN ({series}) s"),
                {"n": per_lead})
            db.session.execute(text(
                "INSERT INTO timeline_entries (lead_id, actor_id, kind, data, created_at) "
                "SELECT lead_id, NULL, 'note', '{}', created_at FROM notes"))
            # One rare word in one note: a search that must find a needle among 1,000,000 notes.
            db.session.execute(text("UPDATE notes SET body = body || ' quetzalcoatl' WHERE id = "
                                    "(SELECT min(id) FROM notes)"))
        print(f"loaded {notes:,} notes and timeline entries in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        with atomic():
            search.refresh_all()
        print(f"rebuilt every search document in one statement in {time.perf_counter() - started:.1f} s", flush=True)
        with atomic():
            db.session.execute(text("ANALYZE"))
        assert db.session.scalar(db.select(db.func.count(Lead.id))) >= leads
        db.engine.dispose()


def run(url: str, repeat: int, explain: bool) -> None:
    from app import create_app
    from app.extensions import db
    from app.models import Lead, Note
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "LEADBOARD_ENV": "testing",
                      "INSTANCE_PATH": tempfile.mkdtemp(), "RATELIMIT_ENABLED": False})
    with app.app_context():
        rng = random.Random(11)
        max_id = db.session.scalar(db.select(db.func.max(Lead.id)))
        sample = db.session.get(Lead, rng.randint(1, max_id))
        old = db.session.get(Lead, rng.randint(1, max_id // 50))
        counts = (db.session.scalar(db.select(db.func.count(Lead.id))), db.session.scalar(db.select(db.func.count(Note.id))))
        phone = sample.phone.removeprefix("+1")
        searches = [
            ("name, common first name", sample.first_name),
            ("full name of one lead", f"{old.first_name} {old.last_name}"),
            ("company, two words", " ".join(old.company.split()[:2])),
            ("email, whole", old.email),
            ("phone, formatted", f"({phone[:3]}) {phone[3:6]}-{phone[6:]}"),
            ("note word in ~14% of leads", VOCABULARY[5]),
            ("two note words", f"{VOCABULARY[5]} {VOCABULARY[77]}"),
            ("prefix, two letters", "ma"),
            ("one note of 1,000,000 (rare)", "quetzalcoatl"),
            ("no match", "zzyzxq"),
            ("punctuation only", "%_'\""),
        ]
        client = app.test_client()
        sign_in(client, "bench@example.com", PASSWORD)
        # The next page of the common-word search: a keyset page deep in the results.
        first = client.get(f"/search?q={VOCABULARY[5]}").get_data(as_text=True)
        more = re.search(r'href="(/search\?q=[^"]+after=\d+)"', first)
        timed = [("trivial", "reference: GET /healthz (SELECT 1)", "/healthz", 200),
                 ("floor", "reference: signed-in floor, /leads/0 (404)", "/leads/0", 404)]
        timed += [(f"s{i}", f"search: {label} ({q[:30]!r})", f"/search?q={quote(q)}", 200)
                  for i, (label, q) in enumerate(searches)]
        if more:
            timed.append(("next", "search: next page of the common note word", more.group(1).replace("&amp;", "&"), 200))
        # The pool's own search box reads the same index, in the pool's order and filters.
        timed += [("p0", "pool: one lead's full name", f"/leads?q={quote(old.first_name + ' ' + old.last_name)}", 200),
                  ("p1", "pool: note word in ~14% of leads", f"/leads?q={quote(VOCABULARY[5])}", 200),
                  ("p2", "pool: common word, by score", f"/leads?q={quote(VOCABULARY[5])}&sort=score&dir=desc", 200),
                  ("p3", "pool: prefix, two letters", "/leads?q=ma", 200)]
        results = {}
        for key, label, url_, status in timed:
            p50, p95, response = time_requests(client, url_, repeat, status)
            body = response.get_data(as_text=True)
            found = body.count('<li>\n      <a href="/leads/') or body.count('id="lead-row-')
            results[key] = (label, p50, p95, found)
        trivial, floor = results["trivial"][2], results["floor"][2]
        print(f"\n{db.engine.dialect.name}: {counts[0]:,} leads, {counts[1]:,} notes; {repeat} requests each, in-process\n")
        print(f"{'request':<62} {'p50 ms':>8} {'p95 ms':>8} {'/trivial':>9} {'/floor':>7} {'shown':>6}")
        for key, (label, p50, p95, found) in results.items():
            print(f"{label[:62]:<62} {p50:8.1f} {p95:8.1f} {p95 / trivial:9.1f} {p95 / floor:7.2f} {found:6d}")
        if explain:
            from app.services import search
            print()
            with app.test_request_context():
                statements = []
                from sqlalchemy import event
                event.listen(db.engine, "before_cursor_execute",
                             lambda conn, cursor, stmt, params, ctx, many: statements.append((stmt, params)))
                for _, q in searches:
                    statements.clear()
                    search.search(q)
                    for stmt, params in list(statements):
                        if "lead_search" in stmt:
                            prefix = "EXPLAIN (ANALYZE, BUFFERS) " if db.engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
                            with db.engine.connect() as conn:
                                plan = conn.exec_driver_sql(prefix + stmt, params).all()
                            print(q, "\n   ", "\n    ".join(" ".join(map(str, row)) for row in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--notes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL",
                                                                 "postgresql+psycopg://postgres@127.0.0.1:5432/bench_search"))
    parser.add_argument("--sqlite-file", default="")
    parser.add_argument("--reuse", action="store_true", help="time the database an earlier run left")
    parser.add_argument("--explain", action="store_true", help="print each search's plan")
    args = parser.parse_args()
    if args.db == "postgresql":
        url = args.postgres_url
        name = url.rsplit("/", 1)[-1]
        if name == "test" or name.startswith("test_"):
            raise SystemExit("refusing to drop the schema of a test database")
    else:
        path = args.sqlite_file or os.path.join(tempfile.mkdtemp(), "bench_search.db")
        if not args.reuse and os.path.exists(path):
            os.remove(path)
        url = f"sqlite:///{path}"
    build(url, args.leads, args.notes, args.reuse)
    run(url, args.repeat, args.explain)


if __name__ == "__main__":
    main()
