"""A report's figures are kept for REPORT_CACHE_SECONDS in Redis: a second look and the CSV read
them without aggregating the leads again, the page says how old they are, "Refresh now" computes
them at once, a changed setting (a stage renamed) shows at once, and with Redis away every view
simply computes."""
from datetime import date, datetime
from decimal import Decimal

import pytest
from redis import Redis
from sqlalchemy import update

from app.extensions import db
from app.models import Lead, Stage
from app.services import report_cache, reports
from tests.conftest import REDIS_URL, Web

pytestmark = [pytest.mark.redis]

QUERY = "?start=2026-11-01&end=2026-11-30"


@pytest.fixture
def redis_db():
    try:
        connection = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        connection.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis is not reachable ({type(exc).__name__})")
    for key in connection.scan_iter(report_cache.PREFIX + "*"):
        connection.delete(key)
    yield connection
    for key in connection.scan_iter(report_cache.PREFIX + "*"):
        connection.delete(key)


@pytest.fixture
def kept_web(app, make_app, redis_db, admin, stages, make_lead):
    web = Web(make_app(REDIS_URL=REDIS_URL, REPORT_CACHE_SECONDS=60).test_client())
    web.login(admin)
    for name in ("Ann", "Bob"):
        lead = make_lead(owner=admin, first_name=name, source="web")
        db.session.execute(update(Lead).where(Lead.id == lead.id).values(created_at=datetime(2026, 11, 5, 10)))
    db.session.commit()
    return web


def add_lead(make_lead, admin, name="Cy"):
    lead = make_lead(owner=admin, first_name=name, source="web")
    db.session.execute(update(Lead).where(Lead.id == lead.id).values(created_at=datetime(2026, 11, 6, 10)))
    db.session.commit()


def source_row(page: str) -> str:
    """The conversion table's row for the source "web" (its leads count follows the name)."""
    row = page.split('<th scope="row">web</th>', 1)[1].split("</tr>", 1)[0]
    return row.split("<td", 2)[1].split(">", 1)[1].split("<", 1)[0]


def test_a_second_look_reads_the_kept_figures_and_says_how_old_they_are(kept_web, make_lead, admin):
    first = kept_web.get("/reports/conversion-source" + QUERY)
    assert source_row(first.text) == "2"
    assert "Figures as of" in first.text and "Refresh now" in first.text
    # The line says plainly that later changes may be missing, and in one zone without nested brackets.
    age = first.text.split('<p class="sub report-age">', 1)[1].split("</p>", 1)[0]
    assert "Changes made since then may not be counted yet." in age
    assert " UTC. Changes" in age and "((" not in age and "))" not in age and "Refresh now" in age
    add_lead(make_lead, admin)
    again = kept_web.get("/reports/conversion-source" + QUERY)
    assert source_row(again.text) == "2"  # kept: the third lead is not counted yet
    csv = kept_web.get("/reports/conversion-source/csv" + QUERY)
    assert "web,2," in csv.text  # the CSV is what the page shows


def test_refresh_now_computes_at_once_and_returns_to_the_plain_address(kept_web, make_lead, admin):
    kept_web.get("/reports/conversion-source" + QUERY)
    add_lead(make_lead, admin)
    refreshed = kept_web.get("/reports/conversion-source" + QUERY + "&fresh=1")
    assert refreshed.status_code == 302
    assert "fresh" not in refreshed.headers["Location"] and "start=2026-11-01" in refreshed.headers["Location"]
    assert source_row(kept_web.get(refreshed.headers["Location"]).text) == "3"


def test_other_filters_are_kept_apart(kept_web, make_lead, admin):
    kept_web.get("/reports/conversion-source" + QUERY)
    add_lead(make_lead, admin)
    other = kept_web.get("/reports/conversion-source?start=2026-11-02&end=2026-11-30")
    assert source_row(other.text) == "3"


def test_a_renamed_stage_shows_at_once(kept_web, stages):
    before = kept_web.get("/reports/funnel" + QUERY)
    assert ">New<" in before.text
    db.session.execute(update(Stage).where(Stage.id == stages["New"].id).values(name="Fresh"))
    db.session.commit()
    after = kept_web.get("/reports/funnel" + QUERY)
    assert ">Fresh<" in after.text and ">New<" not in after.text


def test_with_redis_away_every_view_computes(app, make_app, admin, stages, make_lead):
    web = Web(make_app(REDIS_URL="redis://127.0.0.1:1/0", REPORT_CACHE_SECONDS=60).test_client())
    web.login(admin)
    add_lead(make_lead, admin, "Ann")
    first = web.get("/reports/conversion-source" + QUERY)
    assert first.status_code == 200 and source_row(first.text) == "1"
    add_lead(make_lead, admin, "Bob")
    assert source_row(web.get("/reports/conversion-source" + QUERY).text) == "2"


def test_kept_values_come_back_as_they_went_in(app, redis_db):
    app.config.update(REDIS_URL=REDIS_URL, REPORT_CACHE_SECONDS=60)
    value = {"rows": [{"money": Decimal("12.50"), "day": date(2026, 11, 2), "n": 3, "share": 33.3, "name": None}]}
    first, at, _ = report_cache.figures(("t", 1), lambda: value)
    second, at_again, stale = report_cache.figures(("t", 1), lambda: pytest.fail("computed twice"))
    assert stale is False
    assert second == value and at_again == at
    assert isinstance(second["rows"][0]["money"], Decimal) and isinstance(second["rows"][0]["day"], date)


