"""Capture benchmark: one lead's capture with a team's full rule set beside capture with none.

    python bench/bench_capture.py --db sqlite|postgresql [--requests 400] [--postgres-url URL] [--json FILE]

Builds two databases through the migrations: "bare" (the default pipeline, ten members, no custom
fields and no rules) and "full" (the same, plus 10 custom fields, 30 scoring rules with three bands,
and 20 assignment rules over four groups, the last one a round-robin that takes every lead the
others do not). Starts one gunicorn (app/gunicorn_conf.py) per database and captures leads through
POST /api/v1/leads and through a hosted capture form, one request at a time, alternating between the
two servers so that both see the same machine at the same moment. Reports p50/p95 per way in and the
ratio full / bare (issue 11's aim: at most 1.5x), then checks that every lead on the full database
got a score and an owner by the rules.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_api import flask, free_port, percentile, prepare_postgres  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/leadboard_capture_bench"
PASSWORD = "bench password that is long enough"
AIM = 1.5
WARMUP = 20

# Run inside an app context on each database: the team, a key, a form, and (full) the rules.
SETUP = r'''
import json, sys
from app import create_app
from app.extensions import db
from app.services import api_keys, capture_forms, stages, users
full = sys.argv[1] == "full"
with create_app().app_context():
    stages.ensure_default_pipeline()
    members = [users.create_user(f"rep{i}@bench.example", PASSWORD, "member", f"Rep {i}") for i in range(10)]
    secret = api_keys.create_key("bench")[1]
    form = capture_forms.create_form(capture_forms.FormSettings(name="Website", fields={"first_name": "optional", "last_name": "optional", "email": "required", "company": "optional"}))
    if full:
        from app.services import assignment, conditions, custom_fields as cf, scoring
        kinds = ["text", "number", "money", "date", "choice", "multi_choice", "checkbox", "url", "long_text", "text"]
        for n, kind in enumerate(kinds):
            cf.create_field(cf.FieldSettings(label=f"Field {n}", key=f"field_{n}", kind=kind,
                                             choices=["Alpha", "Beta", "Gamma"] if "choice" in kind else [],
                                             show_on_card=n < 3))
        scoring.save_bands([("Cold", None, "#6b7280"), ("Warm", 20, "#b45309"), ("Hot", 50, "#b91c1c")])
        rules = [
            ({"field": "email", "op": "is_not_free_mail"}, 20),
            ({"field": "email", "op": "is_free_mail"}, -5),
            ({"field": "company", "op": "is_not_empty"}, 10),
            ({"field": "phone", "op": "is_not_empty"}, 5),
            ({"field": "job_title", "op": "contains", "value": "director"}, 15),
            ({"field": "value", "op": "gte", "value": "1000"}, 10),
            ({"field": "source", "op": "equals", "value": "referral"}, 25),
            ({"field": "utm_campaign", "op": "in_list", "value": ["spring", "summer", "api"]}, 5),
            ({"field": "country", "op": "equals", "value": "DE"}, 5),
            ({"field": "event.submitted_again", "op": "happened"}, 10),
            ({"field": "event.appointment_booked", "op": "happened"}, 15),
            ({"field": "event.appointment_confirmed", "op": "happened"}, 15),
            ({"field": "event.appointment_cancelled", "op": "happened"}, -10),
            ({"field": "event.idle", "op": "at_least_days", "value": 14}, -10),
            ({"field": "created_at", "op": "within_days", "value": 7}, 5),
        ]
        for n, kind in enumerate(kinds):
            rules.append(({"field": f"custom.field_{n}", "op": "is_checked" if kind == "checkbox" else "is_not_empty"}, 2))
        rules += [({"field": "tags", "op": "contains", "value": "vip"}, 20),
                  ({"field": "last_name", "op": "equals", "value": "Nobody"}, -50),
                  ({"field": "referrer", "op": "contains", "value": "partner"}, 10),
                  ({"field": "utm_medium", "op": "equals", "value": "cpc"}, 5),
                  ({"field": "first_name", "op": "is_empty"}, -5)]
        for n, (cond, points) in enumerate(rules[:30]):
            scoring.save_rule(None, label=f"rule {n}", condition=conditions.check(cond), points=points,
                              fade_days=30 if n % 5 == 0 else None)
        groups = [assignment.save_group(None, name=f"Group {g}",
                                        members={m.id: 1 + (i % 3) for i, m in enumerate(members[g * 2:g * 2 + 4])})
                  for g in range(4)]
        countries = ["FR", "ES", "IT", "NL", "BE", "AT", "CH", "PL", "SE", "DK", "NO", "FI", "PT", "IE", "CZ"]
        for n, country in enumerate(countries):
            assignment.save_rule(None, name=f"{country} territory", condition=conditions.check(
                {"field": "country", "op": "equals", "value": country}), target="round_robin",
                group_id=groups[n % 4].id)
        assignment.save_rule(None, name="Big deals", condition=conditions.check(
            {"field": "value", "op": "gte", "value": "100000"}), target="person", user_id=members[0].id)
        assignment.save_rule(None, name="Referrals", condition=conditions.check(
            {"field": "source", "op": "equals", "value": "referral"}), target="least_loaded",
            group_id=groups[1].id, cap=500)
        assignment.save_rule(None, name="Vip", condition=conditions.check(
            {"field": "tags", "op": "contains", "value": "vip"}), target="weighted", group_id=groups[2].id)
        assignment.save_rule(None, name="Field 4 Alpha", condition=conditions.check(
            {"field": "custom.field_4", "op": "equals", "value": "Alpha"}), target="person", user_id=members[3].id)
        assignment.save_rule(None, name="Everyone else", condition={}, target="round_robin", group_id=groups[0].id)
    print(json.dumps({"secret": secret, "slug": form.slug}))
'''


class Server:
    def __init__(self, name: str, url: str, tmp: Path):
        self.name, self.url = name, url
        self.env = {**os.environ, "DATABASE_URL": url, "LEADBOARD_INSTANCE": str(tmp / name),
                    "SECRET_KEY": "capture-bench-secret-that-is-long-enough", "LEADBOARD_ENV": "development",
                    "REDIS_URL": ""}
        flask(self.env, "db", "upgrade")
        out = subprocess.run([sys.executable, "-c", SETUP.replace("PASSWORD", repr(PASSWORD)), name], cwd=ROOT,
                             env=self.env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"setting up {name} failed:\n{out.stderr}")
        info = json.loads(out.stdout.strip().splitlines()[-1])
        self.secret, self.slug = info["secret"], info["slug"]
        self.port = free_port()
        factory = "app:create_app({'API_RATE_LIMIT': '1000000 per minute', 'CAPTURE_RATE_LIMIT': '1000000 per minute'})"
        self.proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "app/gunicorn_conf.py", "-w", "1", "--threads", "1",
                                      "-b", f"127.0.0.1:{self.port}", "--log-level", "warning", factory],
                                     cwd=ROOT, env=self.env, start_new_session=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.request("GET", "/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"gunicorn for {name} did not start")
                time.sleep(0.2)
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.token = ""
        self.latencies: dict[str, list[float]] = {"api": [], "form": []}

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        data = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return response.status, data, time.perf_counter() - started

    def form_token(self) -> None:
        status, page, _ = self.request("GET", f"/f/{self.slug}")
        match = re.search(rb'name="rendered"[^>]*value="([^"]+)"', page) or re.search(
            rb'value="([^"]+)"[^>]*name="rendered"', page)
        if status != 200 or not match:
            raise SystemExit(f"{self.name}: the form page answered {status} without a token")
        self.token = match.group(1).decode()

    def capture(self, way: str, n: int, record: bool = True) -> None:
        country = ["DE", "FR", "US", "GB", "ES"][n % 5]
        lead = {"first_name": "Bench", "last_name": f"Lead{n}", "email": f"lead{n}@company{n % 97}.example",
                "company": f"Company {n % 97}", "phone": "", "source": "referral" if n % 10 == 0 else "web"}
        if way == "api":
            payload = {**lead, "value": 1250.5, "utm_campaign": "api", "country": country}
            if self.name == "full":
                payload["custom_fields"] = {"field_0": "text value", "field_1": n, "field_4": "Beta"}
                payload["tags"] = ["vip"] if n % 7 == 0 else ["newsletter"]
            status, body, elapsed = self.request("POST", "/api/v1/leads", json.dumps(payload),
                                                 {"Authorization": f"Bearer {self.secret}",
                                                  "Content-Type": "application/json"})
            expected = 201
        else:
            form = {**{k: v for k, v in lead.items() if k in ("first_name", "last_name", "email", "company")},
                    "rendered": self.token, "email": f"form{n}@company{n % 97}.example"}
            status, body, elapsed = self.request("POST", f"/f/{self.slug}", urlencode(form),
                                                 {"Content-Type": "application/x-www-form-urlencoded"})
            expected = 303
        if status != expected:
            raise SystemExit(f"{self.name} {way}: answered {status}: {body[:300]!r}")
        if record:
            self.latencies[way].append(elapsed)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


def database(args, name: str, tmp: Path) -> str:
    if args.db == "sqlite":
        return f"sqlite:///{tmp / (name + '.db')}"
    parts = urlsplit(args.postgres_url)
    url = urlunsplit(parts._replace(path=f"{parts.path}_{name}"))
    prepare_postgres(url)
    return url


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="leadboard-capture-bench-"))
    servers = []
    try:
        for name in ("bare", "full"):
            servers.append(Server(name, database(args, name, tmp), tmp))
        for server in servers:
            server.form_token()
        time.sleep(4)  # the form's "too fast for a person" window
        for way in ("api", "form"):
            for n in range(WARMUP):
                for server in servers:
                    server.capture(way, 1_000_000 + n, record=False)
            for n in range(args.requests):
                for server in (servers if n % 2 else servers[::-1]):
                    server.capture(way, n)
    finally:
        for server in servers:
            server.stop()
    from sqlalchemy import create_engine, text
    engine = create_engine(servers[1].url)
    with engine.connect() as conn:
        unowned = conn.scalar(text("SELECT count(*) FROM leads WHERE owner_id IS NULL"))
        scored = conn.scalar(text("SELECT count(*) FROM leads WHERE score <> 0"))
        total = conn.scalar(text("SELECT count(*) FROM leads"))
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    result = {"db": args.db, "requests_per_way": args.requests,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"}
    for way in ("api", "form"):
        bare, full = servers[0].latencies[way], servers[1].latencies[way]
        result[way] = {"bare_p50_ms": round(percentile(bare, 50) * 1000, 1),
                       "bare_p95_ms": round(percentile(bare, 95) * 1000, 1),
                       "full_p50_ms": round(percentile(full, 50) * 1000, 1),
                       "full_p95_ms": round(percentile(full, 95) * 1000, 1),
                       "ratio_p50": round(statistics.median(full) / statistics.median(bare), 2),
                       "ratio_p95": round(percentile(full, 95) / percentile(bare, 95), 2)}
    result["full_database"] = {"leads": total, "without_owner": unowned, "with_a_score": scored}
    result["aim"] = AIM
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="sqlite")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if result["full_database"]["without_owner"]:
        raise SystemExit("FAILED: the catch-all rule left leads in the pool")


if __name__ == "__main__":
    main()
