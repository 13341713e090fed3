"""The outbox pages by keyset (newest first) and counts each state only up to a cap, so its cost
does not grow with every email ever sent."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from app.extensions import db
from app.models import OutboxEmail
from app.services import outbox, utcnow


def add_emails(count: int, state: str = "sent", same_time: bool = False) -> list[int]:
    start = utcnow() - timedelta(days=1)
    rows = []
    for n in range(count):
        at = start if same_time else start + timedelta(seconds=n)
        rows.append(OutboxEmail(kind="owner_notice", state=state, sender="a@example.com",
                                to_address=f"p{n}@example.com", subject=f"Email {n:03d}", text_body="x",
                                html_body="x", message_id=f"<{n}@x>", date_header="x", created_at=at,
                                updated_at=at, next_attempt_at=at))
    db.session.add_all(rows)
    db.session.commit()
    return [row.id for row in rows]


def subjects(html: str) -> list[str]:
    return re.findall(r">(Email \d{3})</a>", html)


def link(html: str, label: str) -> str | None:
    found = re.search(r'<a href="([^"]+)"[^>]*>' + label + "</a>", html)
    return found.group(1).replace("&amp;", "&") if found else None


@pytest.mark.parametrize("same_time", [False, True])
def test_walking_older_then_newer_shows_every_email_once_in_order(as_admin, same_time):
    add_emails(120, same_time=same_time)
    expected = [f"Email {n:03d}" for n in reversed(range(120))]
    html = as_admin.get("/outbox").get_data(as_text=True)
    seen, pages = subjects(html), [subjects(html)]
    assert link(html, "Newer") is None
    while (older := link(html, "Older")) is not None:
        html = as_admin.get(older).get_data(as_text=True)
        pages.append(subjects(html))
        seen += pages[-1]
    assert seen == expected
    assert [len(p) for p in pages] == [50, 50, 20]
    html = as_admin.get(link(html, "Newer")).get_data(as_text=True)
    assert subjects(html) == pages[1]
    html = as_admin.get(link(html, "Newer")).get_data(as_text=True)
    assert subjects(html) == pages[0] and link(html, "Newer") is None


@pytest.mark.parametrize("cursor", ["before=abc", "before=99999999", "after=²", "before=-1",
                                    "after=99999999999999999999", "before=30&after=20"])
def test_a_cursor_that_is_garbage_or_names_no_email_gives_the_newest_page(as_admin, cursor):
    add_emails(60)
    html = as_admin.get(f"/outbox?{cursor}").get_data(as_text=True)
    assert subjects(html)[:50] == [f"Email {n:03d}" for n in reversed(range(10, 60))]


def test_state_counts_stop_at_the_cap_and_say_so(as_admin, monkeypatch):
    monkeypatch.setattr(outbox, "COUNT_CAP", 5)
    add_emails(7, state="failed")
    add_emails(3, state="sent")
    html = as_admin.get("/outbox").get_data(as_text=True)
    assert "Failed (5+)" in html and "Sent or kept here (3)" in html and "Queued (0)" in html


def test_a_deep_page_reads_no_offset(as_admin):
    ids = add_emails(80)
    statements = []

    def seen(conn, cursor, statement, parameters, *args):
        statements.append((statement.upper(), parameters))
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        html = as_admin.get(f"/outbox?before={ids[40]}").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert subjects(html) == [f"Email {n:03d}" for n in reversed(range(40))][:50]
    # SQLite writes "LIMIT ? OFFSET ?" with an offset of 0 for any LIMIT in a subquery: only a real skip counts.
    assert not [sql for sql, params in statements if "OFFSET" in sql and (
        "OFFSET ?" not in sql or list(params)[-1] != 0)]
