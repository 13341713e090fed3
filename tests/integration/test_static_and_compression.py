"""Static files carry their content hash and are cached for a year; pages go out compressed."""
from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "static"


def digest(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def test_every_static_link_carries_its_files_content_hash(as_member):
    page = as_member.get("/board").get_data(as_text=True)
    links = re.findall(r'/static/([^"?]+)\?v=([0-9a-f]{12})', page)
    assert ("app.css", digest("app.css")) in links
    assert {name for name, _ in links} >= {"app.css", "app.js", "vendor/htmx.min.js"}
    assert all(version == digest(name) for name, version in links)
    assert not re.search(r'/static/[^"?]+"', page)  # no static link without its hash


def test_a_hashed_static_url_is_cached_for_a_year_and_others_revalidate(web):
    current = web.get(f"/static/app.css?v={digest('app.css')}")
    assert current.status_code == 200 and "max-age=31536000" in current.headers["Cache-Control"]
    for url in ("/static/app.css", "/static/app.css?v=000000000000"):
        answer = web.get(url)
        assert answer.status_code == 200 and "max-age=31536000" not in answer.headers.get("Cache-Control", "")


def test_a_page_goes_out_compressed_to_a_browser_that_accepts_it(as_member, make_lead):
    for i in range(20):
        make_lead(first_name=f"Person{i}", last_name="Example", company="Example Ltd")
    plain = as_member.get("/board")
    packed = as_member._send("get", "/board", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    body = gzip.decompress(packed.get_data()).decode()
    assert body.startswith("<!doctype html>") and body.rstrip().endswith("</html>")
    assert all(f"Person{i} Example" in body for i in range(20))
    assert abs(len(body) - len(plain.get_data())) < 200  # the same page (relative times aside)
    assert len(packed.get_data()) < len(body) / 3


def test_the_csv_export_streams_as_it_is_whatever_the_browser_accepts(as_member, make_lead):
    for i in range(30):
        make_lead(first_name=f"Person{i}", last_name="Example", email=f"p{i}@example.com")
    plain = as_member.get("/leads/export.csv").get_data()
    streamed = as_member._send("get", "/leads/export.csv", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert "Content-Encoding" not in streamed.headers
    assert streamed.get_data() == plain and plain.count(b"@example.com") == 30


def test_api_answers_stay_plain_json_whatever_the_client_advertises(app, admin):
    from app.services.api_keys import create_key
    _, secret = create_key("Website", admin.id)
    answer = app.test_client().get("/api/v1/openapi.json", headers={"Accept-Encoding": "gzip, br, zstd",
                                                                    "Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200 and "Content-Encoding" not in answer.headers
    assert answer.get_json()["openapi"].startswith("3.1")
