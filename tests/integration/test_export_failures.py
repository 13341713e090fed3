"""A CSV export that fails says so: before the first byte (an error page, not a 200 with a cut file),
or after it (the file ends with a line saying it is incomplete, and the download breaks off)."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.services.export import EXPORT_FAILED, csv_stream


@pytest.fixture
def leads_table_gone(app):
    """The leads table renamed away for the test, as if dropped, and put back afterwards."""
    db.session.execute(text("ALTER TABLE leads RENAME TO leads_away"))
    db.session.commit()
    yield
    db.session.rollback()
    db.session.execute(text("ALTER TABLE leads_away RENAME TO leads"))
    db.session.commit()


def test_an_export_sends_the_leads(as_member, make_lead):
    make_lead(first_name="Exported")
    assert "Exported" in as_member.get("/leads/export.csv").get_data(as_text=True)


def test_an_export_that_cannot_read_the_leads_answers_500_before_sending_a_byte(as_member, leads_table_gone):
    response = as_member.get("/leads/export.csv")
    assert response.status_code == 500
    assert response.mimetype == "text/html" and "Content-Disposition" not in response.headers
    assert "Something went wrong on our side" in response.get_data(as_text=True)


def test_a_failure_after_the_first_rows_ends_the_file_with_a_line_saying_it_is_incomplete():
    def batches():
        yield "1,Ada\r\n"
        yield "2,Bob\r\n"
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    stream = csv_stream("ID,Name\r\n", batches())
    received = [next(stream)]  # what the route takes before it sends anything
    assert received == ["ID,Name\r\n1,Ada\r\n"]
    with pytest.raises(OperationalError):
        for piece in stream:
            received.append(piece)
    assert "".join(received).splitlines()[-1] == EXPORT_FAILED


def test_an_export_of_more_leads_than_one_batch_sends_every_one(app, member, stages, monkeypatch):
    """Through a real server: the rows after the first batch are read while the response streams,
    after Flask has torn the request's app context (and its session) down. On PostgreSQL the
    export's server-side cursor died with that session, and the file stopped after one batch."""
    import re
    import threading
    from datetime import datetime

    import requests
    from sqlalchemy import insert
    from werkzeug.serving import make_server

    from app.models import Lead
    from app.services import atomic, export, search
    from tests.conftest import TEST_PASSWORD
    monkeypatch.setattr(export, "EXPORT_BATCH", 7)
    moment, email = datetime(2026, 1, 1, 9, 30), member.email
    with atomic():
        db.session.execute(insert(Lead), [
            {"first_name": f"Pat{n}", "last_name": "Ng", "stage_id": stages["New"].id, "position": n, "version": 1,
             "created_at": moment, "updated_at": moment, "stage_entered_at": moment} for n in range(30)])
        search.refresh_all()
    db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base, browser = f"http://127.0.0.1:{server.server_port}", requests.Session()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', browser.get(base + "/login").text).group(1)
        browser.post(base + "/login", data={"csrf_token": token, "email": email, "password": TEST_PASSWORD})
        text_ = browser.get(base + "/leads/export.csv").content.decode("utf-8-sig")
    finally:
        server.shutdown()
    assert EXPORT_FAILED not in text_
    assert sorted(line.split(",")[1] for line in text_.splitlines()[1:]) == sorted(f"Pat{n}" for n in range(30))
