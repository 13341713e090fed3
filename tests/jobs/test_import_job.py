"""The CSV import through a real RQ worker on Redis: start, progress, the end, and a second delivery."""
import csv
import io
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ImportRow, Lead, LeadImport
from app.services import imports, utcnow
from tests.jobs.conftest import kill_worker, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.jobs]


def csv_bytes(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def upload_and_start(web, data: bytes, stage_id: int, duplicates: str = "skip") -> LeadImport:
    response = web.post("/leads/import", data={"file": (io.BytesIO(data), "contacts.csv")},
                        content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    imp = db.session.scalar(select(LeadImport).order_by(LeadImport.id.desc()).limit(1))
    form = {f"col_{i}": field for i, field in imp.mapping.items()}
    # Strict: a bad email rejects its row (else the lead is made without it), as these counts expect.
    form.update(source="Old CRM", stage=str(stage_id), owner="", duplicates=duplicates, strict="y")
    response = web.post(f"/leads/import/{imp.id}", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/leads/import/{imp.id}/progress")
    db.session.refresh(imp)
    assert imp.status == "queued"
    return imp


def progress(web, imp) -> str:
    fragment = web.get(f"/leads/import/{imp.id}/progress", htmx=True).get_data(as_text=True)
    assert "<html" not in fragment
    return fragment


def count_leads() -> int:
    return db.session.scalar(select(func.count()).select_from(Lead))


def test_an_import_started_in_the_browser_runs_on_the_worker_and_shows_its_counts(queued_web, redis, run_worker,
                                                                                 stages, make_lead):
    make_lead(first_name="Ada", email="ada@example.com")
    data = csv_bytes([["First Name", "Last Name", "Email Address", "Company"],
                      ["Ada", "Lovelace", "ada@example.com", "Engines"],  # already a lead: skipped
                      ["Grace", "Hopper", "grace@example.com", "Navy"],
                      ["Linus", "Torvalds", "linus@", "Kernel"],  # rejected
                      ["Alan", "Turing", "alan@example.com", "Bletchley"]])
    imp = upload_and_start(queued_web, data, stages["Qualified"].id)
    assert redis.exists(f"rq:job:import-{imp.id}")
    assert 'hx-trigger="every 1s"' in progress(queued_web, imp)

    run_worker()

    fragment = progress(queued_web, imp)
    assert "Import finished: 4 rows read" in fragment and "hx-trigger" not in fragment
    counts = dict(re.findall(r'id="count-(\w+)">([\d,]+)<', fragment))
    assert counts == {"created": "2", "updated": "0", "skipped": "1", "rejected": "1"}
    grace = db.session.scalar(select(Lead).where(Lead.email == "grace@example.com"))
    assert (grace.source, grace.stage_id, grace.company) == ("Old CRM", stages["Qualified"].id, "Navy")
    assert count_leads() == 3
    rejected = queued_web.get(f"/leads/import/{imp.id}/rejected.csv").get_data(as_text=True)
    assert "linus@" in rejected and "valid email" in rejected


def test_progress_is_committed_batch_by_batch_while_the_worker_runs(queued_web, redis, start_worker, stages):
    total = 2000
    rows = [["Email", "First Name", "Company"]]
    rows += [[f"person{i}@example.com" if i != 1234 else "broken@", f"Person {i}", "Acme"] for i in range(total)]
    imp = upload_and_start(queued_web, csv_bytes(rows), stages["New"].id)

    worker = start_worker()
    seen = []
    deadline = time.monotonic() + 300
    while worker.poll() is None and time.monotonic() < deadline:
        match = re.search(r"Importing: ([\d,]+)(?: of [\d,]+)? rows? so far", progress(queued_web, imp))
        if match:
            seen.append(int(match.group(1).replace(",", "")))
        time.sleep(0.05)
    output = worker.communicate(timeout=60)[0]
    assert worker.returncode == 0, output

    assert any(0 < n < total for n in seen), f"no progress seen mid-way: {seen[:20]} {output[-3000:]}"
    assert seen == sorted(seen)  # progress only moves forward
    db.session.expire_all()
    imp = db.session.get(LeadImport, imp.id)
    assert (imp.status, imp.rows_done, imp.created_count, imp.rejected_count) == ("done", total, total - 1, 1)
    assert count_leads() == total - 1
    assert db.session.scalar(select(ImportRow.row_number).where(ImportRow.outcome == "rejected")) == 1234 + 2  # header is row 1


def test_a_second_delivery_of_a_finished_import_changes_nothing(queued_web, redis, run_worker, stages):
    from rq import Queue
    from rq.serializers import JSONSerializer
    data = csv_bytes([["Email"], ["one@example.com"], ["two@example.com"]])
    imp = upload_and_start(queued_web, data, stages["New"].id)
    run_worker()
    Queue("default", connection=redis, serializer=JSONSerializer).enqueue("app.jobs.imports.run_import", imp.id)
    run_worker()
    db.session.expire_all()
    imp = db.session.get(LeadImport, imp.id)
    assert (imp.status, imp.created_count, imp.rows_done) == ("done", 2, 2) and count_leads() == 2


def test_a_worker_killed_mid_import_is_carried_on_by_the_next_and_nothing_is_doubled(
        queued_web, redis, start_worker, run_worker, stages):
    total = 3000
    rows = [["Email", "First Name"]] + [[f"p{i}@example.com" if i != 2500 else "broken@", f"P{i}"] for i in range(total)]
    imp = upload_and_start(queued_web, csv_bytes(rows), stages["New"].id)

    def stored() -> LeadImport:
        db.session.expire_all()
        return db.session.get(LeadImport, imp.id)
    worker = start_worker(IMPORT_STALE_SECONDS="3")
    wait_until(lambda: stored().rows_done > 0, timeout=120, message="a first batch committed")
    kill_worker(worker)  # mid-batch, as a crash would: that batch is never committed
    half = stored()
    assert half.status == "running" and 0 < half.rows_done < total, half.rows_done
    assert count_leads() == half.created_count  # the counts match what was saved

    with queued_web.app.app_context():  # the sweep, once the import has been silent long enough
        assert imports.requeue_lost(half.heartbeat_at + imports.run_stale() + timedelta(seconds=1)) == 1
    wait_until(lambda: utcnow() > half.heartbeat_at + timedelta(seconds=3.5), timeout=10)
    run_worker(IMPORT_STALE_SECONDS="3")

    done = stored()
    assert (done.status, done.rows_done, done.created_count, done.rejected_count) == ("done", total, total - 1, 1)
    assert count_leads() == total - 1
    assert db.session.scalar(select(func.count(func.distinct(Lead.email)))) == total - 1
    assert db.session.scalars(select(ImportRow.row_number).where(ImportRow.outcome == "rejected")).all() == [2500 + 2]
    numbers = db.session.scalars(select(ImportRow.row_number).order_by(ImportRow.row_number)).all()
    assert numbers == list(range(2, total + 2))  # every row accounted for, once


def test_an_import_whose_job_redis_lost_is_queued_again_by_the_sweep(queued_web, redis, run_worker, stages):
    imp = upload_and_start(queued_web, csv_bytes([["Email"], ["one@example.com"], ["two@example.com"]]),
                           stages["New"].id)
    with queued_web.app.app_context():
        assert imports.requeue_lost(imp.heartbeat_at + timedelta(minutes=2)) == 0  # its job still waits its turn
        redis.flushdb()  # Redis lost the job
        assert imports.requeue_lost(imp.heartbeat_at + timedelta(minutes=2)) == 1
    run_worker()
    db.session.expire_all()
    imp = db.session.get(LeadImport, imp.id)
    assert (imp.status, imp.created_count) == ("done", 2) and count_leads() == 2