# --- older figures shown while the worker computes newer; watched views kept warm ----------------


@pytest.fixture
def stale_web(app, make_app, redis_db, admin, stages, make_lead):
    from rq import Queue
    web = Web(make_app(REDIS_URL=REDIS_URL, REPORT_CACHE_SECONDS=60, REPORT_STALE_SECONDS=900).test_client())
    web.login(admin)
    add_lead(make_lead, admin, "Ann")
    add_lead(make_lead, admin, "Bob")
    Queue("default", connection=redis_db).empty()
    yield web
    Queue("default", connection=redis_db).empty()


def later(monkeypatch, seconds):
    """The report cache's clock moved on by `seconds` (the kept figures age)."""
    from datetime import timedelta
    from app.services import report_cache as module
    real = module.utcnow
    monkeypatch.setattr(module, "utcnow", lambda: real() + timedelta(seconds=seconds))


def refresh_jobs(redis_db) -> list:
    from rq import Queue
    from rq.serializers import JSONSerializer
    queue = Queue("default", connection=redis_db, serializer=JSONSerializer)
    return [job for job in queue.jobs if job.func_name == "app.jobs.reports.refresh"]


def test_older_figures_are_shown_at_once_while_the_worker_computes_newer(stale_web, redis_db, make_lead, admin,
                                                                         monkeypatch):
    from app.services import report_figures
    assert source_row(stale_web.get("/reports/conversion-source" + QUERY).text) == "2"
    add_lead(make_lead, admin, "Cy")
    later(monkeypatch, 120)  # past REPORT_CACHE_SECONDS, within REPORT_STALE_SECONDS
    page = stale_web.get("/reports/conversion-source" + QUERY).text
    assert source_row(page) == "2" and "Newer figures are being worked out" in page
    jobs = refresh_jobs(redis_db)
    assert len(jobs) == 1 and jobs[0].args[0]["report"] == "conversion-source"
    stale_web.get("/reports/conversion-source" + QUERY)
    assert len(refresh_jobs(redis_db)) == 1  # asked once, not once per look
    with stale_web.app.app_context():
        report_figures.refresh(jobs[0].args[0])  # what the worker's job does
    page = stale_web.get("/reports/conversion-source" + QUERY).text
    assert source_row(page) == "3" and "Newer figures are being worked out" not in page


def test_figures_older_than_the_stale_limit_are_computed_while_you_wait(stale_web, redis_db, make_lead, admin,
                                                                        monkeypatch):
    stale_web.get("/reports/conversion-source" + QUERY)
    add_lead(make_lead, admin, "Cy")
    later(monkeypatch, 1000)  # past REPORT_STALE_SECONDS too
    page = stale_web.get("/reports/conversion-source" + QUERY).text
    assert source_row(page) == "3" and "Newer figures" not in page and refresh_jobs(redis_db) == []


def test_the_worker_keeps_watched_views_warm_and_the_default_range_moves_with_the_day(stale_web, redis_db):
    from app.services import report_figures
    stale_web.get("/reports/conversion-source" + QUERY)
    stale_web.get("/reports/funnel")  # the default range
    with stale_web.app.app_context():
        recipes = {r["report"]: r for r in report_cache.watched()}
        assert recipes["funnel"]["default"] is True and recipes["conversion-source"]["default"] is False
        assert report_figures.warm_watched() == 0  # both were just computed
        for key in redis_db.scan_iter(report_cache.PREFIX + "[0-9a-f]*"):
            redis_db.delete(key)  # kept figures gone (or past half their time)
        assert report_figures.warm_watched() == 2
        assert report_figures.warm_watched() == 0  # asked already: not asked twice
        asked = {job.args[0]["report"]: job.args[0] for job in refresh_jobs(redis_db)}
        assert set(asked) == {"funnel", "conversion-source"}
        slug, f = report_figures.filters_of(dict(asked["funnel"], start="2001-01-01", end="2001-01-31"))
        assert (slug, f.end) == ("funnel", reports.local_today(f.zone))  # today's default, not the recorded days
        slug, f = report_figures.filters_of(asked["conversion-source"])
        assert (f.start, f.end) == (date(2026, 11, 1), date(2026, 11, 30))
        assert report_figures.filters_of({"report": "no-such-report"}) is None
        assert report_figures.filters_of({"report": "funnel", "start": "not a day", "end": "x"}) is None


def test_with_redis_away_nothing_is_watched_or_warmed(app, make_app, admin, stages):
    from app.services import report_figures
    web = Web(make_app(REDIS_URL="redis://127.0.0.1:1/0", REPORT_CACHE_SECONDS=60).test_client())
    web.login(admin)
    assert web.get("/reports/funnel").status_code == 200
    with web.app.app_context():
        assert report_cache.watched() == [] and report_figures.warm_watched() == 0


def test_every_report_on_the_page_is_one_the_worker_can_compute():
    from app.reports.routes import REPORTS
    from app.services import report_figures
    assert set(REPORTS) == set(report_figures.COMPUTE)
