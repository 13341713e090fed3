"""Report figures kept warm through a real worker process: older figures are shown at once while the
worker's job computes newer ones, and the worker's sweep computes again the views someone watched."""
from datetime import datetime

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import Lead
from app.services import report_cache
from tests.conftest import Web

pytestmark = [pytest.mark.redis, pytest.mark.jobs]

QUERY = "?start=2026-11-01&end=2026-11-30"


def add_lead(make_lead, admin, name):
    lead = make_lead(owner=admin, first_name=name, source="web")
    db.session.execute(update(Lead).where(Lead.id == lead.id).values(created_at=datetime(2026, 11, 5, 10)))
    db.session.commit()


def leads_from_web(page: str) -> str:
    row = page.split('<th scope="row">web</th>', 1)[1].split("</tr>", 1)[0]
    return row.split("<td", 2)[1].split(">", 1)[1].split("<", 1)[0]


@pytest.fixture
def web(make_app, redis, redis_url, admin, stages, make_lead):
    # Current for one second, then shown while newer ones are computed.
    web = Web(make_app(REDIS_URL=redis_url, REPORT_CACHE_SECONDS=1, REPORT_STALE_SECONDS=900).test_client())
    web.login(admin)
    add_lead(make_lead, admin, "Ann")
    return web


def test_the_worker_computes_newer_figures_while_the_older_are_shown(web, run_worker, make_lead, admin):
    import time
    assert leads_from_web(web.get("/reports/conversion-source" + QUERY).text) == "1"
    add_lead(make_lead, admin, "Bob")
    time.sleep(1.1)
    page = web.get("/reports/conversion-source" + QUERY).text
    assert leads_from_web(page) == "1" and "Newer figures are being worked out" in page
    run_worker()
    assert leads_from_web(web.get("/reports/conversion-source" + QUERY).text) == "2"


def test_the_sweep_warms_a_watched_view_whose_figures_ran_out(web, redis, run_worker):
    web.get("/reports/funnel")
    with web.app.app_context():
        parts_count = [k for k in redis.scan_iter(report_cache.PREFIX + "[0-9a-f]*")]
        assert len(parts_count) == 1
        redis.delete(*parts_count)  # nobody looked for longer than the figures are kept
    import json
    from app.services import utcnow
    asked_at = utcnow()
    run_worker()  # its first sweep asks for the watched view; its job computes it
    kept = list(redis.scan_iter(report_cache.PREFIX + "[0-9a-f]*"))
    assert len(kept) == 1
    stored = json.loads(redis.get(kept[0]))
    assert datetime.fromisoformat(stored["at"]) >= asked_at and any(r["stage"] == "New" for r in stored["figures"]["rows"])
